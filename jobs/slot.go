package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A poll whose record-info call is booked at most pollWaitHere away waits for it in the
// handler (a timer, cheap), so that it calls at its time: Asynq runs scheduled tasks only at
// whole seconds, and polls run by Asynq at their booked time would bunch at the start of a
// second. A poll booked further away goes back to Asynq, asking to run pollRunAhead before
// its call (Asynq rounds the due time up to a whole second and checks for due tasks at most
// every second, so it runs between pollRunAhead and about half a second before its call),
// and then waits the rest in the handler.
const (
	pollWaitHere = 3 * time.Second
	pollRunAhead = 2500 * time.Millisecond
)

// takeSlot takes a call of the named limit for holder from r. When the call it books is at
// most within away it waits for it and asks again (the call goes only when the limiter says
// its time has come); it returns 0 when the call may go ahead now, else the wait (more than
// within) until the call booked for holder. If ctx ends while it waits, it gives the call back.
func takeSlot(ctx context.Context, r Reserver, name, holder string, within time.Duration) (time.Duration, error) {
	d, err := r.Reserve(ctx, name, holder)
	if err != nil {
		return 0, err
	}
	return awaitSlot(ctx, r, name, holder, within, d)
}

// awaitSlot is takeSlot after its first Reserve, which answered d.
func awaitSlot(ctx context.Context, r Reserver, name, holder string, within, d time.Duration) (time.Duration, error) {
	for d > 0 && d <= within {
		if err := Sleep(ctx, d); err != nil {
			releaseSlot(ctx, r, name, holder)
			return 0, err
		}
		var err error
		if d, err = r.Reserve(ctx, name, holder); err != nil {
			return 0, err
		}
	}
	return d, nil
}

// releaseSlot gives back the call booked for holder, even though ctx ended; failing that,
// the call is lost (one call's worth of the limit).
func releaseSlot(ctx context.Context, r Reserver, name, holder string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = r.Release(rctx, name, holder)
}

// CreateWait says that a submit waits for a create slot (the shared create limit is in use):
// Service.OnCreateWait receives one when the wait begins, then about every 10 seconds.
type CreateWait struct {
	AudioID string        // the audio whose video the submit creates
	Waited  time.Duration // how long it has waited so far
	Left    time.Duration // how long until its booked slot, as things stand
}

// createWaitReport is how often a waiting submit says so.
const createWaitReport = 10 * time.Second

// ErrWaitTimeout means a submit gave up waiting (SubmitRequest.Timeout) before it asked KIE
// to create anything; its audio claim was released.
var ErrWaitTimeout = errors.New("gave up waiting")

// awaitCreate waits for a create call of the shared limit under ticket holder, in line with
// every other submit (first come, first served), reporting the wait. It gives up at deadline
// (if not zero) with ErrWaitTimeout, and when ctx ends; either way it gives its call back.
func (s *Service) awaitCreate(ctx context.Context, audioID, holder string, deadline time.Time) error {
	r, inLine := s.Limiter.(Reserver)
	start := time.Now()
	var report time.Time
	for {
		var d time.Duration
		var err error
		if inLine {
			d, err = r.Reserve(ctx, LimitCreate, holder)
		} else {
			d, err = s.Limiter.Allow(ctx, LimitCreate)
		}
		if err != nil || d == 0 {
			return err
		}
		now := time.Now()
		if !deadline.IsZero() && !now.Before(deadline) {
			if inLine {
				releaseSlot(ctx, r, LimitCreate, holder)
			}
			return fmt.Errorf("submit of audio %s %w for a create slot after %v (its turn was %v away); nothing was created at KIE and the audio is free to submit again",
				audioID, ErrWaitTimeout, now.Sub(start).Round(100*time.Millisecond), d.Round(time.Second))
		}
		step := d
		if d >= time.Second { // a wait under a second is not worth a word
			if !now.Before(report) {
				s.reportWait(CreateWait{AudioID: audioID, Waited: now.Sub(start), Left: d})
				report = now.Add(createWaitReport)
			}
			step = min(step, report.Sub(now))
		}
		if !deadline.IsZero() {
			step = min(step, deadline.Sub(now))
		}
		if err := Sleep(ctx, step); err != nil {
			if inLine {
				releaseSlot(ctx, r, LimitCreate, holder)
			}
			return err
		}
	}
}

// reportWait hands w to OnCreateWait, or logs it.
func (s *Service) reportWait(w CreateWait) {
	if s.OnCreateWait != nil {
		s.OnCreateWait(w)
		return
	}
	s.log().Info("waiting for a create slot", "audio_id", w.AudioID, "waited", w.Waited.Round(time.Second), "left", w.Left.Round(time.Second))
}
