package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ReconcileConfig tunes the reconciler.
type ReconcileConfig struct {
	Interval    time.Duration // between sweeps (default 1m)
	Batch       int           // records read per round trip (default 500)
	PerSweep    int           // records examined per sweep, over all states (default 100,000)
	Grace       time.Duration // records changed more recently are left alone (default 10s, at most Interval)
	PollBudget  time.Duration // a pending record followed for longer ends timed_out when its poll is lost (default 2h)
	MaxRequeues int           // lost tasks queued again for one record before it fails instead (default 5)
}

func (c ReconcileConfig) withDefaults() ReconcileConfig {
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.Batch <= 0 {
		c.Batch = 500
	}
	if c.PerSweep <= 0 {
		c.PerSweep = 100_000
	}
	if c.Grace <= 0 {
		c.Grace = min(10*time.Second, c.Interval)
	}
	if c.PollBudget <= 0 {
		c.PollBudget = 2 * time.Hour
	}
	if c.MaxRequeues <= 0 {
		c.MaxRequeues = 5
	}
	return c
}

// waiting lists the states in which a record waits for a task: pending for its poll, ready
// and downloading for its download.
var waiting = []State{StatePending, StateReady, StateDownloading}

// Reconciler makes sure no record waits forever with nothing behind it. Every worker runs
// one; each sweep, the one that holds the lock walks the records that wait for work, in
// bounded steps, and gives each whose task of the current generation is missing, archived
// or completed a new generation and a new task — or ends it with a reason when its poll
// budget or its requeues are spent. Every worker also removes, from its own Files, the
// partial files of records that ended or whose download moved to other Files.
type Reconciler struct {
	Service *Service      // re-adopts records: its Store, Enqueuer, Queues and Tasks
	Scanner RecordScanner // walks the state indexes
	Tasks   TaskStates    // reads the state of a batch of tasks at once
	Lock    Lock          // one sweeper at a time across all workers
	Files   Files         // this worker's (nil: no partial files to clean)
	Songs   SongStore     // followed songs, swept too (nil: none)
	Config  ReconcileConfig
	Log     *slog.Logger
	NowFunc func() time.Time
	Hooks   *Hooks

	token   string
	cursors map[State]uint64
	next    int // index in waiting of the state the next sweep starts with

	songCursor uint64 // where the walk over open songs goes on
}

// SweepResult counts what one sweep did.
type SweepResult struct {
	Held         bool // this worker held the lock and walked the records
	Examined     int  // records looked at
	Requeued     int  // records given a new generation and task
	Ended        int  // records ended because their budget was spent
	PartsRemoved int  // partial files removed from this worker's Files
}

// Run sweeps every Interval until ctx ends, then gives the lock up.
func (r *Reconciler) Run(ctx context.Context) {
	cfg, log := r.Config.withDefaults(), ambientOf(r.Log, nil).log
	defer func() {
		if r.token != "" {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if err := r.Lock.Release(rctx, r.token); err != nil {
				log.Warn("reconciler lock not released; it lapses by itself", "error", err)
			}
		}
	}()
	for Sleep(ctx, cfg.Interval) == nil {
		if _, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
			log.Warn("reconciler sweep failed; trying again next time", "error", err)
		}
	}
}

// Sweep runs one sweep (see Reconciler).
func (r *Reconciler) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	cfg, amb := r.Config.withDefaults(), ambientOf(r.Log, r.NowFunc)
	if r.Files != nil {
		n, err := r.cleanParts(ctx, amb.log)
		res.PartsRemoved = n
		if err != nil {
			return res, err
		}
	}
	if r.token == "" {
		b := make([]byte, 12)
		rand.Read(b)
		r.token, r.cursors = hex.EncodeToString(b), map[State]uint64{}
	}
	held, err := r.Lock.Hold(ctx, r.token, 3*cfg.Interval)
	if err != nil || !held {
		return res, err
	}
	res.Held = true
	if r.Songs != nil { // first: songs are few, and must not starve behind a large walk
		if err := r.sweepSongs(ctx, cfg, amb, &res); err != nil {
			return res, err
		}
	}
	for i := 0; i < len(waiting) && res.Examined < cfg.PerSweep; i++ {
		st := waiting[(r.next+i)%len(waiting)]
		for res.Examined < cfg.PerSweep {
			recs, next, err := r.Scanner.Scan(ctx, st, r.cursors[st], cfg.Batch)
			if err != nil {
				return res, err
			}
			r.cursors[st] = next
			res.Examined += len(recs)
			if err := r.check(ctx, cfg, amb, st, recs, &res); err != nil {
				return res, err
			}
			if next == 0 {
				break // walked through: the next state
			}
		}
		if res.Examined >= cfg.PerSweep {
			r.next = (r.next + i) % len(waiting) // go on here next sweep
		}
	}
	return res, nil
}

// check looks up the tasks of a batch of records in state st and acts on those lost.
func (r *Reconciler) check(ctx context.Context, cfg ReconcileConfig, amb ambient, st State, recs []*Record, res *SweepResult) error {
	now := amb.now()
	var due []*Record
	var taskIDs []string
	queue := ""
	for _, rec := range recs {
		if rec.State != st || now.Sub(rec.UpdatedAt) < cfg.Grace {
			continue // moved on since the index was read, or changing right now
		}
		q, taskID := r.Service.taskIDOf(rec)
		due, taskIDs, queue = append(due, rec), append(taskIDs, taskID), q
	}
	if len(due) == 0 {
		return nil
	}
	states, err := r.Tasks.TaskStates(ctx, queue, taskIDs)
	if err != nil {
		return err
	}
	for i, rec := range due {
		if liveTask(states[i]) {
			continue
		}
		if err := r.lost(ctx, cfg, amb, rec, states[i], res); err != nil {
			return err
		}
	}
	return nil
}

// lost acts on a record whose task is not live: it ends the record when its budget is spent,
// else re-adopts it (a new generation and task).
func (r *Reconciler) lost(ctx context.Context, cfg ReconcileConfig, amb ambient, rec *Record, taskState string, res *SweepResult) error {
	id, what := rec.TaskID, "poll"
	if rec.State != StatePending {
		what = "download"
	}
	reason := taskState
	if reason == "" {
		reason = "missing"
	}
	var end Change
	switch {
	case rec.State == StatePending && amb.now().Sub(followedSince(rec)) > cfg.PollBudget:
		end = Change{To: StateTimedOut, CompletedAt: amb.now(), Error: fmt.Sprintf(
			"the poll task of mp4 task %s was %s after its poll budget of %v was spent; run `kiemv retry %s` to follow it again", id, reason, cfg.PollBudget, id)}
		reason = "budget_spent"
	case rec.Requeued >= cfg.MaxRequeues:
		end = Change{To: StateFailed, Error: fmt.Sprintf(
			"the %s task of mp4 task %s was lost %d times (the last time it was %s); run `kiemv retry %s` to try again", what, id, rec.Requeued+1, reason, id)}
		reason = "requeues_spent"
	}
	if end.To != "" {
		end.IfGen, end.IfState = rec.Generation, rec.State
		if _, err := r.Service.Store.Update(ctx, id, end); errors.Is(err, ErrStale) || errors.Is(err, ErrConflict) {
			return nil // it moved on meanwhile
		} else if err != nil {
			return err
		}
		res.Ended++
		amb.log.Warn("reconciler ended a record whose task was lost", "task_id", id, "reason", reason, "error", end.Error)
	} else {
		next, err := r.Service.ensureLive(ctx, rec, true)
		if err != nil {
			return err
		}
		if next.Generation == rec.Generation {
			return nil // its task was live after all, or it moved on
		}
		res.Requeued++
		amb.log.Info("reconciler queued a lost task again", "task_id", id, "task", what, "reason", reason, "generation", next.Generation)
	}
	r.Hooks.reconciled(reason)
	return nil
}

// cleanParts removes the partial files in this worker's Files whose record ended, or whose
// download moved to other Files. A file whose id kiemv does not follow is left alone (the
// directory may be shared with another namespace).
func (r *Reconciler) cleanParts(ctx context.Context, log *slog.Logger) (int, error) {
	ids, err := r.Files.PartIDs()
	if err != nil {
		return 0, err
	}
	own, n := r.Files.Owner(), 0
	for _, id := range ids {
		rec, err := r.Service.Store.Get(ctx, id)
		if errors.Is(err, ErrNoRecord) {
			continue
		} else if err != nil {
			return n, err
		}
		elsewhere := rec.PartOwner != "" && rec.PartOwner != own
		if !rec.State.Terminal() && !elsewhere {
			continue
		}
		if err := r.Files.RemovePart(id); err != nil {
			log.Warn("stale partial file not removed", "task_id", id, "error", err)
			continue
		}
		n++
		log.Info("removed a stale partial file", "task_id", id, "state", rec.State, "owner", rec.PartOwner)
	}
	return n, nil
}
