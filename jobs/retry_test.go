package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
)

func TestIsFailure(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{asynq.ErrLeaseExpired, false},
		{fmt.Errorf("wrapped: %w", asynq.ErrLeaseExpired), false},
		{errors.New("boom"), true},
		{fmt.Errorf("x: %w", asynq.SkipRetry), true},
		{&kie.APIError{Op: "record-info", Code: 455, Msg: "maintenance"}, true},
		{context.DeadlineExceeded, true},
	} {
		if got := jobs.IsFailure(c.err); got != c.want {
			t.Errorf("IsFailure(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// within reports whether d is in [lo, hi].
func within(d, lo, hi time.Duration) bool { return d >= lo && d <= hi }

func TestRetryDelayGrowsExponentiallyWithCap(t *testing.T) {
	t.Parallel()
	b := jobs.Backoff{Base: time.Second, Max: time.Minute}
	err := errors.New("transient")
	for n := 0; n < 40; n++ {
		want := time.Minute
		if n < 6 { // 1s·2⁶ = 64s is over the cap
			want = time.Second << n
		}
		lo, hi := want*3/4, want*5/4+time.Second+2*time.Millisecond // ±25 % jitter, whole-second rounding
		for range 20 {
			if d := b.RetryDelay(n, err, nil); !within(d, lo, hi) {
				t.Fatalf("RetryDelay(%d) = %v, want within [%v, %v]", n, d, lo, hi)
			}
		}
	}
	if d := b.RetryDelay(1000, err, nil); !within(d, 45*time.Second, 76*time.Second) {
		t.Errorf("RetryDelay(1000) = %v: the shift must not overflow past the cap", d)
	}
}

func TestRetryDelayDefaults(t *testing.T) {
	t.Parallel()
	var b jobs.Backoff // Base 1s, Max 5m
	if d := b.RetryDelay(0, errors.New("x"), nil); !within(d, 750*time.Millisecond, 2300*time.Millisecond) {
		t.Errorf("default first delay = %v", d)
	}
	if d := b.RetryDelay(30, errors.New("x"), nil); !within(d, 225*time.Second, 377*time.Second) {
		t.Errorf("default capped delay = %v", d)
	}
	if d := b.RetryDelay(25, asynq.ErrLeaseExpired, nil); d > 2100*time.Millisecond {
		t.Errorf("a lost lease waits %v; it is retried (about) at once", d)
	}
}

func TestRetryDelayHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	b := jobs.Backoff{Base: time.Second, Max: time.Minute}
	apiErr := &kie.APIError{Op: "record-info", HTTPStatus: 503, Msg: "busy", RetryAfter: 30 * time.Second}
	for _, err := range []error{apiErr, fmt.Errorf("poll x: %w", apiErr)} {
		if d := b.RetryDelay(0, err, nil); !within(d, 30*time.Second, 31100*time.Millisecond) {
			t.Errorf("RetryDelay with Retry-After 30s = %v", d)
		}
	}
	// Every Retry-After is capped by Max: a server cannot park a task for years (issue 14).
	apiErr = &kie.APIError{Op: "record-info", HTTPStatus: 503, Msg: "busy", RetryAfter: 95 * 365 * 24 * time.Hour}
	if d := b.RetryDelay(0, apiErr, nil); !within(d, time.Minute, time.Minute+1100*time.Millisecond) {
		t.Errorf("RetryDelay with Retry-After 95 years = %v; want Max (1m)", d)
	}
	// A Retry-After shorter than the backoff does not shorten it.
	apiErr = &kie.APIError{Op: "record-info", HTTPStatus: 503, RetryAfter: time.Second}
	if d := b.RetryDelay(5, apiErr, nil); d < 24*time.Second {
		t.Errorf("RetryDelay(5) with Retry-After 1s = %v; want the backoff (≥ 24s)", d)
	}
}

// TestDueInNeverEarly checks the property Asynq's whole-second due times need: whatever
// delay is asked for, the second Asynq stores (the due time rounded down) is not before it.
func TestDueInNeverEarly(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		var d time.Duration
		switch i % 4 {
		case 0:
			d = time.Duration(r.Int64N(int64(3 * time.Second)))
		case 1:
			d = time.Duration(r.Int64N(int64(time.Hour)))
		case 2:
			d = time.Duration(r.Int64N(1000)) * time.Millisecond // whole milliseconds
		case 3:
			d = time.Duration(r.Int64N(100)) * time.Second // whole seconds
		}
		if d <= 0 {
			continue // "at once": Asynq makes the task pending, not scheduled
		}
		before := time.Now()
		got := jobs.DueIn(d)
		stored := time.Now().Add(got).Truncate(time.Second) // what Asynq keeps: Unix seconds
		if stored.Before(before.Add(d)) {
			t.Fatalf("DueIn(%v) = %v: the task would run at %v, %v early",
				d, got, stored, before.Add(d).Sub(stored))
		}
		if got > d+time.Second+10*time.Millisecond {
			t.Fatalf("DueIn(%v) = %v: more than a second late", d, got)
		}
	}
	for _, d := range []time.Duration{0, -time.Second} {
		if got := jobs.DueIn(d); got != 0 {
			t.Errorf("DueIn(%v) = %v, want 0", d, got)
		}
	}
}
