package kiesim

import (
	"net/http"
	"strings"
	"time"
)

// Outcome is how a simulated task ends once its ReadyAfter has passed.
type Outcome int

// The task outcomes.
const (
	// OutcomeSuccess ends in SUCCESS with response.videoUrl.
	OutcomeSuccess Outcome = iota
	// OutcomeGenerateFailed ends in GENERATE_MP4_FAILED with errorCode 501 and an errorMessage.
	OutcomeGenerateFailed
	// OutcomeCreateFailed ends in CREATE_TASK_FAILED with errorCode 400 and an errorMessage.
	OutcomeCreateFailed
	// OutcomeCallbackException ends in CALLBACK_EXCEPTION with response.videoUrl set: the
	// video was made, only the webhook failed.
	OutcomeCallbackException
	// OutcomeNever stays PENDING forever.
	OutcomeNever
)

// Fault is an injected misbehaviour of one API reply.
type Fault int

// The injectable faults.
const (
	// FaultNone answers normally.
	FaultNone Fault = iota
	// FaultHTML500 answers HTTP 502 with a text/html body, as a gateway in front of KIE would.
	FaultHTML500
	// Fault455 answers HTTP 200 with body code 455, "The system is under maintenance".
	Fault455
	// Fault500 answers HTTP 200 with body code 500, "internal error, try later".
	Fault500
	// FaultSlow waits Config.SlowDelay (or until the request is canceled), then answers normally.
	FaultSlow
	// Fault429 answers HTTP 429 with Retry-After: 1 and body code 429, "rate limited".
	Fault429
)

// Fate scripts one task's behaviour. The zero value is a plain success with the Config defaults.
type Fate struct {
	// Outcome is how the task ends.
	Outcome Outcome
	// ReadyAfter is the time from create to the end of PENDING (0 = Config.ReadyAfter;
	// negative = at once).
	ReadyAfter time.Duration
	// PollFaults are answered, in order, by the task's first len(PollFaults) record-info calls
	// that pass the RecordInfoLimit (FaultNone answers normally).
	PollFaults []Fault
	// CutAt, if > 0, makes the first GET of the task's file send exactly CutAt body bytes and
	// then abort the connection, so the client sees an unexpected EOF. Later GETs are whole.
	CutAt int64
	// ExpireURL makes the videoUrl of record-info answer 404; only URLs signed by
	// POST /api/v1/common/download-url work.
	ExpireURL bool
	// FileSize is the size of the task's video (0 = Config.FileSize; ignored with Config.Video).
	FileSize int64
}

// DefaultFate is the fate of a task whose audioId was not given one with SetFate:
// "fail-" → OutcomeGenerateFailed, "createfail-" → OutcomeCreateFailed,
// "cbex-" → OutcomeCallbackException, "never-" → OutcomeNever, "expire-" → success with
// ExpireURL, "cut-" → success with CutAt half the file size; anything else plain success.
func (s *Sim) DefaultFate(audioID string) Fate {
	switch {
	case strings.HasPrefix(audioID, "fail-"):
		return Fate{Outcome: OutcomeGenerateFailed}
	case strings.HasPrefix(audioID, "createfail-"):
		return Fate{Outcome: OutcomeCreateFailed}
	case strings.HasPrefix(audioID, "cbex-"):
		return Fate{Outcome: OutcomeCallbackException}
	case strings.HasPrefix(audioID, "never-"):
		return Fate{Outcome: OutcomeNever}
	case strings.HasPrefix(audioID, "expire-"):
		return Fate{ExpireURL: true}
	case strings.HasPrefix(audioID, "cut-"):
		return Fate{CutAt: s.sizeFor(Fate{}) / 2}
	}
	return Fate{}
}

// SetFate scripts the tasks created from now on for audioID.
func (s *Sim) SetFate(audioID string, f Fate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fates[audioID] = cloneFate(f)
}

// FailNextCreates makes the next n create calls answer with fault f, before the rate limit
// and validation are applied (FaultSlow delays them, then they proceed normally). Calls add
// up: the faults queue in order.
func (s *Sim) FailNextCreates(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.createFaults = append(s.createFaults, f)
	}
}

// AddTask registers an MP4 task created elsewhere (as for `kiemv track`), created now, with
// the fate f exactly as given (use DefaultFate for the prefix rules). It replaces any task
// with the same id and becomes the task TaskFor(audioID) reports. It does not count as a
// create in Stats.
func (s *Sim) AddTask(taskID string, audioID string, f Fate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newTask(taskID, audioID, f)
	s.tasks[taskID] = t
	s.byAudio[audioID] = taskID
}

// fateFor returns the fate of a new task for audioID. The caller holds s.mu.
func (s *Sim) fateFor(audioID string) Fate {
	if f, ok := s.fates[audioID]; ok {
		return cloneFate(f)
	}
	return s.DefaultFate(audioID)
}

// sizeFor is the video size of a task with fate f.
func (s *Sim) sizeFor(f Fate) int64 {
	switch {
	case s.cfg.Video != nil:
		return int64(len(s.cfg.Video))
	case f.FileSize > 0:
		return f.FileSize
	}
	return s.cfg.FileSize
}

// cloneFate copies f so that callers can't change a stored fate's PollFaults.
func cloneFate(f Fate) Fate {
	f.PollFaults = append([]Fault(nil), f.PollFaults...)
	return f
}

// answerFault answers r with fault f and reports whether the reply is done. FaultSlow and
// FaultNone return false (answer normally), unless the request was canceled while waiting.
func (s *Sim) answerFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	switch f {
	case FaultHTML500:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><body>Bad Gateway</body></html>"))
		return true
	case Fault455:
		writeJSON(w, http.StatusOK, 455, "The system is under maintenance", nil)
		return true
	case Fault500:
		writeJSON(w, http.StatusOK, 500, "internal error, try later", nil)
		return true
	case Fault429:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, 429, "rate limited", nil)
		return true
	case FaultSlow:
		t := time.NewTimer(s.cfg.SlowDelay)
		defer t.Stop()
		select {
		case <-t.C:
			return false
		case <-r.Context().Done():
			return true // the client is gone: nothing to answer
		}
	}
	return false
}
