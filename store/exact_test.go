package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
)

// maxInWindow is the most of the sorted times at that fall in any window [t, t+d).
func maxInWindow(at []time.Time, d time.Duration) (most int, from time.Time) {
	j := 0
	for i := range at {
		for j < len(at) && at[j].Sub(at[i]) < d {
			j++
		}
		if j-i > most {
			most, from = j-i, at[i]
		}
	}
	return most, from
}

// Three limiters (as three worker processes) on one Redis, each with many holders asking
// for record-info calls the way the poll handler does (book, sleep until the booked time,
// ask again, call): no sliding second ever sees more admitted calls than the limit, and the
// line keeps moving at about the limit.
func TestLimiterExactWindowThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 2.5s")
	}
	const n, run = 10, 2500 * time.Millisecond
	_, mk := newLimiter(t, store.Limits(18, n))
	lims := []*store.Limiter{mk(), mk(), mk()}
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	var mu sync.Mutex
	var at []time.Time
	var wg sync.WaitGroup
	for p, l := range lims {
		for h := range 12 {
			holder := fmt.Sprintf("mp4_p%dh%d", p, h)
			wg.Go(func() {
				for ctx.Err() == nil {
					d, err := l.Reserve(ctx, jobs.LimitRecordInfo, holder)
					if err != nil {
						return // ctx ended
					}
					if d > 0 {
						_ = jobs.Sleep(ctx, d)
						continue
					}
					mu.Lock()
					at = append(at, time.Now())
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	if most, from := maxInWindow(at, time.Second); most > n {
		t.Errorf("%d calls admitted in the second from %v; the limit is %d", most, from.Format("15:04:05.000"), n)
	}
	// About run × n/1.05 calls (the first at once): the line is not stalling.
	if want := int(run.Seconds() * n / 1.05); len(at) < want-3 || len(at) > want+2 {
		t.Errorf("%d calls admitted in %v; want about %d", len(at), run, want)
	}
}

// A holder that gives up gives its call back: the last in line at once, one in the middle
// once every call after it is given back too; a holder that comes back too late books again.
func TestLimiterRelease(t *testing.T) {
	ctx := context.Background()
	// One call every 100ms, no burst; a booked call may go at most 20ms late.
	l, _ := newLimiter(t, map[string]store.Limit{"x": {Rate: 10, Period: time.Second, Burst: 1, Late: 20 * time.Millisecond}})
	var _ jobs.Reserver = l
	book := func(h string) time.Duration {
		t.Helper()
		d, err := l.Reserve(ctx, "x", h)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	release := func(h string) {
		t.Helper()
		if err := l.Release(ctx, "x", h); err != nil {
			t.Fatal(err)
		}
	}
	near := func(d, want time.Duration) bool { return d > want-40*time.Millisecond && d <= want+time.Millisecond }
	if d := book("h0"); d != 0 {
		t.Fatalf("h0 waits %v", d)
	}
	for i := 1; i <= 4; i++ {
		if d := book(fmt.Sprintf("h%d", i)); !near(d, time.Duration(i)*100*time.Millisecond) {
			t.Fatalf("h%d waits %v; want %v", i, d, time.Duration(i)*100*time.Millisecond)
		}
	}
	release("h4") // the last: its call is free again
	if d := book("h5"); !near(d, 400*time.Millisecond) {
		t.Errorf("after the last gave up, a newcomer waits %v; want its 400ms", d)
	}
	release("h2") // in the middle: lost while h3 and h5 hold later calls
	if d := book("h6"); !near(d, 500*time.Millisecond) {
		t.Errorf("after h2 gave up, a newcomer waits %v; want 500ms (behind h3 and h5)", d)
	}
	release("h6")
	release("h5")
	release("h3") // now h2's call ends the line too: all three come back
	if d := book("h7"); !near(d, 200*time.Millisecond) {
		t.Errorf("after h2, h3, h5 and h6 gave up, a newcomer waits %v; want h2's 200ms", d)
	}
	release("nobody") // nothing booked: nothing happens
	// h1 comes 60ms after its time, later than Late: it books again, behind h7.
	time.Sleep(160 * time.Millisecond)
	if d := book("h1"); d == 0 || d > 150*time.Millisecond {
		t.Errorf("h1, late, waits %v; want a new call after h7's", d)
	}
	if err := l.Release(ctx, "nope", "h1"); err == nil {
		t.Error("Release of an unknown limit: no error")
	}
}
