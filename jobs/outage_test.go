package jobs_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
)

// outages is the shared outage state of e's namespace.
func (e *env) outages() *store.Outages { return store.NewOutages(e.rdb, e.ns) }

// TestWorkerOutageRecovery runs real Asynq servers through a short KIE outage (every API call
// answers 455): the tasks waiting on it use no retry, KIE sees about one probe per probe
// interval once the breaker is open, and every task is downloaded within seconds of the end.
func TestWorkerOutageRecovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	const n, probeEvery, outage = 8, 500 * time.Millisecond, 4 * time.Second
	var probes atomic.Int32
	br := &jobs.Breaker{State: e.outages(), Log: quietLog(),
		Config: jobs.BreakerConfig{Threshold: 3, ProbeInterval: probeEvery, Recheck: time.Second, CacheFor: 100 * time.Millisecond},
		ProbeKIEFunc: func(ctx context.Context) error {
			probes.Add(1)
			if _, err := e.kie.Credits(ctx); err != nil && kie.IsTemporary(err) {
				return err
			}
			return nil
		}}
	p, d := e.poller(), e.downloader()
	p.Breaker, d.Breaker = br, br
	p.Config.Interval = 500 * time.Millisecond
	var ids []string
	for i := range n {
		id := e.simTask(fmt.Sprintf("mp4_outage%02d", i), kiesim.Fate{})
		e.record(id, jobs.StatePending, time.Time{}, "")
		if _, err := e.client.Enqueue(jobs.NewPollTask(id, 1, e.q, 0)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	e.sim.SetOutage(kiesim.Fault455)
	e.startWorker(p, d)
	maxRetried := 0
	sample := func() { // the retry count of every waiting task Asynq holds
		for _, q := range []string{e.q.Poll, e.q.Download} {
			retry, _ := e.insp.ListRetryTasks(q)
			sched, _ := e.insp.ListScheduledTasks(q)
			for _, ti := range append(retry, sched...) {
				maxRetried = max(maxRetried, ti.Retried)
			}
		}
	}
	start := time.Now()
	var openAt time.Time
	var repliesAtOpen int
	for time.Since(start) < outage {
		sample()
		if open, _ := e.outages().Open(e.ctx, jobs.DepKIE); open && openAt.IsZero() {
			openAt, repliesAtOpen = time.Now(), e.sim.Stats().OutageReplies
			probes.Store(0)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if openAt.IsZero() {
		t.Fatal("the breaker never opened during the outage")
	}
	open := time.Since(openAt)
	calls, probed := e.sim.Stats().OutageReplies-repliesAtOpen, int(probes.Load())
	e.sim.SetOutage(kiesim.FaultNone)
	back := time.Now()
	for _, id := range ids {
		e.waitFor(id, 10*time.Second, func(r *jobs.Record) bool { sample(); return r.State == jobs.StateDownloaded })
	}
	took := time.Since(back)
	t.Logf("open %v: %d KIE calls (%d probes); all %d downloaded %v after the outage; most retries used %d",
		open.Round(time.Millisecond), calls, probed, n, took.Round(time.Millisecond), maxRetried)
	if maxRetried != 0 {
		t.Errorf("a waiting task used %d retries; want 0", maxRetried)
	}
	if want := int(open/probeEvery) + 1; probed > want || probed < want/2 {
		t.Errorf("%d probes in %v open; want about one per %v (%d)", probed, open, probeEvery, want)
	}
	if calls > probed+2 { // a call already under way when it opened may land after
		t.Errorf("KIE saw %d calls while open but only %d probes: tasks kept calling", calls, probed)
	}
	if took > 4*time.Second {
		t.Errorf("last file landed %v after KIE came back; want within a few seconds", took)
	}
}

// TestWorkerFileHostOutage: the video host answers 503 to everyone for a while. The downloads
// wait on the host's breaker without using retries, one task's own request probes it per
// interval, and every file lands within seconds of the host's return.
func TestWorkerFileHostOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	var down atomic.Bool
	var hits atomic.Int32
	host := e.serve(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		e.sim.ServeHTTP(w, r)
	})
	const n, probeEvery, outage = 6, 500 * time.Millisecond, 3 * time.Second
	br := &jobs.Breaker{State: e.outages(), Log: quietLog(),
		Config: jobs.BreakerConfig{Threshold: 3, ProbeInterval: probeEvery, Recheck: time.Second, CacheFor: 100 * time.Millisecond}}
	p, d := e.poller(), e.downloader()
	p.Breaker, d.Breaker = br, br
	down.Store(true)
	var ids []string
	for i := range n {
		id := e.simTask(fmt.Sprintf("mp4_hostdown%02d", i), kiesim.Fate{})
		e.record(id, jobs.StateReady, time.Time{}, host.URL+kiesim.PathFiles+id+".mp4")
		if _, err := e.client.Enqueue(jobs.NewDownloadTask(id, 1, e.q, time.Minute)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	e.startWorker(p, d)
	maxRetried := 0
	start := time.Now()
	for time.Since(start) < outage {
		retry, _ := e.insp.ListRetryTasks(e.q.Download)
		for _, ti := range retry {
			maxRetried = max(maxRetried, ti.Retried)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if open, _ := e.outages().Open(e.ctx, jobs.HostDep(host.URL)); !open {
		t.Fatal("the host's breaker is not open during its outage")
	}
	during := int(hits.Load())
	down.Store(false)
	back := time.Now()
	for _, id := range ids {
		e.waitFor(id, 10*time.Second, func(r *jobs.Record) bool { return r.State == jobs.StateDownloaded })
	}
	took := time.Since(back)
	t.Logf("host down %v: %d requests; all %d downloaded %v after; most retries used %d", outage, during, n, took.Round(time.Millisecond), maxRetried)
	if maxRetried != 0 {
		t.Errorf("a waiting download used %d retries; want 0", maxRetried)
	}
	if limit := n + int(outage/probeEvery) + 1; during > limit {
		t.Errorf("the host saw %d requests in %v down; want each task's first and about one probe per %v (≤ %d)", during, outage, probeEvery, limit)
	}
	if took > 4*time.Second {
		t.Errorf("last file landed %v after the host came back; want within a few seconds", took)
	}
}
