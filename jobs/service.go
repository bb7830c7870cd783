package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kiemv/kiemv/jobs/kie"
)

// Service is what the CLI and the demo use to start following tasks: submit (create at KIE,
// then follow), track (follow a task created elsewhere) and retry.
type Service struct {
	KIE      kie.API
	Store    Store
	Songs    SongStore // followed songs (nil: SubmitSong refuses)
	Limiter  Limiter
	Enqueuer Enqueuer
	Queues   Queues
	// FirstPoll is the delay before the first poll of a submitted task (0: at once).
	FirstPoll time.Duration
	// Tasks, when set, manages tasks already queued: Retry and Cancel delete the record's
	// tasks, Track replaces a task Asynq archived (gave up on) while its record still waits
	// for it, and Wake moves a scheduled poll to now. Nil means none of that is available:
	// Wake then enqueues a poll only when there is none. An *asynq.Inspector fits.
	Tasks Tasks
	// ClaimTTL is how long an audio claim lives unless renewed (0: DefaultClaimTTL).
	ClaimTTL time.Duration
	// OnCreateWait, when set, hears that a submit waits for a create slot (once, then about
	// every 10 s); nil logs it instead.
	OnCreateWait func(CreateWait)
	Log          *slog.Logger // default slog.Default()
	// JobsKIE is KIE's jobs API (nil: none); KIE is the legacy API.
	JobsKIE kie.API
	// API is where new MP4 tasks are created: APILegacy ("" too) or APIJobs (with JobsKIE).
	API string
	// Counter, when set, counts every MP4 task kiemv created (for `kiemv credits`).
	Counter CreateCounter
}

// AudioKey names the MP4 video of one audio with one author and domain: a second submit of
// the same key returns the first task instead of paying KIE twice.
func AudioKey(audioID, author, domain string) string {
	sum := sha256.Sum256([]byte(author + "\x00" + domain))
	return audioID + ":" + hex.EncodeToString(sum[:8])
}

// createAttempts bounds how often submit tries a create that failed transiently.
const createAttempts = 5

// Submit creates the MP4 task at KIE (at most once per audio key) and follows it. When the
// audio was submitted before, by this process or another, at any time, it returns the existing
// record and created is false; while another submit of it is creating its task, it waits for
// that task.
func (s *Service) Submit(ctx context.Context, req SubmitRequest) (rec *Record, created bool, err error) {
	if err := req.Validate(); err != nil {
		return nil, false, err
	}
	key := AudioKey(req.AudioID, req.Author, req.Domain)
	ttl := s.claimTTL()
	logged := false
	var deadline time.Time
	if req.Timeout > 0 {
		deadline = time.Now().Add(req.Timeout)
	}
	for {
		existing, token, err := s.awaitClaimUntil(ctx, key, req.AudioID, ttl, &logged, deadline)
		if err != nil {
			return nil, false, err
		}
		if existing != "" {
			rec, _, err := s.Track(ctx, existing, 0)
			return rec, false, err
		}
		id, existed, err := s.createClaimed(ctx, req, key, token, ttl, deadline)
		if errors.Is(err, errClaimLost) {
			continue // follow, or wait for, whoever has the key now
		}
		if err != nil {
			return nil, false, err
		}
		_, api := s.creator()
		rec, _, err = s.follow(ctx, &Record{TaskID: id, MusicTaskID: req.MusicTaskID, AudioID: req.AudioID, API: api}, s.FirstPoll)
		return rec, err == nil && !existed, err // existed: made before, by KIE's word or another submit
	}
}

// create pays for the create from req.Budget (refunded unless a new task was made), makes it
// with createOnce, and counts a new task in s.Counter. KIE refusing it for credits stops the
// budget: it is never retried.
func (s *Service) create(ctx context.Context, req SubmitRequest, c *claim, deadline time.Time) (id string, existed bool, err error) {
	if err := req.Budget.Reserve(); errors.Is(err, ErrInsufficientCredits) {
		return "", false, fmt.Errorf("not submitted: %w: KIE refused an earlier create of this run for want of credits, so the video of audio %s was not asked for; top up the KIE account, then run the same command again", ErrInsufficientCredits, req.AudioID)
	} else if err != nil {
		return "", false, fmt.Errorf("the video of audio %s was not submitted: %w", req.AudioID, err)
	}
	id, existed, err = s.createOnce(ctx, req, c, deadline)
	if err != nil || existed {
		req.Budget.Refund()
	}
	if errors.Is(err, ErrInsufficientCredits) {
		req.Budget.Stop(err)
	}
	if err == nil && !existed && s.Counter != nil {
		if cerr := s.Counter.CountCreate(context.WithoutCancel(ctx), time.Now()); cerr != nil {
			s.log().Warn("create not counted for `kiemv credits`", "audio_id", req.AudioID, "mp4_task_id", id, "error", cerr)
		}
	}
	return id, existed, err
}

// createOnce calls KIE's create endpoint within the shared limit (waiting in line for its turn,
// until deadline if not zero), retrying rate limits and transient errors a few times, while c
// keeps the audio claim alive. A duplicate that names
// the existing task counts as success, with existed true. It returns errClaimLost, without
// asking KIE, once the claim has passed to another submit, and when KIE says the video exists
// without its id while the claim is no longer this submit's.
func (s *Service) createOnce(ctx context.Context, req SubmitRequest, c *claim, deadline time.Time) (id string, existed bool, err error) {
	kreq := kie.CreateRequest{TaskID: req.MusicTaskID, AudioID: req.AudioID, CallBackURL: req.CallbackURL,
		Author: req.Author, DomainName: req.Domain}
	k, _ := s.creator()
	lostOr := func(err error) error {
		if c.lost() {
			return errClaimLost
		}
		return err
	}
	var last error
	for attempt := 0; attempt < createAttempts; {
		if err := s.awaitCreate(c.ctx, req.AudioID, c.token, deadline); errors.Is(err, ErrWaitTimeout) {
			return "", false, err
		} else if err != nil {
			return "", false, lostOr(fmt.Errorf("create limiter: %w", err))
		}
		if c.lost() {
			return "", false, errClaimLost
		}
		id, err := k.CreateVideo(ctx, kreq)
		var apiErr *kie.APIError
		switch {
		case err == nil:
			return id, false, nil
		case kie.IsInsufficientCredits(err): // before the rate and transient cases: 433 is "temporary"
			return "", false, fmt.Errorf("not submitted: %w: KIE refused to create the video of audio %s (%v); nothing was created: top up the KIE account (`kiemv credits` shows the balance), then run the same submit again",
				ErrInsufficientCredits, req.AudioID, err)
		case errors.As(err, &apiErr) && apiErr.Duplicate():
			if apiErr.ExistingTaskID != "" {
				return apiErr.ExistingTaskID, true, nil
			}
			if !c.held(ctx) { // another submit took the key over: it made the video, or binds it
				return "", false, errClaimLost
			}
			return "", false, fmt.Errorf("KIE already has an MP4 for audio %s (%v) but did not say its id; find it and run `kiemv track <mp4 task id>`", req.AudioID, err)
		case kie.IsRateLimited(err): // refused, not queued: wait and send again (not counted)
			last = err
			d := kie.RetryAfterOf(err)
			if d <= 0 {
				d = time.Second
			}
			if err := Sleep(c.ctx, jitter(d, 0.2)); err != nil {
				return "", false, lostOr(err)
			}
		case kie.IsTemporary(err) && ctx.Err() == nil:
			last = err
			attempt++
			if err := Sleep(c.ctx, jitter(time.Duration(attempt)*time.Second, 0.25)); err != nil {
				return "", false, lostOr(err)
			}
		default:
			return "", false, fmt.Errorf("create the video of audio %s: %w", req.AudioID, err)
		}
	}
	return "", false, fmt.Errorf("create the video of audio %s failed %d times, the last: %w; try again later", req.AudioID, createAttempts, last)
}

// Track follows an MP4 task created elsewhere, polling first after delay. It is idempotent:
// tracking a followed task re-queues its poll (or download) if that was lost or archived by
// Asynq, and changes nothing else.
func (s *Service) Track(ctx context.Context, id string, delay time.Duration) (*Record, bool, error) {
	if err := ValidateID("mp4 task id", id); err != nil {
		return nil, false, err
	}
	return s.follow(ctx, &Record{TaskID: id}, delay)
}

// follow stores rec (unless it exists) and makes sure the current generation of a record
// that has not ended has a live task. It reports whether the record is new.
func (s *Service) follow(ctx context.Context, rec *Record, delay time.Duration) (*Record, bool, error) {
	now := time.Now().UTC()
	rec.State, rec.CreatedAt, rec.UpdatedAt = StatePending, now, now
	created, err := s.Store.Create(ctx, rec)
	if err != nil {
		return nil, false, fmt.Errorf("save record %s: %w", rec.TaskID, err)
	}
	cur, err := s.Store.Get(ctx, rec.TaskID)
	if err != nil {
		return nil, false, err
	}
	if cur.State.Terminal() {
		return cur, created, nil
	}
	if !created {
		cur, err = s.ensureLive(ctx, cur, false)
		return cur, false, err
	}
	return cur, true, s.enqueue(ctx, cur, delay)
}

// Retry puts a record that ended without a file back to pending and polls it at once.
func (s *Service) Retry(ctx context.Context, id string) (*Record, error) {
	if err := ValidateID("mp4 task id", id); err != nil {
		return nil, err
	}
	rec, err := s.Store.Update(ctx, id, Change{To: StatePending, ClearError: true, RetriedAt: time.Now().UTC(),
		BumpGen: true})
	if err != nil {
		return nil, fmt.Errorf("retry %s: %w (only failed, timed_out, expired and canceled records can be retried)", id, err)
	}
	s.clearTasks(id, rec.Generation-1)
	return rec, s.enqueue(ctx, rec, 0)
}

// Sleep waits d, or until ctx ends and then returns ctx.Err(). It is kiemv's one
// interruptible sleep.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Cancel stops following a task that has not ended, and removes its queued tasks.
func (s *Service) Cancel(ctx context.Context, id string) (*Record, error) {
	if err := ValidateID("mp4 task id", id); err != nil {
		return nil, err
	}
	rec, err := s.Store.Update(ctx, id, Change{To: StateCanceled, Error: "canceled by an operator", BumpGen: true})
	if err != nil {
		return nil, fmt.Errorf("cancel %s: %w (only pending, ready and downloading records can be canceled)", id, err)
	}
	s.clearTasks(id, rec.Generation-1)
	return rec, nil
}

// clearTasks deletes the poll and download tasks of generation gen of MP4 task id, and asks
// a worker running one to stop it. A task that cannot be deleted is left in place and
// logged: it is stale, so when it runs it changes nothing.
func (s *Service) clearTasks(id string, gen int64) {
	if s.Tasks == nil {
		return
	}
	for _, t := range []struct{ queue, taskID string }{
		{s.Queues.Poll, PollTaskID(id, gen)}, {s.Queues.Download, DownloadTaskID(id, gen)}} {
		state, err := s.taskState(t.queue, t.taskID)
		switch {
		case err != nil:
			s.log().Warn("queued task not looked up; it is stale and changes nothing when it runs", "task_id", id, "task", t.taskID, "error", err)
		case state == "active":
			if err := s.Tasks.CancelProcessing(t.taskID); err != nil {
				s.log().Warn("running task not told to stop; it stops at its next progress report", "task_id", id, "task", t.taskID, "error", err)
			}
		case state != "":
			if err := s.Tasks.DeleteTask(t.queue, t.taskID); err != nil && !isGone(err) {
				s.log().Warn("queued task not deleted; it is stale and changes nothing when it runs", "task_id", id, "task", t.taskID, "error", err)
			}
		}
	}
}

func (s *Service) log() *slog.Logger { return ambientOf(s.Log, nil).log }
