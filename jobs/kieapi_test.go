package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
)

// jobsPoller is e.poller() with the jobs API client wired.
func (e *env) jobsPoller() *jobs.Poller {
	p := e.poller()
	p.JobsKIE = e.kie.Jobs()
	return p
}

func TestParseAPI(t *testing.T) {
	for in, want := range map[string]string{"": jobs.APILegacy, "legacy": jobs.APILegacy, "jobs": jobs.APIJobs} {
		if got, err := jobs.ParseAPI(in); err != nil || got != want {
			t.Errorf("ParseAPI(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := jobs.ParseAPI("market"); err == nil || !strings.Contains(err.Error(), "legacy or jobs") {
		t.Errorf("ParseAPI(market) = %v", err)
	}
}

func TestSubmitOnTheJobsAPIThenPollAndDownload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	svc := e.service()
	svc.JobsKIE, svc.API = e.kie.Jobs(), jobs.APIJobs
	rec, created, err := svc.Submit(e.ctx, submitReq("audio-j", ""))
	if err != nil || !created || rec.API != jobs.APIJobs {
		t.Fatalf("submit: %+v created %v err %v", rec, created, err)
	}
	if !e.sim.TaskOnJobsAPI(rec.TaskID) {
		t.Fatalf("task %s was not created on the jobs API", rec.TaskID)
	}
	p := e.jobsPoller()
	if err := p.ProcessTask(e.ctx, jobs.NewPollTask(rec.TaskID, 1, e.q, 0)); err != nil {
		t.Fatalf("poll: %v", err)
	}
	got := e.get(rec.TaskID)
	if got.State != jobs.StateReady || got.KIEStatus != "SUCCESS" || got.VideoURL != e.fileURL(rec.TaskID) || got.API != jobs.APIJobs {
		t.Fatalf("after the poll: %+v", got)
	}
	if err := e.download(e.downloader(), rec.TaskID); err != nil || e.get(rec.TaskID).State != jobs.StateDownloaded {
		t.Fatalf("download: %v, %+v", err, e.get(rec.TaskID))
	}
	// Without a jobs API client the same record cannot be polled, and says why.
	e.record("mp4_jobs_orphan", jobs.StatePending, time.Time{}, "")
	if _, err := e.recs.Update(e.ctx, "mp4_jobs_orphan", jobs.Change{API: jobs.APIJobs}); err != nil {
		t.Fatal(err)
	}
	if err := e.poll("mp4_jobs_orphan"); err == nil || !strings.Contains(err.Error(), "no client for KIE's jobs API") {
		t.Errorf("jobs record on a poller without a jobs client: %v", err)
	}
}

func TestPollFindsAJobsOnlyTaskAndRemembersIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	e.sim.AddJobsTask("job_only", "audio-jo", kiesim.Fate{})
	e.record("job_only", jobs.StatePending, time.Time{}, "")
	p := e.jobsPoller()
	if err := p.ProcessTask(e.ctx, jobs.NewPollTask("job_only", 1, e.q, 0)); err != nil {
		t.Fatalf("poll: %v", err)
	}
	rec := e.get("job_only")
	if rec.State != jobs.StateReady || rec.API != jobs.APIJobs || rec.VideoURL != e.fileURL("job_only") {
		t.Fatalf("record %+v", rec)
	}
	if n := e.pollCount("job_only"); n != 2 { // the legacy not-found, then the jobs API
		t.Errorf("%d record-info calls; want 2", n)
	}
	// Known to be on the jobs API now: a later poll asks it alone (Polls counts both APIs).
	if err := p.ProcessTask(e.ctx, jobs.NewPollTask("job_only", 1, e.q, 0)); err != nil {
		t.Fatal(err)
	}
	// The fresh URL of a dead video URL comes from the API holding the task.
	e.sim.AddJobsTask("job_exp", "audio-je", kiesim.Fate{ExpireURL: true})
	e.record("job_exp", jobs.StatePending, time.Time{}, "")
	if err := p.ProcessTask(e.ctx, jobs.NewPollTask("job_exp", 1, e.q, 0)); err != nil {
		t.Fatal(err)
	}
	d := e.downloader()
	d.JobsKIE = e.kie.Jobs()
	if err := e.download(d, "job_exp"); err != nil || e.get("job_exp").State != jobs.StateDownloaded {
		t.Errorf("download with a fresh URL from the jobs API: %v, %+v", err, e.get("job_exp"))
	}
	if e.sim.Stats().DownloadURLCalls != 1 {
		t.Errorf("download-url calls %d; want 1", e.sim.Stats().DownloadURLCalls)
	}
}

func TestPollUnknownOnBothAPIsStaysLegacy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	e.record("mp4_nowhere", jobs.StatePending, time.Now().Add(-3*time.Minute), "")
	p := e.jobsPoller()
	err := p.ProcessTask(e.ctx, jobs.NewPollTask("mp4_nowhere", 1, e.q, 0))
	rec := e.get("mp4_nowhere")
	if err == nil || rec.State != jobs.StateFailed || rec.API != "" || !strings.Contains(rec.Error, "KIE has no MP4 task mp4_nowhere") {
		t.Errorf("err %v, record %+v", err, rec)
	}
	// A legacy task is never looked for on the jobs API.
	id := e.simTask("mp4_legacy", kiesim.Fate{})
	e.record(id, jobs.StatePending, time.Time{}, "")
	if err := p.ProcessTask(e.ctx, jobs.NewPollTask(id, 1, e.q, 0)); err != nil || e.pollCount(id) != 1 || e.get(id).API != "" {
		t.Errorf("legacy task: %v, %d calls, %+v", err, e.pollCount(id), e.get(id))
	}
}

// countingCreator counts CreateVideo calls on the way to the simulator.
type countingCreator struct {
	kie.API
	n atomic.Int32
}

func (c *countingCreator) CreateVideo(ctx context.Context, req kie.CreateRequest) (string, error) {
	c.n.Add(1)
	return c.API.CreateVideo(ctx, req)
}

func TestSubmitInsufficientCreditsIsNotRetried(t *testing.T) {
	t.Parallel()
	for _, code := range []int{402, 433} {
		e := newEnv(t, kiesim.Config{})
		e.sim.SetCredits(1)
		e.sim.SetCreditRefusal(code)
		svc := e.service()
		cc := &countingCreator{API: e.kie}
		svc.KIE = cc
		svc.Counter = store.NewLedger(e.rdb, e.ns)
		b := jobs.NewBudget(0, 2)
		req := submitReq("audio-poor", "")
		req.Budget = b
		start := time.Now()
		_, _, err := svc.Submit(e.ctx, req)
		if !errors.Is(err, jobs.ErrInsufficientCredits) || !strings.Contains(err.Error(), "not submitted: insufficient credits") ||
			!strings.Contains(err.Error(), "top up") || !strings.Contains(err.Error(), "audio-poor") {
			t.Fatalf("%d: err %v", code, err)
		}
		if cc.n.Load() != 1 || time.Since(start) > 2*time.Second {
			t.Errorf("%d: %d create calls in %v; want exactly 1, at once", code, cc.n.Load(), time.Since(start))
		}
		if !errors.Is(b.Stopped(), jobs.ErrInsufficientCredits) || b.Spent() != 0 {
			t.Errorf("%d: budget stopped %v spent %v", code, b.Stopped(), b.Spent())
		}
		// The run stops: the next submit of the run asks nothing of KIE.
		req2 := submitReq("audio-poor2", "")
		req2.Budget = b
		if _, _, err := svc.Submit(e.ctx, req2); !errors.Is(err, jobs.ErrInsufficientCredits) || cc.n.Load() != 1 ||
			!strings.HasPrefix(err.Error(), "not submitted: insufficient credits: KIE refused an earlier create") || !strings.Contains(err.Error(), "audio-poor2") {
			t.Errorf("%d: after the stop: %v, %d calls", code, err, cc.n.Load())
		}
		// The claim was released: after a top-up the same submit goes through.
		e.sim.SetCredits(10)
		if rec, created, err := svc.Submit(e.ctx, submitReq("audio-poor", "")); err != nil || !created || rec == nil {
			t.Errorf("%d: after a top-up: %v created %v", code, err, created)
		}
		if d, tot, _ := svc.Counter.Creates(e.ctx, time.Now()); d != 1 || tot != 1 {
			t.Errorf("%d: counted %d today, %d in total; want 1, 1", code, d, tot)
		}
	}
}

func TestSubmitMaxCredits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	svc := e.service()
	b := jobs.NewBudget(5, 2) // two MP4s fit, not three
	for i, audio := range []string{"b1", "b2", "b3"} {
		req := submitReq(audio, "")
		req.Budget = b
		_, _, err := svc.Submit(e.ctx, req)
		if i < 2 && err != nil {
			t.Fatalf("%s: %v", audio, err)
		}
		if i == 2 && (!errors.Is(err, jobs.ErrOverBudget) || !strings.Contains(err.Error(), "audio b3 was not submitted")) {
			t.Fatalf("%s: %v; want ErrOverBudget", audio, err)
		}
	}
	if st := e.sim.Stats(); st.CreateCalls != 2 || b.Spent() != 4 {
		t.Errorf("%d create calls, %v spent; want 2 and 4", st.CreateCalls, b.Spent())
	}
	// The refused submit released its claim: without a budget it creates.
	if _, created, err := svc.Submit(e.ctx, submitReq("b3", "")); err != nil || !created {
		t.Errorf("b3 after the refusal: %v created %v", err, created)
	}
	// A submit of an audio already made spends nothing.
	req := submitReq("b1", "")
	req.Budget = jobs.NewBudget(1, 2)
	if _, created, err := svc.Submit(e.ctx, req); err != nil || created {
		t.Errorf("b1 again under a budget too small for a create: %v created %v", err, created)
	}
}

func TestBudget(t *testing.T) {
	var nilBudget *jobs.Budget
	if nilBudget.Reserve() != nil || nilBudget.Stopped() != nil || nilBudget.Spent() != 0 {
		t.Error("a nil budget must allow everything")
	}
	nilBudget.Refund()
	nilBudget.Stop(jobs.ErrInsufficientCredits)
	b := jobs.NewBudget(4, 0) // the default price, 2
	if b.Reserve() != nil || b.Reserve() != nil || !errors.Is(b.Reserve(), jobs.ErrOverBudget) {
		t.Fatal("4 credits at 2 each: want two reservations, then ErrOverBudget")
	}
	b.Refund()
	if b.Spent() != 2 || b.Reserve() != nil {
		t.Errorf("after a refund: spent %v", b.Spent())
	}
	stop := errors.New("x")
	b.Stop(stop)
	b.Stop(errors.New("second"))
	b.Refund()
	if err := b.Reserve(); err != stop || b.Stopped() != stop {
		t.Errorf("stopped budget: %v", err)
	}
}

func TestBudgetAffordable(t *testing.T) {
	var nilBudget *jobs.Budget
	for _, tc := range []struct {
		b       *jobs.Budget
		balance float64
		n, want int
	}{
		{nilBudget, 10, 50, 5}, {nilBudget, 9.99, 50, 4}, {nilBudget, 100, 3, 3}, {nilBudget, -4, 3, 0},
		{jobs.NewBudget(7, 2), 100, 50, 3}, {jobs.NewBudget(7, 2), 4, 50, 2}, {jobs.NewBudget(0, 2.5), 10, 50, 4},
	} {
		if got := tc.b.Affordable(tc.balance, tc.n); got != tc.want {
			t.Errorf("%+v.Affordable(%v, %d) = %d; want %d", tc.b, tc.balance, tc.n, got, tc.want)
		}
	}
	b := jobs.NewBudget(6, 2)
	_ = b.Reserve()
	if got := b.Affordable(100, 50); got != 2 {
		t.Errorf("after one reservation of 6: %d; want 2", got)
	}
}

func TestCreditsReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	e.sim.SetCredits(35.5)
	l := store.NewLedger(e.rdb, e.ns)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{now.Add(-24 * time.Hour), now, now} {
		if err := l.CountCreate(e.ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	r, err := jobs.Credits(e.ctx, e.kie, l, 0, now)
	if err != nil || r.Balance != 35.5 || r.MP4Credits != 2 || r.Today != (jobs.CreditPeriod{Date: "2026-12-01", MP4s: 2, Credits: 4}) ||
		r.Total != (jobs.CreditPeriod{MP4s: 3, Credits: 6}) {
		t.Errorf("report %+v, %v", r, err)
	}
	e.sim.SetOutage(kiesim.Fault455)
	r, err = jobs.Credits(e.ctx, e.kie, l, 8, now)
	if err == nil || !strings.Contains(err.Error(), "credit balance") || r.Total.Credits != 24 {
		t.Errorf("with KIE down: %+v, %v", r, err)
	}
}

func TestPollJobsAPIFailureIsFinal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	e.sim.AddJobsTask("job_fail", "fail-j", kiesim.Fate{Outcome: kiesim.OutcomeGenerateFailed, PollFaults: []kiesim.Fault{kiesim.FaultHTML500}})
	e.record("job_fail", jobs.StatePending, time.Time{}, "")
	p := e.jobsPoller()
	// A 502 with an HTML body from the jobs API: transient, retried, the record stays pending.
	if err := p.ProcessTask(e.ctx, jobs.NewPollTask("job_fail", 1, e.q, 0)); err == nil || !jobs.IsFailure(err) {
		t.Fatalf("first poll (HTML 502): %v; want a counted retry", err)
	}
	if rec := e.get("job_fail"); rec.State != jobs.StatePending || rec.API != "" {
		t.Fatalf("after the 502: %+v", rec)
	}
	err := p.ProcessTask(e.ctx, jobs.NewPollTask("job_fail", 1, e.q, 0))
	rec := e.get("job_fail")
	if err == nil || rec.State != jobs.StateFailed || rec.KIEStatus != "FAIL" || rec.API != jobs.APIJobs ||
		!strings.Contains(rec.Error, "KIE could not make mp4 task job_fail: FAIL (code 501: Generate mp4 failed)") {
		t.Errorf("err %v, record %+v", err, rec)
	}
}

func TestJobsLookupStaysWithinTheSharedLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	lim, err := store.NewLimiter(e.rdb, e.ns, store.Limits(1000, 1)) // one record-info call per second
	if err != nil {
		t.Fatal(err)
	}
	e.sim.AddJobsTask("job_paced", "audio-paced", kiesim.Fate{})
	e.record("job_paced", jobs.StatePending, time.Time{}, "")
	p := e.jobsPoller()
	p.Limiter = lim
	start := time.Now()
	if err := p.ProcessTask(e.ctx, jobs.NewPollTask("job_paced", 1, e.q, 0)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 800*time.Millisecond || e.get("job_paced").State != jobs.StateReady {
		t.Errorf("the jobs lookup went %v after the legacy call; want it paced about 1 s later (%+v)", took, e.get("job_paced"))
	}
}
