package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

func newLimiter(t *testing.T, limits map[string]store.Limit) (*store.Limiter, func() *store.Limiter) {
	t.Helper()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	mk := func() *store.Limiter {
		l, err := store.NewLimiter(rdb, ns, limits)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	return mk(), mk
}

func TestLimiterBurst(t *testing.T) {
	ctx := context.Background()
	l, _ := newLimiter(t, map[string]store.Limit{"x": {Rate: 5, Period: time.Second, Burst: 5}})
	allowed := 0
	for range 20 {
		d, err := l.Allow(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case d == 0:
			allowed++
		case d < 100*time.Millisecond || d > 200*time.Millisecond:
			t.Errorf("wait %v; want about 200ms (one emission interval)", d)
		}
	}
	if allowed != 5 {
		t.Errorf("%d of 20 rapid calls allowed; want 5", allowed)
	}
	// After the advertised wait, exactly one more call goes through.
	d, _ := l.Allow(ctx, "x")
	time.Sleep(d + 5*time.Millisecond)
	if d, err := l.Allow(ctx, "x"); err != nil || d != 0 {
		t.Errorf("after waiting: Allow = %v, %v; want 0", d, err)
	}
	if d, _ := l.Allow(ctx, "x"); d == 0 {
		t.Error("two calls allowed after one interval")
	}
}

// TestLimiterShared checks that two limiters on one Redis and namespace share the budget.
func TestLimiterShared(t *testing.T) {
	ctx := context.Background()
	a, mk := newLimiter(t, map[string]store.Limit{"x": {Rate: 5, Period: time.Second, Burst: 5}, "y": {Rate: 1, Period: time.Second, Burst: 1}})
	b := mk()
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for _, l := range []*store.Limiter{a, b, a, b} {
		wg.Go(func() {
			for range 5 {
				d, err := l.Allow(ctx, "x")
				if err != nil {
					t.Error(err)
				}
				if d == 0 {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 5 {
		t.Errorf("%d of 20 calls from two limiters allowed; want 5", allowed)
	}
	// Limits are independent of each other.
	if d, err := b.Allow(ctx, "y"); err != nil || d != 0 {
		t.Errorf("other limit: %v, %v", d, err)
	}
}

// TestLimiterWindow checks the hard cap of Window: never more than n calls in a window.
func TestLimiterWindow(t *testing.T) {
	const n, window = 6, 300 * time.Millisecond
	lim := store.Window(n, window)
	if lim.Rate+lim.Burst-1 != n {
		t.Fatalf("Window(%d) = %+v", n, lim)
	}
	l, _ := newLimiter(t, map[string]store.Limit{"w": lim})
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	var at []time.Time
	for l.Wait(ctx, "w") == nil {
		at = append(at, time.Now())
	}
	// Local clocks see Redis's decisions a little late: allow 20ms of jitter.
	for i := range at {
		in := 0
		for j := i; j < len(at) && at[j].Sub(at[i]) < window-20*time.Millisecond; j++ {
			in++
		}
		if in > n {
			t.Fatalf("%d calls within %v starting at call %d; cap is %d", in, window, i, n)
		}
	}
	// About Burst + 1.2s × Rate/Period calls.
	if want := lim.Burst + int(1200*time.Millisecond*time.Duration(lim.Rate)/lim.Period); len(at) < want-3 || len(at) > want+1 {
		t.Errorf("%d calls in 1.2s; want about %d", len(at), want)
	}
}

func TestLimiterWaitCanceled(t *testing.T) {
	l, _ := newLimiter(t, map[string]store.Limit{"slow": {Rate: 1, Period: time.Hour, Burst: 1}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx, "slow"); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	start := time.Now()
	if err := l.Wait(ctx, "slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v; want DeadlineExceeded", err)
	}
	if time.Since(start) > time.Second {
		t.Error("Wait did not return when ctx ended")
	}
}

func TestLimiterErrors(t *testing.T) {
	l, _ := newLimiter(t, store.Limits(18, 10))
	if _, err := l.Allow(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "create, record-info") {
		t.Errorf("unknown limit: %v", err)
	}
	rdb, _ := storetest.Redis(t)
	for _, bad := range []store.Limit{{}, {Rate: 1, Period: time.Second}, {Rate: -1, Period: time.Second, Burst: 1}, store.Window(0, time.Second)} {
		if _, err := store.NewLimiter(rdb, "", map[string]store.Limit{"x": bad}); err == nil {
			t.Errorf("NewLimiter accepted %+v", bad)
		}
	}
}

func TestLimits(t *testing.T) {
	d := store.Limits(18, 10)
	c, r := d[jobs.LimitCreate], d[jobs.LimitRecordInfo]
	// Exact windows (issue 11): no burst, n calls per window plus a margin.
	if c.Burst != 1 || c.Rate != 18 || c.Period < 10*time.Second || c.Period > 10300*time.Millisecond ||
		r.Burst != 1 || r.Rate != 10 || r.Period < time.Second || r.Period > 1060*time.Millisecond {
		t.Errorf("Limits(18, 10) = %+v", d)
	}
	if len(d) != 2 {
		t.Errorf("Limits has %d limits", len(d))
	}
}

var _ jobs.Limiter = (*store.Limiter)(nil)
