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
}

// ProcessTask implements asynq.Handler.
func (p *Poller) ProcessTask(ctx context.Context, t *asynq.Task) error {
	err := p.poll(ctx, t)
	if err != nil && !IsFailure(err) && lastAttempt(ctx) {
		return p.retriesSpent(ctx, t, err)
	}
	return err
}

// retriesSpent ends the record of a poll that asked to run again (not ready, or rate limited)
// when its task has no retry left: Asynq archives such a task whatever IsFailure says, which
// would leave the record pending with nothing left to poll it.
func (p *Poller) retriesSpent(ctx context.Context, t *asynq.Task, err error) error {
	id, _ := taskRecordID(t) // poll already validated it
	n, _ := asynq.GetRetryCount(ctx)
	msg := fmt.Sprintf("polling mp4 task %s used up its retries on %d transient errors (the last answer: %v); run `kiemv retry %s` to follow it again", id, n, err, id)
	if _, cerr := p.change(ctx, id, Change{To: StateFailed, Error: msg, CompletedAt: p.now()}); cerr != nil {
		return cerr
	}
	return fmt.Errorf("%s: %w", msg, asynq.SkipRetry)
}

// poll is one run of a poll task.
func (p *Poller) poll(ctx context.Context, t *asynq.Task) error {
	cfg := p.Config.withDefaults()
	id, err := taskRecordID(t)
	if err != nil {
		return err
	}
	rec, err := p.Store.Get(ctx, id)
	if errors.Is(err, ErrNoRecord) {
		p.log().Warn("poll for a task kiemv does not follow; dropping it", "task_id", id)
		return nil
	} else if err != nil {
		return err
	}
	switch rec.State {
	case StatePending:
	case StateReady: // an earlier run set it ready but may have died before enqueueing
		return p.enqueueDownload(ctx, id, cfg)
	default:
		return nil
	}
	now := p.now()
	if now.Sub(followedSince(rec)) > cfg.Budget {
		msg := fmt.Sprintf("KIE did not finish mp4 task %s within the poll budget of %v; run `kiemv retry %s` to follow it again", id, cfg.Budget, id)
		p.Hooks.poll(PollTimedOut)
		_, err := p.change(ctx, id, Change{To: StateTimedOut, Error: msg, CompletedAt: now})
		return err
	}
	if wait, err := p.allow(ctx, id); err != nil {
		return fmt.Errorf("poll %s: rate limiter: %w", id, err)
	} else if wait > 0 {
		p.Hooks.poll(PollThrottled)
		return &rateLimitedError{delay: wait, cause: "kiemv's shared record-info limit"}
	}
	vr, err := p.KIE.VideoDetails(ctx, id)
	if err != nil {
		p.Hooks.poll(pollErrorOutcome(ctx, err))
		return p.onError(ctx, rec, err, cfg)
	}
	p.Hooks.poll(pollOutcome(vr))
	ch := Change{AddPolls: 1, KIEStatus: string(vr.Status)}
	switch {
	case vr.Ready():
		ch.To, ch.VideoURL, ch.CompletedAt = StateReady, vr.VideoURL, now
		if _, err := p.change(ctx, id, ch); err != nil {
			return err
		}
		return p.enqueueDownload(ctx, id, cfg)
	case vr.Status.Failed():
		ch.To, ch.CompletedAt = StateFailed, now
		ch.Error = fmt.Sprintf("KIE could not make mp4 task %s: %s", id, vr.Status)
		if vr.ErrorCode != 0 || vr.ErrorMessage != "" {
			ch.Error += fmt.Sprintf(" (code %d: %s)", vr.ErrorCode, vr.ErrorMessage)
		}
		if _, err := p.change(ctx, id, ch); err != nil {
			return err
		}
		return fmt.Errorf("%s: %w", ch.Error, asynq.SkipRetry)
	default: // PENDING, CALLBACK_EXCEPTION without a URL, or a status we do not know
		if _, err := p.change(ctx, id, ch); err != nil {
			return err
		}
		return p.notReady(id, cfg)
	}
}

// onError decides what a failed record-info call means for the record.
func (p *Poller) onError(ctx context.Context, rec *Record, err error, cfg PollConfig) error {
	id, now := rec.TaskID, p.now()
	var apiErr *kie.APIError
	isAPI := errors.As(err, &apiErr)
	switch {
	case ctx.Err() != nil:
		return err // shutting down or timed out: Asynq hands the task back
	case isAPI && apiErr.NotFound():
		if now.Sub(followedSince(rec)) < cfg.NotFoundGrace {
			p.change(ctx, id, Change{AddPolls: 1})
			return p.notReady(id, cfg)
		}
		msg := fmt.Sprintf("KIE has no MP4 task %s; check the id (it is the id /api/v1/mp4/generate returned), then `kiemv track` the right one", id)
		if _, cerr := p.change(ctx, id, Change{AddPolls: 1, To: StateFailed, Error: msg, CompletedAt: now}); cerr != nil {
			return cerr
		}
		return fmt.Errorf("%s: %w", msg, asynq.SkipRetry)
	case isAPI && apiErr.RateLimited():
		p.change(ctx, id, Change{AddPolls: 1})
		d := apiErr.RetryAfter
		if d <= 0 {
			d = jitter(cfg.Interval, 0.10)
		}
		return &rateLimitedError{delay: d, cause: "KIE (" + apiErr.Msg + ")"}
	case kie.IsTemporary(err):
		p.change(ctx, id, Change{AddPolls: 1})
		if lastAttempt(ctx) {
			msg := fmt.Sprintf("polling mp4 task %s gave up after %d transient errors, the last: %v; run `kiemv retry %s` once KIE is healthy", id, PollMaxRetry, err, id)
			p.change(ctx, id, Change{To: StateFailed, Error: msg, CompletedAt: now})
			return fmt.Errorf("%s: %w", msg, asynq.SkipRetry)
		}
		return fmt.Errorf("poll %s: %w", id, err)
	default: // permanent: bad key, no credits, validation…
		msg := fmt.Sprintf("KIE refused record-info for mp4 task %s: %v", id, err)
		if _, cerr := p.change(ctx, id, Change{AddPolls: 1, To: StateFailed, Error: msg, CompletedAt: now}); cerr != nil {
			return cerr
		}
		return fmt.Errorf("%s: %w", msg, asynq.SkipRetry)
	}
}

// change applies ch and logs a state change. A conflict (the record moved on, e.g. it was
// canceled meanwhile) is logged and swallowed: there is nothing left to do.
func (p *Poller) change(ctx context.Context, id string, ch Change) (*Record, error) {
	rec, err := applyChange(ctx, p.Store, p.log(), id, ch)
	p.Hooks.state(id, rec, ch)
	return rec, err
}

// allow takes a record-info call for id from the shared limit, in line when it can.
func (p *Poller) allow(ctx context.Context, id string) (time.Duration, error) {
	if r, ok := p.Limiter.(Reserver); ok {
		return r.Reserve(ctx, LimitRecordInfo, id)
	}
	return p.Limiter.Allow(ctx, LimitRecordInfo)
}

// notReady is the error that schedules the next poll of id after the interval, ±10 %.
func (p *Poller) notReady(id string, cfg PollConfig) error {
	d := jitter(cfg.Interval, 0.10)
	p.Hooks.scheduled(id, time.Now().Add(d))
	return &notReadyError{id: id, delay: d}
}

func (p *Poller) enqueueDownload(ctx context.Context, id string, cfg PollConfig) error {
	_, err := p.Enqueuer.EnqueueContext(ctx, NewDownloadTask(id, p.Queues, cfg.DownloadTimeout))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("mp4 task %s is ready but its download could not be queued: %w", id, err)
	}
	return nil
}

func (p *Poller) now() time.Time {
	if p.NowFunc != nil {
		return p.NowFunc()
	}
	return time.Now()
}

func (p *Poller) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
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

// applyChange updates a record, logs a line when its state changes, and swallows conflicts.
func applyChange(ctx context.Context, s Store, log *slog.Logger, id string, ch Change) (*Record, error) {
	rec, err := s.Update(ctx, id, ch)
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrNoRecord) {
		log.Info("record moved on meanwhile; change dropped", "task_id", id, "to", ch.To, "reason", err)
		return nil, nil
	}
	if err != nil {
		return nil, err // the Store's errors name the record
	}
	if ch.To != "" {
		attrs := []any{"task_id", id, "state", rec.State}
		if rec.Error != "" {
			attrs = append(attrs, "error", rec.Error)
		}
		log.Info("state change", attrs...)
	}
	return rec, nil
}
