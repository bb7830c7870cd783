package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/jobs/kie"
)

// notReadyError says KIE is still making the video: the poll is simply due again after a
// delay. It is not a failure and uses up no retry.
type notReadyError struct {
	id    string
	delay time.Duration
}

func (e *notReadyError) Error() string {
	// Asynq keeps this message in every scheduled poll task (Asynqmon shows it beside the
	// payload, which names the task): short, it saves Redis memory on every followed task.
	return fmt.Sprintf("not ready; next poll in %v", e.delay.Round(100*time.Millisecond))
}

// rateLimitedError says the shared limiter or KIE asked us to wait. Not a failure either.
type rateLimitedError struct {
	delay time.Duration
	cause string
}

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("rate limited by %s; trying again in %v", e.cause, e.delay.Round(time.Millisecond))
}

// Backoff computes retry delays. It is the RetryDelayFunc and IsFailure of both servers.
type Backoff struct {
	Base time.Duration // delay after the first transient failure (default 1s)
	Max  time.Duration // cap on the delay (default 5m)
}

func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = time.Second
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Minute
	}
	return b
}

// RetryDelay is an asynq.RetryDelayFunc. Not-ready and rate-limited errors carry their own
// delay; a lost lease is retried at once; anything else backs off exponentially (Base·2ⁿ,
// capped at Max) with ±25 % jitter, and never sooner than KIE's Retry-After.
func (b Backoff) RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	b = b.withDefaults()
	switch e := err.(type) { // the errors of every poll, without errors.As
	case *notReadyError:
		return DueIn(e.delay)
	case *rateLimitedError:
		return DueIn(min(e.delay, b.Max))
	case *outageError:
		return DueIn(e.delay)
	}
	var nr *notReadyError
	var rl *rateLimitedError
	var oe *outageError
	switch {
	case errors.As(err, &nr):
		return DueIn(nr.delay)
	case errors.As(err, &rl):
		return DueIn(min(rl.delay, b.Max)) // a server's Retry-After is capped too
	case errors.As(err, &oe):
		return DueIn(oe.delay)
	case errors.Is(err, asynq.ErrLeaseExpired):
		return DueIn(b.Base)
	}
	d := b.Max
	if n < 30 && b.Base<<n < b.Max && b.Base<<n > 0 {
		d = b.Base << n
	}
	d = jitter(d, 0.25)
	if ra := kie.RetryAfterOf(err); ra > d {
		d = ra
	}
	var h interface{ RetryAfter() time.Duration }
	if errors.As(err, &h) && h.RetryAfter() > d {
		d = h.RetryAfter()
	}
	return DueIn(min(d, b.Max)) // a Retry-After of years must not park a task for years
}

// DueIn turns "run in d" into a delay that Asynq cannot run early. Asynq keeps due times in
// whole Unix seconds (rounded down) and runs a task once that second has begun, so a task
// due at 12.9 s may run at 12.0 s. Rounding the due time up to the next whole second makes
// every run happen at or after the time asked for, never before: a poll is never early,
// at the price of up to a second of lateness (and sub-second intervals act like ~1 s).
func DueIn(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	now := time.Now()
	due := now.Add(d).Truncate(time.Second)
	if due.Before(now.Add(d)) {
		due = due.Add(time.Second)
	}
	return due.Sub(now) + time.Millisecond
}

// IsFailure is an asynq IsFailure func: a poll that found the video pending, a wait imposed
// by a rate limit, a wait for a dependency to come back (IsOutage), and a lease lost to a
// crashed worker are not failures and use up no retry.
func IsFailure(err error) bool {
	switch err.(type) {
	case nil, *notReadyError, *rateLimitedError, *outageError: // every poll: no errors.As needed
		return false
	}
	var nr *notReadyError
	var rl *rateLimitedError
	return err != nil && !errors.As(err, &nr) && !errors.As(err, &rl) && !IsOutage(err) && !errors.Is(err, asynq.ErrLeaseExpired)
}

// jitter returns d moved by a random fraction of at most ±frac.
func jitter(d time.Duration, frac float64) time.Duration {
	if d <= 0 {
		return d
	}
	return d + time.Duration((rand.Float64()*2-1)*frac*float64(d))
}

// pollOutcome names what a record-info reply means: PollReady, PollFailed or PollPending.
func pollOutcome(vr *kie.VideoRecord) string {
	switch {
	case vr.Ready():
		return PollReady
	case vr.Status.Failed():
		return PollFailed
	}
	return PollPending
}

// pollErrorOutcome is the one classifier of a failed record-info call: PollCanceled (the
// worker stopped or the attempt timed out), PollNotFound, PollRateLimited, PollError (a
// transient error, retried with backoff) or PollRefused (permanent). Poller.onError acts on
// its answer and the poll hook reports it, so the retry policy and the metrics never
// disagree.
func pollErrorOutcome(ctx context.Context, err error) string {
	var apiErr *kie.APIError
	isAPI := errors.As(err, &apiErr)
	switch {
	case ctx.Err() != nil:
		return PollCanceled
	case isAPI && apiErr.NotFound():
		return PollNotFound
	case isAPI && apiErr.RateLimited():
		return PollRateLimited
	case kie.IsTemporary(err):
		return PollError
	}
	return PollRefused
}
