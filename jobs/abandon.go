package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
)

// archives reports whether Asynq archives the task after this failed attempt: its retries
// are spent, or it said SkipRetry. Asynq then ignores the handler's return; after a timeout
// it never even saw one.
func archives(ctx context.Context, err error) bool {
	return errors.Is(err, asynq.SkipRetry) || (lastAttempt(ctx) && !errors.Is(err, asynq.RevokeTask))
}

// abandon ends the record of a task Asynq is archiving, when the record still waits for that
// task: the handler could not (its last attempt ran past its deadline, or it panicked). A
// handler that did end the record (failed, expired, timed out) already moved it on, so the
// fenced change here finds it changed and is dropped: it changes nothing twice.
func abandon(ctx context.Context, s Store, log *slog.Logger, t *asynq.Task, cause error) {
	id, gen, err := taskRef(t)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	n, _ := asynq.GetRetryCount(ctx)
	states, what := []State{StatePending}, "polling"
	if t.Type() == TypeDownload {
		states, what = []State{StateDownloading, StateReady}, "the download of"
	}
	msg := fmt.Sprintf("%s mp4 task %s was abandoned after %d attempts, the last: %v; run `kiemv retry %s`", what, id, n+1, cause, id)
	for _, st := range states {
		ch := Change{IfGen: gen, IfState: st, To: StateFailed, Error: msg}
		if st == StatePending {
			ch.CompletedAt = time.Now()
		}
		_, err := s.Update(ctx, id, ch)
		switch {
		case err == nil:
			log.Warn("task abandoned by Asynq; record failed", "task_id", id, "error", msg)
			return
		case errors.Is(err, ErrConflict):
			continue
		case errors.Is(err, ErrStale) || errors.Is(err, ErrNoRecord):
			return
		default:
			log.Warn("abandoned task's record not updated; the reconciler will", "task_id", id, "error", err)
			return
		}
	}
}
