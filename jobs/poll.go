package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/jobs/kie"
)

// Details is the part of the KIE API the poll handler needs.
type Details interface {
	VideoDetails(ctx context.Context, taskID string) (*kie.VideoRecord, error)
}

// Enqueuer puts tasks on Asynq queues. *asynq.Client implements it.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// PollConfig tunes the poll handler.
type PollConfig struct {
	Interval        time.Duration // time between polls of one task (default 30s), ±10 % jitter
	Budget          time.Duration // how long a task may stay pending (default 2h) before timed_out
	NotFoundGrace   time.Duration // how long KIE may not know a task (default 2m) before failed
	DownloadTimeout time.Duration // bound on one download attempt (default 1h)
}

func (c PollConfig) withDefaults() PollConfig {
	if c.Interval <= 0 {
		c.Interval = 30 * time.Second
	}
	if c.Budget <= 0 {
		c.Budget = 2 * time.Hour
	}
	if c.NotFoundGrace <= 0 {
		c.NotFoundGrace = 2 * time.Minute
	}
	if c.DownloadTimeout <= 0 {
		c.DownloadTimeout = time.Hour
	}
	return c
}

// Poller handles mp4:poll tasks: one record-info call per run, then either a state change
// or a not-ready error that schedules the next poll.
type Poller struct {
	KIE      Details
	Store    Store
	Limiter  Limiter
	Enqueuer Enqueuer
	Queues   Queues
	Config   PollConfig
	Log      *slog.Logger
	NowFunc  func() time.Time // default time.Now
	Hooks    *Hooks           // optional observers (metrics)
	Breaker  *Breaker         // optional: shared KIE outage state (nil: every task retries on its own)
	JobsKIE  Details          // KIE's jobs API, for records on it (nil: records are polled on the legacy API only)
}

// pollAttempt is one run of a poll task: the Poller with its defaults filled in once.
type pollAttempt struct {
	*Poller
	recorder
	cfg PollConfig
}

// ProcessTask implements asynq.Handler.
func (p *Poller) ProcessTask(ctx context.Context, t *asynq.Task) error {
	a := &pollAttempt{Poller: p, recorder: newRecorder(p.Store, p.Log, p.NowFunc, p.Hooks), cfg: p.Config.withDefaults()}
	err := a.poll(ctx, t)
	if err != nil && !IsFailure(err) && lastAttempt(ctx) {
		return a.retriesSpent(ctx, t, err)
	}
	return err
}

// retriesSpent ends the record of a poll that asked to run again (not ready, or rate limited)
// when its task has no retry left: Asynq archives such a task whatever IsFailure says, which
// would leave the record pending with nothing left to poll it.
func (a *pollAttempt) retriesSpent(ctx context.Context, t *asynq.Task, err error) error {
	id, _, ierr := taskRef(t)
	if ierr != nil { // cannot happen: poll validated it before it could ask to run again
		return ierr
	}
	n, _ := asynq.GetRetryCount(ctx) // known: lastAttempt checked it
	msg := fmt.Sprintf("polling mp4 task %s used up its retries on %d transient errors (the last answer: %v); run `kiemv retry %s` to follow it again", id, n, err, id)
	if rec, cerr := a.change(ctx, id, Change{To: StateFailed, Error: msg, CompletedAt: a.now()}); cerr != nil || rec == nil {
		return cerr // nil when stale: the record is another generation's now
	}
	return fmt.Errorf("%s: %w", msg, asynq.SkipRetry)
}

// poll is one run of a poll task.
func (a *pollAttempt) poll(ctx context.Context, t *asynq.Task) error {
	id, gen, err := taskRef(t)
	if err != nil {
		return err
	}
	if err := a.Breaker.wait(ctx, DepKIE); err != nil {
		a.hooks.poll(PollOutage) // KIE is down: wait for the probe, without a Redis read of the record
		return err
	}
	rec, call, err := a.start(ctx, id, gen)
	if rec == nil || err != nil {
		return err
	}
	switch rec.State { // a call was taken only when pending
	case StatePending:
	case StateReady: // an earlier run set it ready but may have died before enqueueing
		return a.enqueueDownload(ctx, rec)
	default:
		return nil
	}
	now := a.now()
	if now.Sub(followedSince(rec)) > a.cfg.Budget {
		msg := fmt.Sprintf("KIE did not finish mp4 task %s within the poll budget of %v; run `kiemv retry %s` to follow it again", id, a.cfg.Budget, id)
		a.hooks.poll(PollTimedOut)
		if call.wait > 0 {
			releaseSlot(ctx, a.Limiter.(Reserver), LimitRecordInfo, id)
		}
		_, err := a.change(ctx, id, Change{To: StateTimedOut, Error: msg, CompletedAt: now})
		return err
	}
	if wait, err := a.allow(ctx, id, call); err != nil {
		return fmt.Errorf("poll %s: rate limiter: %w", id, err)
	} else if wait > 0 {
		a.hooks.poll(PollThrottled)
		return &rateLimitedError{delay: wait, cause: "kiemv's shared record-info limit"}
	}
	vr, err := a.details(ctx, rec)
	if err != nil {
		outcome := pollErrorOutcome(ctx, err)
		a.hooks.poll(outcome)
		if outcome != PollError && outcome != PollCanceled {
			a.Breaker.succeeded(ctx, DepKIE) // KIE answered, if only to refuse
		}
		return a.onError(ctx, rec, err, outcome)
	}
	a.Breaker.succeeded(ctx, DepKIE)
	a.hooks.poll(pollOutcome(vr))
	return a.onReply(ctx, id, vr, a.now()) // when the reply came: the poll may have waited for its slot
}

// ended is the error of a change that ended the record (failed, timed out): SkipRetry. When
// the change was dropped (rec nil: the record moved on meanwhile) the task ends quietly.
func ended(rec *Record, msg string) error {
	if rec == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", msg, asynq.SkipRetry)
}

// onReply records what a record-info reply says: ready (and its download queued), failed,
// or still pending (and the next poll scheduled).
func (a *pollAttempt) onReply(ctx context.Context, id string, vr *kie.VideoRecord, now time.Time) error {
	ch := Change{AddPolls: 1, KIEStatus: string(vr.Status)}
	switch pollOutcome(vr) {
	case PollReady:
		ch.To, ch.VideoURL, ch.CompletedAt = StateReady, vr.VideoURL, now
		rec, err := a.change(ctx, id, ch)
		if rec == nil || err != nil {
			return err
		}
		return a.enqueueDownload(ctx, rec)
	case PollFailed:
		ch.To, ch.CompletedAt = StateFailed, now
		ch.Error = fmt.Sprintf("KIE could not make mp4 task %s: %s", id, vr.Status)
		if vr.ErrorCode != 0 || vr.ErrorMessage != "" {
			ch.Error += fmt.Sprintf(" (code %d: %s)", vr.ErrorCode, vr.ErrorMessage)
		}
		return a.fail(ctx, id, ch)
	default: // PENDING, CALLBACK_EXCEPTION without a URL, or a status we do not know
		ch.Brief = true
		if rec, err := a.change(ctx, id, ch); rec == nil || err != nil {
			return err
		}
		return a.notReady(id)
	}
}

// onError acts on what pollErrorOutcome made of a failed record-info call: the retry policy.
func (a *pollAttempt) onError(ctx context.Context, rec *Record, err error, outcome string) error {
	id, now := rec.TaskID, a.now()
	switch outcome {
	case PollCanceled:
		return err // shutting down or timed out: Asynq hands the task back
	case PollNotFound:
		if now.Sub(followedSince(rec)) < a.cfg.NotFoundGrace {
			if !a.note(ctx, id, Change{AddPolls: 1}) {
				return nil
			}
			return a.notReady(id)
		}
		msg := fmt.Sprintf("KIE has no MP4 task %s; check the id (it is the id /api/v1/mp4/generate returned), then `kiemv track` the right one", id)
		return a.fail(ctx, id, Change{AddPolls: 1, To: StateFailed, Error: msg, CompletedAt: now})
	case PollRateLimited:
		if !a.note(ctx, id, Change{AddPolls: 1}) {
			return nil
		}
		d, cause := kie.RetryAfterOf(err), "KIE"
		var apiErr *kie.APIError
		if errors.As(err, &apiErr) { // always: only KIE's replies say "rate limited"
			cause += " (" + apiErr.Msg + ")"
		}
		if d <= 0 {
			d = jitter(a.cfg.Interval, 0.10)
		}
		return &rateLimitedError{delay: d, cause: cause}
	case PollError:
		if !a.note(ctx, id, Change{AddPolls: 1}) {
			return nil
		}
		if wait := a.Breaker.failed(ctx, DepKIE, id); wait != nil {
			return wait // KIE is down for many tasks (or this one looks once more): no retry used
		}
		if lastAttempt(ctx) {
			msg := fmt.Sprintf("polling mp4 task %s gave up after %d transient errors, the last: %v; run `kiemv retry %s` once KIE is healthy", id, PollMaxRetry, err, id)
			return a.fail(ctx, id, Change{To: StateFailed, Error: msg, CompletedAt: now})
		}
		return fmt.Errorf("poll %s: %w", id, err)
	default: // PollRefused, permanent: bad key, no credits, validation…
		msg := fmt.Sprintf("KIE refused record-info for mp4 task %s: %v", id, err)
		return a.fail(ctx, id, Change{AddPolls: 1, To: StateFailed, Error: msg, CompletedAt: now})
	}
}

// fail applies a change that ends the record and returns its error, which Asynq does not
// retry. When the change cannot be saved, that error is returned instead, to be retried;
// when it was dropped (the record moved on), the task ends quietly.
func (a *pollAttempt) fail(ctx context.Context, id string, ch Change) error {
	rec, err := a.change(ctx, id, ch)
	if err != nil {
		return err
	}
	return ended(rec, ch.Error)
}

// slot is the record-info call start took for a poll, if it took one.
type slot struct {
	taken bool          // the limiter answered for this poll already
	wait  time.Duration // its answer: 0 go ahead, else the wait until the call booked
}

// start reads the record of the poll and fences the attempt on it, as load does. With a
// LoadReserver it also takes the poll's record-info call in the same round trip (when the
// record is pending and of the task's generation): in the steady state a poll then costs
// two Redis round trips, this one and the one that writes its outcome.
func (a *pollAttempt) start(ctx context.Context, id string, gen int64) (*Record, slot, error) {
	lr, ok := a.Limiter.(LoadReserver)
	if !ok {
		rec, err := a.load(ctx, "poll", id, gen)
		return rec, slot{}, err
	}
	rec, wait, booked, err := lr.LoadReserve(ctx, LimitRecordInfo, id, gen)
	if rec, err = a.fence("poll", id, gen, rec, err); rec == nil || err != nil {
		return nil, slot{}, err // nothing booked: a stale or missing record takes no call
	}
	return rec, slot{taken: booked, wait: wait}, nil
}

// allow takes a record-info call for id from the shared limit (unless start took it: s), in
// line when it can: 0 when the call may go ahead now (after waiting for it here when it was
// booked at most pollWaitHere away), else how long Asynq should wait before running the poll
// again, so that it runs a little before its booked call and waits the rest here.
func (a *pollAttempt) allow(ctx context.Context, id string, s slot) (time.Duration, error) {
	if r, ok := a.Limiter.(Reserver); ok {
		var d time.Duration
		var err error
		if s.taken {
			d, err = awaitSlot(ctx, r, LimitRecordInfo, id, pollWaitHere, s.wait)
		} else {
			d, err = takeSlot(ctx, r, LimitRecordInfo, id, pollWaitHere)
		}
		if d > 0 {
			d -= pollRunAhead
		}
		return d, err
	}
	return a.Limiter.Allow(ctx, LimitRecordInfo)
}

// notReady is the error that schedules the next poll of id after the interval, ±10 %.
func (a *pollAttempt) notReady(id string) error {
	d := jitter(a.cfg.Interval, 0.10)
	a.hooks.scheduled(id, time.Now().Add(d))
	return &notReadyError{id: id, delay: d}
}

// enqueueDownload queues the download of rec's generation; one queued already is fine.
func (a *pollAttempt) enqueueDownload(ctx context.Context, rec *Record) error {
	_, err := a.Enqueuer.EnqueueContext(ctx, NewDownloadTask(rec.TaskID, rec.Generation, a.Queues, a.cfg.DownloadTimeout))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("mp4 task %s is ready but its download could not be queued: %w", rec.TaskID, err)
	}
	return nil
}

// followedSince is when the current follow began: creation, or the last retry.
func followedSince(rec *Record) time.Time {
	if rec.RetriedAt.After(rec.CreatedAt) {
		return rec.RetriedAt
	}
	return rec.CreatedAt
}

// lastAttempt reports whether the running task has no retry left.
func lastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	max, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= max
}
