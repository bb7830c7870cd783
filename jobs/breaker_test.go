package jobs_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

// newBreakers returns n breakers sharing one outage state in the test Redis, as n worker
// processes would, and the shared state.
func newBreakers(t *testing.T, n int, cfg jobs.BreakerConfig) ([]*jobs.Breaker, *store.Outages) {
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	st := store.NewOutages(rdb, ns)
	bs := make([]*jobs.Breaker, n)
	for i := range bs {
		bs[i] = &jobs.Breaker{State: st, Config: cfg, Log: quietLog()}
	}
	return bs, st
}

// TestBreakerOpensAfterThreshold: the first failure of each task is one free look (an outage
// error, no retry used); the Threshold-th distinct task opens the breaker; a task that fails
// again while the others work is a counted retry (nil).
func TestBreakerOpensAfterThreshold(t *testing.T) {
	ctx := context.Background()
	bs, st := newBreakers(t, 1, jobs.BreakerConfig{Threshold: 3})
	b := bs[0]
	for i, holder := range []string{"a", "b"} {
		if err := b.Failed(ctx, "kie", holder); !jobs.IsOutage(err) {
			t.Fatalf("failure %d (first of %s): %v, want an outage wait", i, holder, err)
		}
		if open, _ := st.Open(ctx, "kie"); open {
			t.Fatalf("open after %d distinct failures, threshold 3", i+1)
		}
	}
	if err := b.Failed(ctx, "kie", "a"); err != nil {
		t.Errorf("a's second failure below the threshold: %v, want nil (a counted retry)", err)
	}
	if err := b.Failed(ctx, "kie", "c"); !jobs.IsOutage(err) {
		t.Errorf("third distinct failure: %v, want an outage wait", err)
	}
	if open, _ := st.Open(ctx, "kie"); !open {
		t.Fatal("not open after 3 distinct failures")
	}
	if err := b.Failed(ctx, "kie", "a"); !jobs.IsOutage(err) {
		t.Errorf("a failure while open: %v, want an outage wait", err)
	}
	// A success clears the count: two new failures do not open it again.
	b.Succeeded(ctx, "kie")
	if open, _ := st.Open(ctx, "kie"); open {
		t.Fatal("still open after a success")
	}
	b.Failed(ctx, "kie", "d")
	b.Failed(ctx, "kie", "e")
	if open, _ := st.Open(ctx, "kie"); open {
		t.Error("opened by 2 failures after a success (plus 3 before it), threshold 3")
	}
}

// TestBreakerOneProber: while a dependency is open, of many callers in several processes
// exactly one per probe interval goes ahead as the probe; the others wait.
func TestBreakerOneProber(t *testing.T) {
	ctx := context.Background()
	cfg := jobs.BreakerConfig{Threshold: 1, ProbeInterval: time.Hour, CacheFor: time.Millisecond, Recheck: 2 * time.Millisecond}
	bs, _ := newBreakers(t, 3, cfg)
	bs[0].Failed(ctx, "host:files", "a")
	var through atomic.Int32
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				err := bs[i%3].Wait(ctx, "host:files")
				if err == nil {
					through.Add(1)
				} else if !jobs.IsOutage(err) {
					t.Errorf("wait: %v", err)
				}
				time.Sleep(3 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if n := through.Load(); n != 1 {
		t.Errorf("%d callers went ahead while open; want exactly 1 probe", n)
	}
}

// TestBreakerProbe: a failed probe keeps the breaker open and the callers waiting; a
// successful one closes it, lets the caller go ahead, and reports KIE down then up.
func TestBreakerProbe(t *testing.T) {
	ctx := context.Background()
	cfg := jobs.BreakerConfig{Threshold: 1, ProbeInterval: 50 * time.Millisecond, CacheFor: time.Millisecond, Recheck: 2 * time.Millisecond}
	bs, st := newBreakers(t, 1, cfg)
	b := bs[0]
	var ups []bool
	b.Hooks = &jobs.Hooks{OutageFunc: func(dep string, up bool) { ups = append(ups, up) }}
	var probes atomic.Int32
	down := errors.New("503")
	var probeErr atomic.Pointer[error]
	probeErr.Store(&down)
	b.ProbeKIEFunc = func(context.Context) error { probes.Add(1); return *probeErr.Load() }
	b.Failed(ctx, jobs.DepKIE, "a")
	start := time.Now()
	for range 20 { // ≥ 100 ms: two probe intervals or more
		if err := b.Wait(ctx, jobs.DepKIE); !jobs.IsOutage(err) {
			t.Fatalf("wait while the probe fails: %v, want an outage wait", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if open, _ := st.Open(ctx, jobs.DepKIE); !open {
		t.Fatal("closed by a failed probe")
	}
	intervals := int32(time.Since(start) / cfg.ProbeInterval)
	if n := probes.Load(); n < 1 || n > intervals+1 {
		t.Errorf("%d probes in %d probe intervals; want one per interval", n, intervals)
	}
	var ok error
	probeErr.Store(&ok)
	deadline := time.Now().Add(time.Second)
	for b.Wait(ctx, jobs.DepKIE) != nil {
		if time.Now().After(deadline) {
			t.Fatal("a successful probe did not let the caller go ahead")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if open, _ := st.Open(ctx, jobs.DepKIE); open {
		t.Error("open after a successful probe")
	}
	if len(ups) != 2 || ups[0] || !ups[1] {
		t.Errorf("OutageFunc heard %v; want [false true]", ups)
	}
}
