package jobs_test

// Tests through real Asynq servers (jobs.NewWorker) on the test Redis: the behaviour that
// depends on Asynq's retry bookkeeping, which a direct ProcessTask call cannot show.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

const shutdownTimeout = time.Second

// startWorker runs a worker until the returned stop is called (or the test ends); stop
// reports how long Run took to return.
func (e *env) startWorker(p *jobs.Poller, d *jobs.Downloader) (stop func() time.Duration) {
	e.t.Helper()
	return e.startWorkerWith(p, d, nil)
}

// startWorkerWith is startWorker with a reconciler (nil: none).
func (e *env) startWorkerWith(p *jobs.Poller, d *jobs.Downloader, r *jobs.Reconciler) (stop func() time.Duration) {
	e.t.Helper()
	opt, err := asynq.ParseRedisURI(e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	w := jobs.NewWorker(jobs.WorkerConfig{Redis: opt, Queues: e.q, PollConcurrency: 4, DownloadConcurrency: 2,
		PollInterval: p.Config.Interval, ShutdownTimeout: shutdownTimeout,
		Backoff: jobs.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}, Log: quietLog()}, p, d, r)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var took time.Duration
	stopped := false
	stop = func() time.Duration {
		if stopped {
			return took
		}
		stopped = true
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(shutdownTimeout + 10*time.Second):
			e.t.Error("Run did not return after its context ended")
		}
		took = time.Since(start)
		return took
	}
	e.t.Cleanup(func() { stop() })
	return stop
}

// waitFor polls the record of id until cond holds or timeout passes.
func (e *env) waitFor(id string, timeout time.Duration, cond func(*jobs.Record) bool) *jobs.Record {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rec, err := e.recs.Get(e.ctx, id)
		if err == nil && cond(rec) {
			return rec
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("record %s after %v: %+v, %v", id, timeout, rec, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func terminal(rec *jobs.Record) bool { return rec.State.Terminal() }

func TestWorkerSubmitToDownloaded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{ReadyAfter: 300 * time.Millisecond})
	p := e.poller()
	p.Config.Interval = 200 * time.Millisecond
	stop := e.startWorker(p, e.downloader())
	rec, _, err := e.service().Submit(e.ctx, submitReq("audioW", ""))
	if err != nil {
		t.Fatal(err)
	}
	rec = e.waitFor(rec.TaskID, 10*time.Second, terminal)
	e.wantDownloaded(rec.TaskID, e.simSHA(rec.TaskID), testFileSize)
	if rec.Polls < 2 {
		t.Errorf("%d polls; the first should have found the video pending", rec.Polls)
	}
	if took := stop(); took > shutdownTimeout+2*time.Second {
		t.Errorf("Run took %v to return after its context ended", took)
	}
	// Once Run has returned, neither server takes tasks any more.
	id := e.simTask("mp4_afterstop", kiesim.Fate{})
	e.record(id, jobs.StateReady, time.Time{}, e.fileURL(id))
	e.record("mp4_afterstop2", jobs.StatePending, time.Time{}, "")
	for _, task := range []*asynq.Task{jobs.NewDownloadTask(id, 1, e.q, time.Minute), jobs.NewPollTask("mp4_afterstop2", 1, e.q, 0)} {
		if _, err := e.client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(700 * time.Millisecond)
	if e.get(id).State != jobs.StateReady || e.get("mp4_afterstop2").Polls != 0 {
		t.Error("a task was processed after Run returned")
	}
}

// TestWorkerLastPollAttempt runs polls that have no retry left (MaxRetry 0): whatever the
// answer, the record must not stay pending without a poll task to move it on.
func TestWorkerLastPollAttempt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	p := e.poller()
	p.Config.Interval = 200 * time.Millisecond
	e.startWorker(p, e.downloader())
	cases := map[string]kiesim.Fate{
		"mp4_lasttransient": {Outcome: kiesim.OutcomeNever, PollFaults: []kiesim.Fault{kiesim.Fault455}},
		"mp4_lastpending":   {Outcome: kiesim.OutcomeNever},
		"mp4_last429":       {Outcome: kiesim.OutcomeNever, PollFaults: []kiesim.Fault{kiesim.Fault429}},
	}
	for id, fate := range cases {
		e.simTask(id, fate)
		e.record(id, jobs.StatePending, time.Time{}, "")
		if _, err := e.client.Enqueue(jobs.NewPollTask(id, 1, e.q, 0), asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
	}
	for id := range cases {
		// Wait for Asynq to be done with the task, then read the record as it was left.
		e.waitFor(id, 10*time.Second, func(*jobs.Record) bool {
			return !e.hasTask(e.q.Poll, jobs.PollTaskID(id, 1)) || archived(e, id)
		})
		rec := e.get(id)
		if rec.State != jobs.StateFailed || !strings.Contains(rec.Error, "kiemv retry "+id) {
			info, err := e.insp.GetTaskInfo(e.q.Poll, jobs.PollTaskID(id, 1))
			t.Errorf("%s: %+v; want failed, with advice to retry (not pending with no poll left); task %+v, %v",
				id, rec, info, err)
		}
	}
}

func archived(e *env, id string) bool {
	info, err := e.insp.GetTaskInfo(e.q.Poll, jobs.PollTaskID(id, 1))
	return err == nil && info.State == asynq.TaskStateArchived
}

func TestWorkerLastDownloadAttempt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_lastcut", kiesim.Fate{CutAt: 50_000})
	e.record(id, jobs.StateReady, time.Time{}, e.fileURL(id))
	e.startWorker(e.poller(), e.downloader())
	if _, err := e.client.Enqueue(jobs.NewDownloadTask(id, 1, e.q, time.Minute), asynq.MaxRetry(0)); err != nil {
		t.Fatal(err)
	}
	rec := e.waitFor(id, 10*time.Second, terminal)
	if rec.State != jobs.StateFailed || !strings.Contains(rec.Error, "gave up after 1 attempts") || !strings.Contains(rec.Error, "kiemv retry "+id) {
		t.Errorf("record %+v", rec)
	}
	// The handler leaves the part; the reconciler removes it (a terminal record keeps none).
	if !exists(e.partPath(id)) {
		t.Fatal("the handler removed the partial file")
	}
	if res, err := e.reconciler(time.Now()).Sweep(e.ctx); err != nil || res.PartsRemoved != 1 || exists(e.partPath(id)) {
		t.Errorf("sweep %+v, %v: the failed record's part was not removed", res, err)
	}
}
