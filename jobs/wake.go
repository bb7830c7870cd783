package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// ErrPollBusy means a task's poll was running during the whole of a Wake, so it could not be
// moved to now; the running poll itself asks KIE, so nothing is lost.
var ErrPollBusy = errors.New("the task's poll is running right now")

// wakeRecheck is how often Wake looks again at a poll that is running.
const wakeRecheck = 50 * time.Millisecond

// Wake makes the next poll of MP4 task id happen now; *Service is the Waker of the callback
// endpoint. A task kiemv does not follow yet is followed as by Track; a pending one has its
// scheduled poll moved to now (Tasks.RunTask), or a poll enqueued if it has none; a ready or
// downloading one has its download queued if that was lost; a finished one is left alone.
// Wake never downloads anything itself: the poll's record-info answer decides.
func (s *Service) Wake(ctx context.Context, id string) error {
	if err := ValidateID("mp4 task id", id); err != nil {
		return err
	}
	rec, err := s.Store.Get(ctx, id)
	switch {
	case errors.Is(err, ErrNoRecord) || (err == nil && rec.State != StatePending):
		_, _, err = s.Track(ctx, id, 0)
		return err
	case err != nil:
		return fmt.Errorf("wake %s: %w", id, err)
	}
	return s.pollNow(ctx, rec)
}

// Follows reports whether kiemv follows MP4 task id (it has a record of it).
func (s *Service) Follows(ctx context.Context, id string) (bool, error) {
	_, err := s.Store.Get(ctx, id)
	if errors.Is(err, ErrNoRecord) {
		return false, nil
	}
	return err == nil, err
}

// pollNow moves the poll task of the pending rec to pending, enqueueing one if there is none
// (re-adopting the record, as Track does). It waits (until ctx ends) for a poll that is
// running to finish, then moves the next one.
func (s *Service) pollNow(ctx context.Context, rec *Record) error {
	id := rec.TaskID
	for {
		err := s.runPoll(rec)
		switch {
		case err == nil || isRunTaskState(err, "already in pending state"):
			return nil
		case isGone(err):
			_, err := s.ensureLive(ctx, rec, false)
			return err
		case isRunTaskState(err, "already running"):
			if err := Sleep(ctx, wakeRecheck); err != nil || ctx.Err() != nil { // the timer and the deadline may fire together
				return fmt.Errorf("wake %s: %w", id, ErrPollBusy)
			}
		default:
			return fmt.Errorf("move the poll of %s to now: %w", id, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("wake %s: %w", id, ctx.Err())
		}
	}
}

// runPoll moves the poll of rec's generation to pending, or reports "not found" without
// Tasks so that a poll is enqueued.
func (s *Service) runPoll(rec *Record) error {
	if s.Tasks == nil {
		return asynq.ErrTaskNotFound
	}
	return s.Tasks.RunTask(s.Queues.Poll, PollTaskID(rec.TaskID, rec.Generation))
}

// isRunTaskState recognises the FailedPrecondition errors of (*asynq.Inspector).RunTask,
// which Asynq gives no sentinel for: "task is already running" and "task is already in
// pending state".
func isRunTaskState(err error, what string) bool {
	return err != nil && strings.Contains(err.Error(), what)
}
