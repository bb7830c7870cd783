package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
)

// Waiting holders get successive calls in the order they asked, asking again before the
// booked call comes books nothing more, and a holder whose call has come goes ahead once.
func TestLimiterReserveInLine(t *testing.T) {
	ctx := context.Background()
	// 4 calls per second, no burst: one every 250ms.
	l, _ := newLimiter(t, map[string]store.Limit{"x": {Rate: 4, Period: time.Second, Burst: 1}})
	var _ jobs.Reserver = l
	var waits []time.Duration
	for i := range 5 {
		d, err := l.Reserve(ctx, "x", fmt.Sprintf("h%d", i))
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, d)
	}
	if waits[0] != 0 {
		t.Errorf("first holder waits %v; want 0", waits[0])
	}
	for i := 1; i < len(waits); i++ {
		want := time.Duration(i) * 250 * time.Millisecond
		if d := waits[i]; d < want-100*time.Millisecond || d > want+10*time.Millisecond {
			t.Errorf("holder %d waits %v; want about %v (its turn in line)", i, d, want)
		}
	}
	// Asking again early keeps the same booking: the wait shrinks, the line does not grow.
	if d, _ := l.Reserve(ctx, "x", "h2"); d <= 0 || d > waits[2] {
		t.Errorf("h2 asking again waits %v; want (0, %v]", d, waits[2])
	}
	if d, _ := l.Reserve(ctx, "x", "h5"); d < waits[4]+150*time.Millisecond {
		t.Errorf("a new holder waits %v; want after h4's turn (%v + 250ms)", d, waits[4])
	}
	// Once its call has come, h1 goes ahead, once.
	time.Sleep(waits[1] + 20*time.Millisecond)
	if d, err := l.Reserve(ctx, "x", "h1"); err != nil || d != 0 {
		t.Fatalf("h1 after its wait: %v, %v; want 0", d, err)
	}
	if d, _ := l.Reserve(ctx, "x", "h1"); d == 0 {
		t.Error("h1 went ahead twice on one booking")
	}
	if _, err := l.Reserve(ctx, "nope", "h1"); err == nil {
		t.Error("unknown limit: no error")
	}
}

// Over time, Reserve lets no more calls through than the limit allows: holders that come
// back when told go ahead at the sustained rate.
func TestLimiterReserveRate(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 1.5s")
	}
	ctx := context.Background()
	lim := store.Window(10, time.Second) // burst 2, then 9/s
	l, _ := newLimiter(t, map[string]store.Limit{"x": lim})
	start := time.Now()
	next := map[string]time.Time{}
	went := 0
	for time.Since(start) < 1500*time.Millisecond {
		for i := range 30 {
			h := fmt.Sprintf("h%d", i)
			if time.Now().Before(next[h]) {
				continue
			}
			d, err := l.Reserve(ctx, "x", h)
			if err != nil {
				t.Fatal(err)
			}
			if d == 0 {
				went++
				next[h] = time.Now().Add(time.Hour) // served: out of line
			} else {
				next[h] = time.Now().Add(d)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	// 1.5 s admit at most burst + 1.5 × rate (+1 for the edges).
	if max := lim.Burst + lim.Rate*3/2 + 1; went > max {
		t.Errorf("%d calls went ahead in 1.5s; want at most %d", went, max)
	}
	if went < lim.Rate {
		t.Errorf("only %d calls went ahead in 1.5s; the line is not moving", went)
	}
}
