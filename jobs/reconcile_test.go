package jobs_test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
)

// reconciler returns a reconciler of the env whose clock reads now, and records the reasons
// it reports in e.reasons.
func (e *env) reconciler(now time.Time) *jobs.Reconciler {
	return &jobs.Reconciler{Service: e.service(), Scanner: e.recs, Tasks: store.NewTasks(e.rdb),
		Lock: store.NewLock(e.rdb, e.ns, "reconcile"), Files: e.dir, Log: quietLog(),
		NowFunc: func() time.Time { return now },
		Config:  jobs.ReconcileConfig{Interval: time.Second, PollBudget: time.Hour, MaxRequeues: 2}}
}

func TestReconcilerRequeuesLostTasksAndEndsSpentOnes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	old := time.Now().Add(-5 * time.Minute)
	e.record("mp4_nopoll", jobs.StatePending, old, "")
	e.record("mp4_live", jobs.StatePending, old, "")
	if _, err := e.client.Enqueue(jobs.NewPollTask("mp4_live", 1, e.q, time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.record("mp4_archdl", jobs.StateReady, old, "https://x.example/v.mp4")
	if _, err := e.client.Enqueue(jobs.NewDownloadTask("mp4_archdl", 1, e.q, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := e.insp.ArchiveTask(e.q.Download, jobs.DownloadTaskID("mp4_archdl", 1)); err != nil {
		t.Fatal(err)
	}
	e.record("mp4_nodl", jobs.StateDownloading, old, "https://x.example/v.mp4")
	e.record("mp4_overdue", jobs.StatePending, time.Now().Add(-2*time.Hour), "")
	e.record("mp4_spent", jobs.StateReady, old, "https://x.example/v.mp4")
	if _, err := e.recs.Update(e.ctx, "mp4_spent", jobs.Change{AddRequeued: 2}); err != nil {
		t.Fatal(err)
	}
	e.record("mp4_done", jobs.StateDownloaded, old, "")

	var mu sync.Mutex
	reasons := map[string]int{}
	r := e.reconciler(time.Now().Add(time.Minute)) // past the grace of every record
	r.Hooks = &jobs.Hooks{ReconciledFunc: func(reason string) { mu.Lock(); reasons[reason]++; mu.Unlock() }}
	res, err := r.Sweep(e.ctx)
	if err != nil || !res.Held || res.Requeued != 3 || res.Ended != 2 {
		t.Fatalf("sweep = %+v, %v; want the lock, 3 requeued and 2 ended", res, err)
	}
	for id, task := range map[string]string{"mp4_nopoll": jobs.PollTaskID("mp4_nopoll", 2),
		"mp4_archdl": jobs.DownloadTaskID("mp4_archdl", 2), "mp4_nodl": jobs.DownloadTaskID("mp4_nodl", 2)} {
		rec := e.get(id)
		queue := e.q.Poll
		if rec.State != jobs.StatePending {
			queue = e.q.Download
		}
		if rec.Generation != 2 || rec.Requeued != 1 || !e.hasTask(queue, task) {
			t.Errorf("%s: %+v, task %s queued %v; want generation 2, requeued once, its task queued", id, rec, task, e.hasTask(queue, task))
		}
	}
	if e.hasTask(e.q.Download, jobs.DownloadTaskID("mp4_archdl", 1)) {
		t.Error("the archived task of the old generation was left")
	}
	if rec := e.get("mp4_live"); rec.Generation != 1 || rec.Requeued != 0 {
		t.Errorf("a record with a live poll was touched: %+v", rec)
	}
	if rec := e.get("mp4_overdue"); rec.State != jobs.StateTimedOut || !strings.Contains(rec.Error, "poll budget") {
		t.Errorf("overdue: %+v; want timed_out, naming the poll budget", rec)
	}
	if rec := e.get("mp4_spent"); rec.State != jobs.StateFailed || !strings.Contains(rec.Error, "lost 3 times") || !strings.Contains(rec.Error, "kiemv retry mp4_spent") {
		t.Errorf("spent: %+v; want failed, saying how often and what to do", rec)
	}
	if fmt.Sprint(reasons) != "map[archived:1 budget_spent:1 missing:2 requeues_spent:1]" {
		t.Errorf("reasons reported %v", reasons)
	}

	// A second sweep finds every task live: nothing changes.
	res, err = r.Sweep(e.ctx)
	if err != nil || res.Requeued+res.Ended != 0 {
		t.Errorf("second sweep = %+v, %v; want no change", res, err)
	}
}

func TestReconcilerLeavesRecentRecordsAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	e.record("mp4_fresh", jobs.StatePending, time.Time{}, "") // its poll is being queued right now
	res, err := e.reconciler(time.Now()).Sweep(e.ctx)
	if err != nil || res.Examined != 1 || res.Requeued != 0 || e.get("mp4_fresh").Generation != 1 {
		t.Errorf("sweep = %+v, %v; want the record examined and left alone within the grace", res, err)
	}
}

func TestReconcilerOneSweeperAtATime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	a, b := e.reconciler(time.Now()), e.reconciler(time.Now())
	ra, err := a.Sweep(e.ctx)
	if err != nil || !ra.Held {
		t.Fatalf("first: %+v, %v; want the lock", ra, err)
	}
	if rb, err := b.Sweep(e.ctx); err != nil || rb.Held {
		t.Errorf("second while the first holds the lock: %+v, %v; want no lock", rb, err)
	}
	if ra, err := a.Sweep(e.ctx); err != nil || !ra.Held {
		t.Errorf("the holder again: %+v, %v; want it to keep the lock", ra, err)
	}
}

func TestReconcilerSweepsAreBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	const n = 300 // over Redis's small-set size, so that ZSCAN honours COUNT there too
	old := time.Now().Add(-time.Minute)
	for i := range n {
		e.record(fmt.Sprintf("mp4_b%03d", i), jobs.StatePending, old, "")
	}
	r := e.reconciler(time.Now())
	r.Config.Batch, r.Config.PerSweep, r.Config.MaxRequeues = 40, 100, 5
	requeued := 0
	for sweep := 1; requeued < n; sweep++ {
		res, err := r.Sweep(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Examined > 100+40 {
			t.Fatalf("sweep %d examined %d records; want at most PerSweep plus one batch", sweep, res.Examined)
		}
		requeued += res.Requeued
		if sweep > 10 {
			t.Fatalf("after %d sweeps %d of %d lost polls were queued again", sweep, requeued, n)
		}
	}
	if requeued != n {
		t.Errorf("requeued %d; want each of the %d once", requeued, n)
	}
}

func TestReconcilerCleansStalePartialFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	own := e.dir.Owner()
	parts := map[string]struct {
		st    jobs.State
		owner string
		keep  bool
	}{
		"mp4_failed":  {jobs.StateFailed, own, false},
		"mp4_done":    {jobs.StateDownloaded, own, false},
		"mp4_mine":    {jobs.StateDownloading, own, true},
		"mp4_noowner": {jobs.StateReady, "", true},
		"mp4_moved":   {jobs.StateDownloading, "host-b:/videos", false},
	}
	for id, p := range parts {
		e.record(id, p.st, time.Time{}, "")
		if _, err := e.recs.Update(e.ctx, id, jobs.Change{PartOwner: p.owner}); err != nil {
			t.Fatal(err)
		}
	}
	parts["mp4_unknown"] = struct {
		st    jobs.State
		owner string
		keep  bool
	}{keep: true} // no record: maybe another namespace's
	for id := range parts {
		if err := os.WriteFile(e.partPath(id), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := e.reconciler(time.Now())
	r.Lock = store.NewLock(e.rdb, e.ns+"x", "reconcile") // cleaning needs no lock: each worker cleans its own
	if _, err := r.Lock.Hold(e.ctx, "someone-else", time.Minute); err != nil {
		t.Fatal(err)
	}
	res, err := r.Sweep(e.ctx)
	if err != nil || res.Held || res.PartsRemoved != 3 {
		t.Errorf("sweep = %+v, %v; want 3 parts removed without the lock", res, err)
	}
	for id, p := range parts {
		if exists(e.partPath(id)) != p.keep {
			t.Errorf("%s: part kept %v; want %v", id, exists(e.partPath(id)), p.keep)
		}
	}
}
