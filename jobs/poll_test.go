package jobs_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
)

// notFailure asserts that err asks for a later poll without using up a retry, and that the
// poll is due again within [lo, hi].
func notFailure(t *testing.T, err error, lo, hi time.Duration) {
	t.Helper()
	if err == nil || jobs.IsFailure(err) || errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("err = %v; want a wait that is not a failure", err)
	}
	if d := (jobs.Backoff{}).RetryDelay(0, err, nil); d < lo || d > hi {
		t.Errorf("next poll in %v, want within [%v, %v]", d, lo, hi)
	}
}

func TestPollPendingIsNotAFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_pending", kiesim.Fate{Outcome: kiesim.OutcomeNever})
	e.record(id, jobs.StatePending, time.Time{}, "")
	for i := 1; i <= 2; i++ {
		notFailure(t, e.poll(id), 900*time.Millisecond, 2200*time.Millisecond) // 1s ± 10 %
		rec := e.get(id)
		if rec.State != jobs.StatePending || rec.Polls != i || rec.KIEStatus != "PENDING" {
			t.Fatalf("after poll %d: %+v", i, rec)
		}
	}
	if e.pollCount(id) != 2 || e.hasTask(e.q.Download, jobs.DownloadTaskID(id, 1)) {
		t.Errorf("KIE polls %d, download queued %v", e.pollCount(id), e.hasTask(e.q.Download, jobs.DownloadTaskID(id, 1)))
	}
}

func TestPollReadyQueuesDownload(t *testing.T) {
	t.Parallel()
	for _, outcome := range []kiesim.Outcome{kiesim.OutcomeSuccess, kiesim.OutcomeCallbackException} {
		e := newEnv(t, kiesim.Config{})
		id := e.simTask(fmt.Sprintf("mp4_ready%d", outcome), kiesim.Fate{Outcome: outcome})
		e.record(id, jobs.StatePending, time.Time{}, "")
		if err := e.poll(id); err != nil {
			t.Fatalf("outcome %d: poll: %v", outcome, err)
		}
		rec := e.get(id)
		if rec.State != jobs.StateReady || rec.VideoURL != e.fileURL(id) || rec.CompletedAt.IsZero() || rec.Polls != 1 {
			t.Errorf("outcome %d: record %+v", outcome, rec)
		}
		if !e.hasTask(e.q.Download, jobs.DownloadTaskID(id, 1)) {
			t.Fatalf("outcome %d: no task %s in %s", outcome, jobs.DownloadTaskID(id, 1), e.q.Download)
		}
		// A second run (say, after a crash before the task was acked) queues again: the TaskID
		// conflict is fine, and KIE is not asked again.
		if err := e.poll(id); err != nil {
			t.Errorf("second poll of a ready record: %v", err)
		}
		if info, _ := e.insp.GetQueueInfo(e.q.Download); info == nil || info.Size != 1 {
			t.Errorf("download queue %+v, want exactly one task", info)
		}
		if e.pollCount(id) != 1 {
			t.Errorf("KIE polled %d times, want 1", e.pollCount(id))
		}
	}
}

func TestPollKIEFailedIsFinal(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		outcome kiesim.Outcome
		want    string
	}{
		{kiesim.OutcomeGenerateFailed, "GENERATE_MP4_FAILED (code 501: Generate mp4 failed)"},
		{kiesim.OutcomeCreateFailed, "CREATE_TASK_FAILED (code 400: Create mp4 task failed: unsupported audio)"},
	} {
		e := newEnv(t, kiesim.Config{})
		id := e.simTask("mp4_failed", kiesim.Fate{Outcome: c.outcome})
		e.record(id, jobs.StatePending, time.Time{}, "")
		err := e.poll(id)
		if !errors.Is(err, asynq.SkipRetry) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v; want SkipRetry and %q", err, c.want)
		}
		rec := e.get(id)
		if rec.State != jobs.StateFailed || !strings.Contains(rec.Error, c.want) || !strings.Contains(rec.Error, id) ||
			rec.CompletedAt.IsZero() {
			t.Errorf("record %+v", rec)
		}
		if e.hasTask(e.q.Download, jobs.DownloadTaskID(id, 1)) {
			t.Error("a failed task was queued for download")
		}
	}
}

func TestPollUnknownTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	e.record("mp4_young", jobs.StatePending, time.Time{}, "")
	notFailure(t, e.poll("mp4_young"), 900*time.Millisecond, 2200*time.Millisecond)
	if rec := e.get("mp4_young"); rec.State != jobs.StatePending || rec.Polls != 1 {
		t.Errorf("within the grace: %+v", rec)
	}

	e.record("mp4_old", jobs.StatePending, time.Now().Add(-3*time.Minute), "") // grace is 2m
	err := e.poll("mp4_old")
	if !errors.Is(err, asynq.SkipRetry) {
		t.Errorf("after the grace: err = %v, want SkipRetry", err)
	}
	if rec := e.get("mp4_old"); rec.State != jobs.StateFailed || !strings.Contains(rec.Error, "KIE has no MP4 task mp4_old") {
		t.Errorf("after the grace: %+v", rec)
	}
}

func TestPollPermanentKIEErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		code int
		msg  string
	}{
		{401, "You do not have access permissions"},
		{402, "Credits insufficient"},
	} {
		e := newEnv(t, kiesim.Config{})
		srv := e.serve(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"code":%d,"msg":%q,"data":null}`, c.code, c.msg) // HTTP 200, as KIE does
		})
		p := e.poller()
		var err error
		if p.KIE, err = kie.New(kie.Config{BaseURL: srv.URL, APIKey: "bad"}); err != nil {
			t.Fatal(err)
		}
		e.record("mp4_denied", jobs.StatePending, time.Time{}, "")
		err = p.ProcessTask(e.ctx, jobs.NewPollTask("mp4_denied", 1, e.q, 0))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("code %d: err = %v, want SkipRetry", c.code, err)
		}
		rec := e.get("mp4_denied")
		if rec.State != jobs.StateFailed || !strings.Contains(rec.Error, c.msg) || !strings.Contains(rec.Error, "mp4_denied") {
			t.Errorf("code %d: record %+v", c.code, rec)
		}
	}
}

func TestPollTransientErrorsAreRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_flaky", kiesim.Fate{PollFaults: []kiesim.Fault{kiesim.Fault455, kiesim.FaultHTML500, kiesim.Fault500}})
	e.record(id, jobs.StatePending, time.Time{}, "")
	for i := 1; i <= 3; i++ {
		err := e.poll(id)
		if err == nil || !jobs.IsFailure(err) || errors.Is(err, asynq.SkipRetry) || !kie.IsTemporary(err) {
			t.Fatalf("fault %d: err = %v; want a counted, retryable failure", i, err)
		}
		if rec := e.get(id); rec.State != jobs.StatePending || rec.Polls != i {
			t.Fatalf("fault %d: record %+v", i, rec)
		}
	}
	if err := e.poll(id); err != nil { // the faults are over: the video is ready
		t.Fatalf("poll after the faults: %v", err)
	}
	if rec := e.get(id); rec.State != jobs.StateReady {
		t.Errorf("record %+v", rec)
	}
}

func TestPollRateLimitedByKIE(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_429", kiesim.Fate{Outcome: kiesim.OutcomeNever, PollFaults: []kiesim.Fault{kiesim.Fault429}})
	e.record(id, jobs.StatePending, time.Time{}, "")
	notFailure(t, e.poll(id), time.Second, 2100*time.Millisecond) // Retry-After: 1
	if rec := e.get(id); rec.State != jobs.StatePending || e.pollCount(id) != 1 {
		t.Errorf("record %+v, KIE polls %d", rec, e.pollCount(id))
	}
}

// A poll whose booked call is far away goes back to Asynq, to run a little before it.
func TestPollWaitsForTheSharedLimiter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	lim, err := store.NewLimiter(e.rdb, e.ns, store.Limits(10, 1)) // one call every 1.02s
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 { // other workers' polls took the next calls: ours is ~4.1s away
		if _, err := lim.Reserve(e.ctx, jobs.LimitRecordInfo, fmt.Sprint("mp4_other", i)); err != nil {
			t.Fatal(err)
		}
	}
	id := e.simTask("mp4_limited", kiesim.Fate{})
	e.record(id, jobs.StatePending, time.Time{}, "")
	p := e.poller()
	p.Limiter = lim
	// Asked to run again ~2.5s before its call (~1.6s), rounded up to a whole second.
	notFailure(t, p.ProcessTask(e.ctx, jobs.NewPollTask(id, 1, e.q, 0)), 1500*time.Millisecond, 2700*time.Millisecond)
	if e.pollCount(id) != 0 {
		t.Errorf("KIE was called %d times while the limiter said wait", e.pollCount(id))
	}
	if rec := e.get(id); rec.State != jobs.StatePending || rec.Polls != 0 {
		t.Errorf("record %+v", rec)
	}
}

// A poll whose booked call is near waits for it in the handler and calls KIE at its time,
// not at the start of a whole second as Asynq would run it.
func TestPollWaitsHereForANearCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	lim, err := store.NewLimiter(e.rdb, e.ns, store.Limits(10, 1))
	if err != nil {
		t.Fatal(err)
	}
	if wait, err := lim.Allow(e.ctx, jobs.LimitRecordInfo); wait != 0 || err != nil { // another worker took the call
		t.Fatal(wait, err)
	}
	id := e.simTask("mp4_near", kiesim.Fate{Outcome: kiesim.OutcomeNever})
	e.record(id, jobs.StatePending, time.Time{}, "")
	p := e.poller()
	p.Limiter = lim
	start := time.Now()
	err = p.ProcessTask(e.ctx, jobs.NewPollTask(id, 1, e.q, 0))
	if took := time.Since(start); took < 950*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("poll took %v; want its turn, ~1.02s", took)
	}
	if jobs.IsFailure(err) || e.pollCount(id) != 1 {
		t.Errorf("poll = %v with %d KIE calls; want not ready after one call", err, e.pollCount(id))
	}
}

func TestPollBudgetSpent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_slow", kiesim.Fate{Outcome: kiesim.OutcomeNever})
	e.record(id, jobs.StatePending, time.Now().Add(-3*time.Hour), "") // budget is 2h
	if err := e.poll(id); err != nil && jobs.IsFailure(err) && !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("poll: %v; a spent budget must not be retried", err)
	}
	rec := e.get(id)
	if rec.State != jobs.StateTimedOut || !strings.Contains(rec.Error, "kiemv retry "+id) || rec.CompletedAt.IsZero() {
		t.Errorf("record %+v", rec)
	}
	if e.pollCount(id) != 0 {
		t.Errorf("KIE polled %d times after the budget", e.pollCount(id))
	}
}

func TestPollOtherStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_wasready", kiesim.Fate{})
	e.record(id, jobs.StateReady, time.Time{}, e.fileURL(id))
	if err := e.poll(id); err != nil || !e.hasTask(e.q.Download, jobs.DownloadTaskID(id, 1)) {
		t.Errorf("ready record: err %v, download queued %v", err, e.hasTask(e.q.Download, jobs.DownloadTaskID(id, 1)))
	}
	for _, st := range []jobs.State{jobs.StateCanceled, jobs.StateDownloaded, jobs.StateFailed, jobs.StateDownloading} {
		id := e.simTask("mp4_"+string(st), kiesim.Fate{})
		e.record(id, st, time.Time{}, e.fileURL(id))
		if err := e.poll(id); err != nil {
			t.Errorf("%s: %v", st, err)
		}
		if rec := e.get(id); rec.State != st || rec.Polls != 0 || e.hasTask(e.q.Download, jobs.DownloadTaskID(id, 1)) {
			t.Errorf("%s: record %+v, download queued %v", st, rec, e.hasTask(e.q.Download, jobs.DownloadTaskID(id, 1)))
		}
	}
	if n := len(e.sim.Stats().Polls); n != 0 {
		t.Errorf("KIE was polled for %d tasks", n)
	}
	if err := e.poll("mp4_unfollowed"); err != nil {
		t.Errorf("poll of an unfollowed task: %v, want it dropped", err)
	}
}

func TestPollBadPayload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	for _, payload := range []string{`nope`, `{"id":"../etc"}`, `{"id":""}`, `{}`} {
		err := e.poller().ProcessTask(e.ctx, asynq.NewTask(jobs.TypePoll, []byte(payload)))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("payload %s: err = %v, want SkipRetry", payload, err)
		}
		err = e.downloader().ProcessTask(e.ctx, asynq.NewTask(jobs.TypeDownload, []byte(payload)))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("download payload %s: err = %v, want SkipRetry", payload, err)
		}
	}
}
