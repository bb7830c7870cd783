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

// songCreateWait bounds how long the song handler waits for each take's create slot: past
// it, the task goes back to Asynq (no retry used) and tries again, leaving its worker slot.
const songCreateWait = time.Minute

// SongPoller handles song:poll tasks. While the song is pending, each run makes one music
// record-info call, within the shared record-info limit (so a task is asked at most once per
// run; runs are at least a second apart, within KIE's 3 per second per task): still making →
// the next poll after the interval; failed → the song fails with KIE's code and message;
// SUCCESS (or CALLBACK_EXCEPTION with every take's audio) → the takes are saved and the song
// is submitting. While submitting, it submits each take's MP4 through Service.Submit, saving
// each MP4 task id as it comes: a crash or rerun mid-way never creates a take twice.
type SongPoller struct {
	KIE     MusicDetails
	Songs   SongStore
	Service *Service // submits the takes' MP4s: its Store, KIE, Limiter, Enqueuer and Queues
	Limiter Limiter  // the shared record-info limit
	Config  PollConfig
	Log     *slog.Logger
	NowFunc func() time.Time // default time.Now
	Breaker *Breaker         // optional: shared KIE outage state, as for MP4 polls
	// MP4Credits is what one MP4 costs (0: DefaultMP4Credits), for songs with MaxCredits.
	MP4Credits float64
}

// songAttempt is one run of a song:poll task.
type songAttempt struct {
	*SongPoller
	ambient
	cfg PollConfig
	id  string
	gen int64
}

// ProcessTask implements asynq.Handler.
func (p *SongPoller) ProcessTask(ctx context.Context, t *asynq.Task) error {
	id, gen, err := taskRef(t)
	if err != nil {
		return err
	}
	a := &songAttempt{SongPoller: p, ambient: ambientOf(p.Log, p.NowFunc), cfg: p.Config.withDefaults(), id: id, gen: gen}
	err = a.run(ctx)
	if err != nil && !IsFailure(err) && lastAttempt(ctx) {
		n, _ := asynq.GetRetryCount(ctx)
		return a.fail(ctx, fmt.Sprintf("following song %s used up its retries (%d; the last answer: %v); run `kiemv submit --task-id %s` again", id, n, err, id))
	}
	return err
}

func (a *songAttempt) run(ctx context.Context) error {
	sg, err := a.Songs.GetSong(ctx, a.id)
	switch {
	case errors.Is(err, ErrNoSong):
		a.log.Warn("song:poll for a song kiemv does not follow; dropping it", "music_task_id", a.id)
		return nil
	case err != nil:
		return err
	case sg.Generation != a.gen:
		a.log.Info("stale song:poll task; dropping it", "music_task_id", a.id, "task_generation", a.gen, "song_generation", sg.Generation)
		return nil
	}
	switch sg.State {
	case SongPending:
	case SongSubmitting:
		return a.submitTakes(ctx, sg)
	default:
		return nil
	}
	now := a.now()
	if now.Sub(songFollowedSince(sg)) > a.cfg.Budget {
		return a.end(ctx, SongTimedOut, fmt.Sprintf("KIE did not finish music task %s within the poll budget of %v; run `kiemv submit --task-id %s` to follow it again", a.id, a.cfg.Budget, a.id))
	}
	if err := a.Breaker.wait(ctx, DepKIE); err != nil {
		return err // KIE is down: wait for the probe, no retry used
	}
	if wait, err := a.allow(ctx); err != nil {
		return fmt.Errorf("poll song %s: rate limiter: %w", a.id, err)
	} else if wait > 0 {
		return &rateLimitedError{delay: wait, cause: "kiemv's shared record-info limit"}
	}
	mr, err := a.KIE.MusicDetails(ctx, a.id)
	if err != nil {
		return a.onError(ctx, sg, err)
	}
	a.Breaker.succeeded(ctx, DepKIE)
	switch {
	case mr.Status.Failed():
		msg := fmt.Sprintf("KIE could not make music task %s: %s", a.id, mr.Status)
		if mr.ErrorCode != 0 || mr.ErrorMessage != "" {
			msg += fmt.Sprintf(" (code %d: %s)", mr.ErrorCode, mr.ErrorMessage)
		}
		return a.end(ctx, SongFailed, msg, func(s *Song) { s.KIEStatus, s.Polls = string(mr.Status), s.Polls+1 })
	case mr.Done():
		takes := make([]SongTake, 0, len(mr.Takes))
		for _, tk := range mr.Takes {
			if err := ValidateID("audio id", tk.AudioID); err != nil {
				return a.end(ctx, SongFailed, fmt.Sprintf("music task %s has a take kiemv cannot use: %v", a.id, err))
			}
			takes = append(takes, SongTake{AudioID: tk.AudioID, Title: tk.Title})
		}
		sg, err := a.update(ctx, SongPending, func(s *Song) {
			s.State, s.KIEStatus, s.Polls, s.CompletedAt = SongSubmitting, string(mr.Status), s.Polls+1, now
			s.Takes = mergeTakes(s.Takes, takes)
		})
		if sg == nil || err != nil {
			return err
		}
		a.log.Info("song's takes are known; creating their videos", "music_task_id", a.id, "takes", len(sg.Takes))
		return a.submitTakes(ctx, sg)
	}
	if sg, err := a.update(ctx, SongPending, func(s *Song) { s.KIEStatus, s.Polls = string(mr.Status), s.Polls+1 }); sg == nil || err != nil {
		return err
	}
	return a.notReady()
}

// mergeTakes returns the takes KIE reports, keeping the MP4 task id an earlier generation saved
// for each: a song followed again never creates a take's video twice.
func mergeTakes(old, fresh []SongTake) []SongTake {
	for i := range fresh {
		for _, o := range old {
			if o.AudioID == fresh[i].AudioID {
				fresh[i].MP4TaskID = o.MP4TaskID
			}
		}
	}
	return fresh
}

// submitTakes creates the MP4 of each take that has none yet, saving each id as it comes,
// then marks the song submitted.
func (a *songAttempt) submitTakes(ctx context.Context, sg *Song) error {
	req := SongRequest{MusicTaskID: sg.TaskID, Author: sg.Author, Domain: sg.Domain, CallbackURL: sg.CallbackURL}
	budget := a.budget(sg)
	for _, tk := range sg.Takes {
		if tk.MP4TaskID != "" {
			continue
		}
		sr := req.take(tk.AudioID)
		sr.Timeout, sr.Budget = songCreateWait, budget
		rec, _, err := a.Service.Submit(ctx, sr)
		var apiErr *kie.APIError
		switch {
		case errors.Is(err, ErrWaitTimeout):
			return &rateLimitedError{delay: 5 * time.Second, cause: "kiemv's shared create limit (song " + a.id + ")"}
		case err != nil && ctx.Err() != nil:
			return err // shutting down: Asynq hands the task back
		case errors.Is(err, ErrOverBudget) || errors.Is(err, ErrInsufficientCredits):
			return a.end(ctx, SongFailed, fmt.Sprintf("the video of take %s (%q) of song %s was not created: %v; run `kiemv submit --task-id %s` again (after a top-up, or with a larger --max-credits): takes already made are not made twice",
				tk.AudioID, tk.Title, a.id, err, a.id))
		case err != nil && (errors.Is(err, ErrBadID) || (errors.As(err, &apiErr) && !apiErr.Temporary())):
			// KIE refused it for good (no credits, validation…): retrying cannot help.
			return a.end(ctx, SongFailed, fmt.Sprintf("the video of take %s (%q) of song %s could not be created: %v; once fixed, run `kiemv submit --task-id %s` again: takes already made are not made twice",
				tk.AudioID, tk.Title, a.id, err, a.id))
		case err != nil: // transient at KIE, or Redis: a counted retry
			return fmt.Errorf("song %s: the video of take %s: %w", a.id, tk.AudioID, err)
		}
		if sg, err = a.update(ctx, SongSubmitting, func(s *Song) {
			for j := range s.Takes {
				if s.Takes[j].AudioID == tk.AudioID {
					s.Takes[j].MP4TaskID = rec.TaskID
				}
			}
		}); sg == nil || err != nil {
			return err
		}
	}
	sg, err := a.update(ctx, SongSubmitting, func(s *Song) { s.State = SongSubmitted })
	if sg != nil {
		a.log.Info("song submitted: every take has its video task", "music_task_id", a.id, "takes", len(sg.Takes))
	}
	return err
}

// budget is what the takes of sg may still spend: its MaxCredits less the videos made already
// (nil: no bound).
func (a *songAttempt) budget(sg *Song) *Budget {
	if sg.MaxCredits <= 0 {
		return nil
	}
	b := NewBudget(sg.MaxCredits, a.MP4Credits)
	for _, tk := range sg.Takes {
		if tk.MP4TaskID != "" {
			b.spent += b.price()
		}
	}
	return b
}

// onError acts on a failed music record-info call, with the retry policy of MP4 polls.
func (a *songAttempt) onError(ctx context.Context, sg *Song, err error) error {
	var apiErr *kie.APIError
	errors.As(err, &apiErr)
	count := func(s *Song) { s.Polls++ }
	switch {
	case ctx.Err() != nil:
		return err
	case apiErr != nil && apiErr.NotFound():
		if a.now().Sub(songFollowedSince(sg)) < a.cfg.NotFoundGrace {
			if s, err := a.update(ctx, SongPending, count); s == nil || err != nil {
				return err
			}
			return a.notReady()
		}
		return a.end(ctx, SongFailed, fmt.Sprintf("KIE has no music task %s; check the id (it is the taskId Generate Music returned; an MP4 task id is followed with `kiemv track %s`)", a.id, a.id), count)
	case kie.IsRateLimited(err):
		if s, err := a.update(ctx, SongPending, count); s == nil || err != nil {
			return err
		}
		d := kie.RetryAfterOf(err)
		if d <= 0 {
			d = jitter(a.cfg.Interval, 0.10)
		}
		return &rateLimitedError{delay: d, cause: "KIE (music record-info)"}
	case kie.IsTemporary(err):
		if s, err := a.update(ctx, SongPending, count); s == nil || err != nil {
			return err
		}
		if wait := a.Breaker.failed(ctx, DepKIE, "song:"+a.id); wait != nil {
			return wait // KIE is down for many tasks (or this one looks once more): no retry used
		}
		return fmt.Errorf("poll song %s: %w", a.id, err)
	}
	return a.end(ctx, SongFailed, fmt.Sprintf("KIE refused music record-info for %s: %v", a.id, err), count)
}

// update applies fn to the song if it is still at the attempt's generation and in state
// from; a song that moved on is logged and left (nil, nil).
func (a *songAttempt) update(ctx context.Context, from SongState, fn func(*Song)) (*Song, error) {
	sg, err := a.Songs.UpdateSong(ctx, a.id, func(s *Song) error {
		if s.Generation != a.gen {
			return ErrStale
		}
		if s.State != from {
			return ErrConflict
		}
		fn(s)
		return nil
	})
	if errors.Is(err, ErrStale) || errors.Is(err, ErrConflict) || errors.Is(err, ErrNoSong) {
		a.log.Info("song moved on meanwhile; change dropped", "music_task_id", a.id, "reason", err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("save song %s: %w", a.id, err)
	}
	return sg, nil
}

// end moves the song from pending or submitting to an end state with msg, and returns the
// error that stops Asynq retrying (nil when the song moved on meanwhile).
func (a *songAttempt) end(ctx context.Context, to SongState, msg string, also ...func(*Song)) error {
	sg, err := a.Songs.UpdateSong(ctx, a.id, func(s *Song) error {
		if s.Generation != a.gen {
			return ErrStale
		}
		if s.State.Terminal() {
			return ErrConflict
		}
		for _, f := range also {
			f(s)
		}
		s.State, s.Error, s.CompletedAt = to, msg, a.now()
		return nil
	})
	if errors.Is(err, ErrStale) || errors.Is(err, ErrConflict) || errors.Is(err, ErrNoSong) {
		return nil
	} else if err != nil {
		return fmt.Errorf("save song %s: %w", a.id, err)
	}
	a.log.Info("song ended", "music_task_id", a.id, "state", sg.State, "error", msg)
	return fmt.Errorf("%s: %w", msg, asynq.SkipRetry)
}

// fail ends the song failed with msg.
func (a *songAttempt) fail(ctx context.Context, msg string) error { return a.end(ctx, SongFailed, msg) }

// allow takes a record-info call from the shared limit for the song, as polls do.
func (a *songAttempt) allow(ctx context.Context) (time.Duration, error) {
	if a.Limiter == nil {
		return 0, nil
	}
	if r, ok := a.Limiter.(Reserver); ok {
		d, err := takeSlot(ctx, r, LimitRecordInfo, "song:"+a.id, pollWaitHere)
		if d > 0 {
			d -= pollRunAhead
		}
		return d, err
	}
	return a.Limiter.Allow(ctx, LimitRecordInfo)
}

// notReady is the error that schedules the next poll of the song after the interval, ±10 %.
func (a *songAttempt) notReady() error {
	return &notReadyError{id: a.id, delay: jitter(a.cfg.Interval, 0.10)}
}
