package jobs

import "time"

// Outcomes of one run of the poll handler, as passed to Hooks.PollFunc. A failed
// record-info call is classified once, by the retry policy (retry.go), and the same answer
// decides what happens to the record and is reported here.
const (
	PollPending     = "pending"      // KIE is still making the video; polled again later
	PollReady       = "ready"        // KIE has the video; its download was queued
	PollFailed      = "failed"       // KIE said *_FAILED
	PollNotFound    = "not_found"    // KIE does not know the task (yet)
	PollRateLimited = "rate_limited" // KIE refused the call: slow down
	PollThrottled   = "throttled"    // kiemv's own shared limit held the call back; KIE was not called
	PollError       = "error"        // a transient error (network, 5xx…); retried with backoff
	PollRefused     = "refused"      // a permanent error (bad key, no credits…); the record failed
	PollCanceled    = "canceled"     // the worker stopped or the attempt timed out mid-call
	PollTimedOut    = "timed_out"    // the poll budget was spent; KIE was not called
	PollOutage      = "outage"       // KIE is down: the poll waits for a probe to succeed; KIE was not called
)

// Hooks lets the process observe the handlers (for metrics) without jobs importing any
// metrics library. A nil *Hooks, and any nil field, is a no-op. The functions are called
// synchronously from the handlers and must be quick and safe for concurrent use.
type Hooks struct {
	// PollFunc is called once per run of the poll handler with one of the Poll* outcomes.
	PollFunc func(outcome string)
	// StateFunc is called after a handler moved a record to state to.
	StateFunc func(id string, to State)
	// DownloadFunc is called after each download attempt with the size of the verified file
	// (0 when err is not nil), how long the attempt took, and its error.
	DownloadFunc func(bytes int64, d time.Duration, err error)
	// ScheduledFunc is called when a poll finds the video not ready yet, with the time the
	// next poll was asked for (interval and jitter included, before Asynq's whole-second
	// rounding): `kiemv bench` measures poll lateness against it.
	ScheduledFunc func(id string, due time.Time)
	// ReconciledFunc is called when the reconciler acted on a record whose task was lost, with
	// the reason: the lost task's state ("missing", "archived", "completed"), or
	// "budget_spent" / "requeues_spent" when it ended the record instead.
	ReconciledFunc func(reason string)
	// OutageFunc is called when this process sees a dependency (DepKIE, or a HostDep) go down
	// (up false: its breaker opened) or come back (up true).
	OutageFunc func(dep string, up bool)
}

func (h *Hooks) outage(dep string, up bool) {
	if h != nil && h.OutageFunc != nil {
		h.OutageFunc(dep, up)
	}
}

func (h *Hooks) reconciled(reason string) {
	if h != nil && h.ReconciledFunc != nil {
		h.ReconciledFunc(reason)
	}
}

func (h *Hooks) poll(outcome string) {
	if h != nil && h.PollFunc != nil {
		h.PollFunc(outcome)
	}
}

func (h *Hooks) state(id string, rec *Record, ch Change) {
	if h != nil && h.StateFunc != nil && rec != nil && ch.To != "" {
		h.StateFunc(id, rec.State)
	}
}

func (h *Hooks) scheduled(id string, due time.Time) {
	if h != nil && h.ScheduledFunc != nil {
		h.ScheduledFunc(id, due)
	}
}

func (h *Hooks) download(bytes int64, d time.Duration, err error) {
	if h != nil && h.DownloadFunc != nil {
		if err != nil {
			bytes = 0
		}
		h.DownloadFunc(bytes, d, err)
	}
}
