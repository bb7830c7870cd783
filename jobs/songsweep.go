package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
)

// sweepSongs is the reconciler's walk over the songs that have not ended: a song whose
// song:poll task is missing, archived or completed gets a new generation and task, or ends
// (timed_out once its poll budget is spent while pending, failed after MaxRequeues), so that
// no song waits forever with nothing behind it.
func (r *Reconciler) sweepSongs(ctx context.Context, cfg ReconcileConfig, amb ambient, res *SweepResult) error {
	for res.Examined < cfg.PerSweep {
		songs, next, err := r.Songs.ScanOpenSongs(ctx, r.songCursor, cfg.Batch)
		if err != nil {
			return err
		}
		r.songCursor = next
		res.Examined += len(songs)
		if err := r.checkSongs(ctx, cfg, amb, songs, res); err != nil {
			return err
		}
		if next == 0 {
			return nil
		}
	}
	return nil
}

// checkSongs looks up the song:poll tasks of a batch of songs and acts on those lost.
func (r *Reconciler) checkSongs(ctx context.Context, cfg ReconcileConfig, amb ambient, songs []*Song, res *SweepResult) error {
	now := amb.now()
	var due []*Song
	var taskIDs []string
	for _, sg := range songs {
		if sg.State.Terminal() || now.Sub(sg.UpdatedAt) < cfg.Grace {
			continue
		}
		due, taskIDs = append(due, sg), append(taskIDs, SongPollTaskID(sg.TaskID, sg.Generation))
	}
	if len(due) == 0 {
		return nil
	}
	states, err := r.Tasks.TaskStates(ctx, r.Service.Queues.Poll, taskIDs)
	if err != nil {
		return err
	}
	for i, sg := range due {
		if liveTask(states[i]) {
			continue
		}
		reason := states[i]
		if reason == "" {
			reason = "missing"
		}
		var to SongState
		var msg string
		switch {
		case sg.State == SongPending && now.Sub(songFollowedSince(sg)) > cfg.PollBudget:
			to, reason = SongTimedOut, "budget_spent"
			msg = fmt.Sprintf("the task following song %s was lost after its poll budget of %v was spent; run `kiemv submit --task-id %s` to follow it again", sg.TaskID, cfg.PollBudget, sg.TaskID)
		case sg.Requeued >= cfg.MaxRequeues:
			to, reason = SongFailed, "requeues_spent"
			msg = fmt.Sprintf("the task following song %s was lost %d times; run `kiemv submit --task-id %s` to follow it again", sg.TaskID, sg.Requeued+1, sg.TaskID)
		}
		if to != "" {
			if err := endSong(ctx, r.Service.Songs, sg.TaskID, sg.Generation, to, msg, now); err != nil {
				return err
			}
			res.Ended++
			amb.log.Warn("reconciler ended a song whose task was lost", "music_task_id", sg.TaskID, "reason", reason, "error", msg)
		} else {
			next, err := r.Service.ensureSongLive(ctx, sg, true)
			if err != nil {
				return err
			}
			if next.Generation == sg.Generation {
				continue
			}
			res.Requeued++
			amb.log.Info("reconciler queued a lost song task again", "music_task_id", sg.TaskID, "reason", reason, "generation", next.Generation)
		}
		r.Hooks.reconciled(reason)
	}
	return nil
}

// endSong ends generation gen of a song that has not ended; a song that moved on is left.
func endSong(ctx context.Context, songs SongStore, id string, gen int64, to SongState, msg string, now time.Time) error {
	_, err := songs.UpdateSong(ctx, id, func(s *Song) error {
		if s.Generation != gen || s.State.Terminal() {
			return ErrStale
		}
		s.State, s.Error, s.CompletedAt = to, msg, now
		return nil
	})
	if errors.Is(err, ErrStale) || errors.Is(err, ErrNoSong) {
		return nil
	}
	return err
}

// abandonSong ends the song of a song:poll task Asynq is archiving when the handler could not
// (its last attempt ran past its deadline, or panicked).
func abandonSong(ctx context.Context, songs SongStore, log *slog.Logger, t *asynq.Task, cause error) {
	id, gen, err := taskRef(t)
	if err != nil || songs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	n, _ := asynq.GetRetryCount(ctx)
	msg := fmt.Sprintf("following song %s was abandoned after %d attempts, the last: %v; run `kiemv submit --task-id %s` again", id, n+1, cause, id)
	if err := endSong(ctx, songs, id, gen, SongFailed, msg, time.Now()); err != nil {
		log.Warn("abandoned song not updated; the reconciler will", "music_task_id", id, "error", err)
	}
}
