package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

func submitReq(audio, author string) jobs.SubmitRequest {
	return jobs.SubmitRequest{MusicTaskID: "music1", AudioID: audio, Author: author}
}

func TestSubmitCreatesOncePerAudio(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Hour})
	svc := e.service()
	rec, created, err := svc.Submit(e.ctx, submitReq("audio1", "Nova"))
	if err != nil || !created {
		t.Fatalf("first submit: %v, created %v", err, created)
	}
	if rec.State != jobs.StatePending || rec.MusicTaskID != "music1" || rec.AudioID != "audio1" {
		t.Errorf("record %+v", rec)
	}
	if kieID, _ := e.sim.TaskFor("audio1"); rec.TaskID != kieID || !e.hasTask(e.q.Poll, jobs.PollTaskID(rec.TaskID, 1)) {
		t.Errorf("task %s (KIE made %s); poll queued %v", rec.TaskID, kieID, e.hasTask(e.q.Poll, jobs.PollTaskID(rec.TaskID, 1)))
	}
	again, created, err := svc.Submit(e.ctx, submitReq("audio1", "Nova"))
	if err != nil || created || again.TaskID != rec.TaskID {
		t.Errorf("second submit: %+v, created %v, %v; want the first task", again, created, err)
	}
	if st := e.sim.Stats(); st.Creates["audio1"] != 1 || st.CreateCalls != 1 {
		t.Errorf("KIE saw %d create calls, %d creates; want 1", st.CreateCalls, st.Creates["audio1"])
	}
}

func TestSubmitConcurrentCreatesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Hour})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids, news := map[string]int{}, 0
	for range 10 {
		wg.Go(func() {
			rec, created, err := e.service().Submit(e.ctx, submitReq("audioC", ""))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			ids[rec.TaskID]++
			if created {
				news++
			}
		})
	}
	wg.Wait()
	if len(ids) != 1 || news != 1 || e.sim.Stats().Creates["audioC"] != 1 {
		t.Errorf("ids %v, %d said created, KIE made %d; want one task", ids, news, e.sim.Stats().Creates["audioC"])
	}
}

func TestSubmitRetriesKIERateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Hour, CreateLimit: 1, CreateWindow: 500 * time.Millisecond})
	svc := e.service()
	if _, _, err := svc.Submit(e.ctx, submitReq("audioR1", "")); err != nil {
		t.Fatal(err)
	}
	rec, created, err := svc.Submit(e.ctx, submitReq("audioR2", "")) // refused with 429 at first
	if err != nil || !created || rec.State != jobs.StatePending {
		t.Fatalf("submit after a 429: %+v, %v, %v", rec, created, err)
	}
	if st := e.sim.Stats(); st.RateLimited < 1 || st.Creates["audioR2"] != 1 {
		t.Errorf("rate limited %d times, creates %d; want a refusal then one create", st.RateLimited, st.Creates["audioR2"])
	}
}

func TestSubmitDuplicateWithID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Hour, DuplicateWithID: true})
	svc := e.service()
	first, _, err := svc.Submit(e.ctx, submitReq("audioD", "Nova"))
	if err != nil {
		t.Fatal(err)
	}
	// Another author is another audio key for kiemv, but KIE says the video exists.
	rec, created, err := svc.Submit(e.ctx, submitReq("audioD", "Lane"))
	if err != nil || rec.TaskID != first.TaskID || created {
		t.Fatalf("duplicate: %+v, created %v, %v; want the existing task %s, not created", rec, created, err, first.TaskID)
	}
	calls := e.sim.Stats().CreateCalls
	if again, _, err := svc.Submit(e.ctx, submitReq("audioD", "Lane")); err != nil || again.TaskID != first.TaskID {
		t.Errorf("third submit: %+v, %v", again, err)
	}
	if st := e.sim.Stats(); st.Creates["audioD"] != 1 || st.CreateCalls != calls {
		t.Errorf("creates %d, create calls %d → %d; the duplicate's key must be bound", st.Creates["audioD"], calls, st.CreateCalls)
	}
}

func TestSubmitDuplicateWithoutID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Hour})
	svc := e.service()
	if _, _, err := svc.Submit(e.ctx, submitReq("audioN", "Nova")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the claim is released: the second try asks KIE again at once
		start := time.Now()
		ctx, cancel := context.WithTimeout(e.ctx, 3*time.Second)
		_, _, err := svc.Submit(ctx, submitReq("audioN", "Lane"))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "did not say its id") || !strings.Contains(err.Error(), "kiemv track") {
			t.Fatalf("try %d: err = %v", i, err)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("try %d took %v: it waited for a claim that should have been released", i, time.Since(start))
		}
	}
	if _, token, err := e.recs.ReserveAudio(e.ctx, jobs.AudioKey("audioN", "Lane", ""), time.Minute); token == "" || err != nil {
		t.Errorf("audio key still claimed after the failed create: %q, %v", token, err)
	}
	if n := e.sim.Stats().CreateCalls; n != 3 {
		t.Errorf("%d create calls, want 3", n)
	}
}

func TestSubmitValidatesBeforeCallingKIE(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Hour})
	svc := e.service()
	long := strings.Repeat("x", 51)
	for _, req := range []jobs.SubmitRequest{
		{MusicTaskID: "", AudioID: "a"},
		{MusicTaskID: "m/1", AudioID: "a"},
		{MusicTaskID: "m", AudioID: "../a"},
		{MusicTaskID: "m", AudioID: strings.Repeat("a", 129)},
		{MusicTaskID: "m", AudioID: "a", Author: long},
		{MusicTaskID: "m", AudioID: "a", Domain: long},
	} {
		if _, _, err := svc.Submit(e.ctx, req); !errors.Is(err, jobs.ErrBadID) {
			t.Errorf("Submit(%+v) = %v, want ErrBadID", req, err)
		}
	}
	if n := e.sim.Stats().CreateCalls; n != 0 {
		t.Errorf("KIE got %d create calls for invalid requests", n)
	}
	// 50 characters are fine even when they take more bytes.
	req := jobs.SubmitRequest{MusicTaskID: "m", AudioID: "a", Author: strings.Repeat("é", 50)}
	if _, created, err := svc.Submit(e.ctx, req); err != nil || !created {
		t.Errorf("50-character author: %v", err)
	}
}

func TestTrackIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	svc := e.service()
	rec, created, err := svc.Track(e.ctx, "mp4_tracked", 0)
	if err != nil || !created || rec.State != jobs.StatePending {
		t.Fatalf("track: %+v, %v, %v", rec, created, err)
	}
	if _, created, err = svc.Track(e.ctx, "mp4_tracked", 0); err != nil || created {
		t.Errorf("second track: created %v, %v", created, err)
	}
	if info, err := e.insp.GetQueueInfo(e.q.Poll); err != nil || info.Size != 1 {
		t.Errorf("poll queue %+v, %v; want one task", info, err)
	}
	e.record("mp4_wasready", jobs.StateReady, time.Time{}, e.fileURL("mp4_wasready"))
	if _, _, err := svc.Track(e.ctx, "mp4_wasready", 0); err != nil || !e.hasTask(e.q.Download, jobs.DownloadTaskID("mp4_wasready", e.gen("mp4_wasready"))) {
		t.Errorf("tracking a ready record must queue its lost download: %v", err)
	}
	if _, _, err := svc.Track(e.ctx, "a/b", 0); !errors.Is(err, jobs.ErrBadID) {
		t.Errorf("Track(a/b) = %v", err)
	}
}

// TestTrackReplacesAnArchivedPoll covers a record left pending while Asynq archived its poll
// (a lease lost on the last retry): track must queue a live poll again.
func TestTrackReplacesAnArchivedPoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	svc := e.service()
	if _, _, err := svc.Track(e.ctx, "mp4_archived", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := e.insp.ArchiveTask(e.q.Poll, jobs.PollTaskID("mp4_archived", 1)); err != nil {
		t.Fatalf("archive the poll: %v", err)
	}
	if _, _, err := svc.Track(e.ctx, "mp4_archived", 0); err != nil {
		t.Fatalf("track again: %v", err)
	}
	info, err := e.insp.GetTaskInfo(e.q.Poll, jobs.PollTaskID("mp4_archived", e.gen("mp4_archived")))
	if err != nil || info.State == asynq.TaskStateArchived || e.gen("mp4_archived") != 2 {
		t.Fatalf("poll task after track: %+v, %v; want a live (not archived) task", info, err)
	}
	// A live task is left alone: tracking again must not replace the scheduled one.
	if _, _, err := svc.Track(e.ctx, "mp4_archived", time.Hour); err != nil {
		t.Fatal(err)
	}
	if again, err := e.insp.GetTaskInfo(e.q.Poll, jobs.PollTaskID("mp4_archived", 2)); err != nil || again.State != info.State || e.gen("mp4_archived") != 2 {
		t.Errorf("a live poll was replaced: %+v -> %+v (%v)", info, again, err)
	}
}

func TestRetryRestartsThePollBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_retry", kiesim.Fate{Outcome: kiesim.OutcomeNever})
	e.record(id, jobs.StatePending, time.Now().Add(-3*time.Hour), "")
	if err := e.poll(id); err != nil || e.get(id).State != jobs.StateTimedOut {
		t.Fatalf("poll: %v, %+v", err, e.get(id))
	}
	before := time.Now()
	rec, err := e.service().Retry(e.ctx, id)
	if err != nil || rec.State != jobs.StatePending || rec.Error != "" || rec.RetriedAt.Before(before.Add(-time.Second)) {
		t.Fatalf("retry: %+v, %v", rec, err)
	}
	if !e.hasTask(e.q.Poll, jobs.PollTaskID(id, e.gen(id))) {
		t.Error("retry queued no poll")
	}
	notFailure(t, e.poll(id), 900*time.Millisecond, 2200*time.Millisecond) // polled, not timed out
	if st := e.get(id).State; st != jobs.StatePending || e.pollCount(id) != 1 {
		t.Errorf("after retry: state %s, KIE polls %d", st, e.pollCount(id))
	}
}

func TestRetryTerminalStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	svc := e.service()
	for _, st := range []jobs.State{jobs.StateFailed, jobs.StateExpired, jobs.StateCanceled, jobs.StateTimedOut} {
		id := "mp4_again_" + string(st)
		e.record(id, st, time.Now().Add(-time.Hour), "")
		if _, err := e.recs.Update(e.ctx, id, jobs.Change{Error: "it went wrong"}); err != nil {
			t.Fatal(err)
		}
		before := time.Now().Add(-time.Second)
		rec, err := svc.Retry(e.ctx, id)
		if err != nil || rec.State != jobs.StatePending || rec.Error != "" || rec.RetriedAt.Before(before) {
			t.Errorf("retry of %s: %+v, %v", st, rec, err)
		}
		if got := e.get(id); got.State != jobs.StatePending || got.RetriedAt.IsZero() || got.Error != "" {
			t.Errorf("stored after retry of %s: %+v", st, got)
		}
		if !e.hasTask(e.q.Poll, jobs.PollTaskID(id, e.gen(id))) {
			t.Errorf("retry of %s queued no poll", st)
		}
	}
}

func TestRetryAndCancelRefuseWrongStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	svc := e.service()
	e.record("mp4_have", jobs.StateDownloaded, time.Time{}, "")
	if _, err := svc.Retry(e.ctx, "mp4_have"); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("retry of a downloaded record: %v, want ErrConflict", err)
	}
	if _, err := svc.Cancel(e.ctx, "mp4_have"); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("cancel of a downloaded record: %v, want ErrConflict", err)
	}
	if e.get("mp4_have").State != jobs.StateDownloaded {
		t.Error("a refused change changed the record")
	}
	if _, err := svc.Retry(e.ctx, "mp4_nobody"); !errors.Is(err, jobs.ErrNoRecord) {
		t.Errorf("retry of an unknown record: %v", err)
	}
	if _, err := svc.Retry(e.ctx, "../x"); !errors.Is(err, jobs.ErrBadID) {
		t.Errorf("retry of a bad id: %v", err)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	svc := e.service()
	if _, _, err := svc.Track(e.ctx, "mp4_stop", time.Hour); err != nil {
		t.Fatal(err)
	}
	rec, err := svc.Cancel(e.ctx, "mp4_stop")
	if err != nil || rec.State != jobs.StateCanceled || !strings.Contains(rec.Error, "canceled") {
		t.Fatalf("cancel: %+v, %v", rec, err)
	}
	if e.hasTask(e.q.Poll, jobs.PollTaskID("mp4_stop", 1)) {
		t.Error("the scheduled poll of a canceled task is still queued")
	}
	if rec, err := svc.Retry(e.ctx, "mp4_stop"); err != nil || rec.State != jobs.StatePending {
		t.Errorf("retry of a canceled record: %+v, %v", rec, err)
	}
}
