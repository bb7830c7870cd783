package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// A record that has not ended has exactly one live task of its current generation. The
// Service gives it one when it is followed, and re-adopts a record whose task was lost:
// Track, the callback's Wake and the reconciler all go through ensureLive.

// taskOf returns the task the current generation of rec needs (a poll while pending, a
// download while ready or downloading); nil for an ended record.
func (s *Service) taskOf(rec *Record, delay time.Duration) *asynq.Task {
	switch rec.State {
	case StatePending:
		return NewPollTask(rec.TaskID, rec.Generation, s.Queues, delay)
	case StateReady, StateDownloading:
		return NewDownloadTask(rec.TaskID, rec.Generation, s.Queues, time.Hour)
	}
	return nil
}

// taskIDOf returns the queue and TaskID of the task rec's generation needs ("" when it ended).
func (s *Service) taskIDOf(rec *Record) (queue, taskID string) {
	switch rec.State {
	case StatePending:
		return s.Queues.Poll, PollTaskID(rec.TaskID, rec.Generation)
	case StateReady, StateDownloading:
		return s.Queues.Download, DownloadTaskID(rec.TaskID, rec.Generation)
	}
	return "", ""
}

// enqueue queues the task of rec's generation; one queued already is fine.
func (s *Service) enqueue(ctx context.Context, rec *Record, delay time.Duration) error {
	task := s.taskOf(rec, delay)
	if task == nil {
		return nil
	}
	_, err := s.Enqueuer.EnqueueContext(ctx, task)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("queue the %s task of %s: %w; run `kiemv track %s` again", task.Type(), rec.TaskID, err, rec.TaskID)
	}
	return nil
}

// ensureLive gives a record that has not ended a live task: when its generation's task is
// pending, scheduled, retrying or running, nothing changes; when it is missing, archived or
// completed, the record is re-adopted: a new generation (so whatever is left of the old one
// is stale) and its task, due now. requeue counts it in Record.Requeued (the reconciler).
// Without Tasks, a missing task is simply queued again.
func (s *Service) ensureLive(ctx context.Context, rec *Record, requeue bool) (*Record, error) {
	queue, taskID := s.taskIDOf(rec)
	if queue == "" {
		return rec, nil
	}
	if s.Tasks == nil {
		return rec, s.enqueue(ctx, rec, 0)
	}
	state, err := s.taskState(queue, taskID)
	if err != nil {
		// Without its state the task is taken to be alive: the reconciler looks again.
		s.log().Warn("cannot tell whether a queued task is alive; leaving it", "task_id", rec.TaskID, "task", taskID, "error", err)
		return rec, nil
	}
	if liveTask(state) {
		return rec, nil
	}
	ch := Change{IfGen: rec.Generation, IfState: rec.State, BumpGen: true}
	if requeue {
		ch.AddRequeued = 1
	}
	next, err := s.Store.Update(ctx, rec.TaskID, ch)
	if errors.Is(err, ErrStale) || errors.Is(err, ErrConflict) {
		return s.Store.Get(ctx, rec.TaskID) // someone else moved it on meanwhile
	} else if err != nil {
		return nil, fmt.Errorf("re-adopt %s: %w", rec.TaskID, err)
	}
	what := "missing"
	if state != "" {
		what = state
		if err := s.Tasks.DeleteTask(queue, taskID); err != nil && !isGone(err) {
			s.log().Warn("the old generation's task could not be deleted; it is stale and will drop itself", "task_id", rec.TaskID, "task", taskID, "error", err)
		}
	}
	s.log().Info("re-adopted: the record's task was "+what+"; queued it again as a new generation",
		"task_id", rec.TaskID, "state", next.State, "generation", next.Generation)
	return next, s.enqueue(ctx, next, 0)
}

// taskState returns the state of a task ("pending", "scheduled", "retry", "active",
// "archived", "completed"…), or "" when there is no such task.
func (s *Service) taskState(queue, taskID string) (string, error) {
	info, err := s.Tasks.GetTaskInfo(queue, taskID)
	if isGone(err) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	return info.State.String(), nil
}

// liveTask reports whether a task in that state will still run.
func liveTask(state string) bool {
	switch state {
	case "pending", "scheduled", "retry", "active", "aggregating":
		return true
	}
	return false
}

// isGone recognises the Inspector's errors for a task or queue that does not exist.
func isGone(err error) bool {
	return errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound)
}
