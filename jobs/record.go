// Package jobs is kiemv's domain and its Asynq glue: the Record of a followed MP4 task, its
// states and their transitions, the task types, the poll and download handlers, and the retry
// policy. It declares the small interfaces it needs (Store, Files, Limiter) and never imports
// go-redis or urfave/cli.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"
)

// State is where a followed MP4 task stands.
type State string

// The states of a Record. See ARCHITECTURE.md for the diagram.
const (
	StatePending     State = "pending"     // KIE is still making the video
	StateReady       State = "ready"       // KIE has a video URL; a download is queued
	StateDownloading State = "downloading" // a worker is fetching the file
	StateDownloaded  State = "downloaded"  // the verified file is on disk
	StateFailed      State = "failed"      // KIE said *_FAILED, or the download gave up
	StateTimedOut    State = "timed_out"   // the poll budget was spent
	StateExpired     State = "expired"     // the URL died and no fresh one could be had
	StateCanceled    State = "canceled"    // an operator stopped following it
)

// States lists every state, in lifecycle order.
var States = []State{StatePending, StateReady, StateDownloading, StateDownloaded,
	StateFailed, StateTimedOut, StateExpired, StateCanceled}

// Terminal reports whether no further work happens to a record in state s.
func (s State) Terminal() bool {
	switch s {
	case StateDownloaded, StateFailed, StateTimedOut, StateExpired, StateCanceled:
		return true
	}
	return false
}

// Valid reports whether s is one of States.
func (s State) Valid() bool {
	for _, v := range States {
		if v == s {
			return true
		}
	}
	return false
}

// ParseState returns the State named by s, or an error listing the valid names.
func ParseState(s string) (State, error) {
	if st := State(s); st.Valid() {
		return st, nil
	}
	return "", fmt.Errorf("unknown state %q: use one of pending, ready, downloading, downloaded, failed, timed_out, expired, canceled", s)
}

// transitions lists, for each target state, the states a record may move to it from. A
// record may always "move" to the state it is already in (an idempotent update).
var transitions = map[State][]State{
	StatePending:     {StateFailed, StateTimedOut, StateExpired, StateCanceled}, // kiemv retry
	StateReady:       {StatePending},
	StateDownloading: {StateReady},
	StateDownloaded:  {StateDownloading, StateReady},
	StateFailed:      {StatePending, StateReady, StateDownloading},
	StateTimedOut:    {StatePending},
	StateExpired:     {StateReady, StateDownloading},
	StateCanceled:    {StatePending, StateReady, StateDownloading},
}

// SourcesOf returns the states from which a record may move to state to, including to itself.
func SourcesOf(to State) []State {
	return append([]State{to}, transitions[to]...)
}

// Record is one followed MP4 task, as kept in the store and printed as JSON.
type Record struct {
	TaskID       string    `json:"task_id"`                 // the MP4 task id KIE returned
	MusicTaskID  string    `json:"music_task_id,omitempty"` // the music task the video was made from
	AudioID      string    `json:"audio_id,omitempty"`      // the track within the music task
	State        State     `json:"state"`
	KIEStatus    string    `json:"kie_status,omitempty"` // KIE's successFlag at the last poll
	Polls        int       `json:"polls"`                // record-info calls made for it
	VideoURL     string    `json:"video_url,omitempty"`
	File         string    `json:"file,omitempty"` // path of the verified file
	Bytes        int64     `json:"bytes,omitempty"`
	SHA256       string    `json:"sha256,omitempty"`
	Error        string    `json:"error,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	CompletedAt  time.Time `json:"completed_at,omitzero"`  // when KIE reported it ready or failed
	DownloadedAt time.Time `json:"downloaded_at,omitzero"` // when the file was verified
	PartETag     string    `json:"-"`                      // validator of the partial file, for If-Range
	PartTotal    int64     `json:"-"`                      // length the partial file must reach (first declared); 0 unknown
	RetriedAt    time.Time `json:"-"`                      // last `kiemv retry`; the poll budget restarts here
}

// Change is one atomic update of a Record. Zero fields are left alone.
type Change struct {
	To           State // the new state; "" keeps the current one
	KIEStatus    string
	VideoURL     string
	File         string
	Bytes        int64
	SHA256       string
	Error        string
	ClearError   bool // remove the error field (for retry)
	AddPolls     int
	CompletedAt  time.Time
	DownloadedAt time.Time
	PartETag     string // validator of the bytes in the partial file; "-" clears it
	PartTotal    int64  // length the partial file must reach, as first declared; -1 clears it
	RetriedAt    time.Time
}

// Errors returned by a Store.
var (
	// ErrNoRecord means the store follows no task with that id.
	ErrNoRecord = errors.New("no such record")
	// ErrConflict means the record's current state does not allow the change.
	ErrConflict = errors.New("state change not allowed")
)

// maxIDLen is the longest task or audio id accepted.
const maxIDLen = 128

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ErrBadID is wrapped by ValidateID's errors and matched by every *FieldError: the input
// was refused before anything was sent anywhere.
var ErrBadID = errors.New("invalid id")

// ValidateID checks that id is 1–128 characters of [A-Za-z0-9_-], so that it can never
// steer a file path or a Redis key. what names the id in the error ("task id", "audio id").
func ValidateID(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: %s is empty", ErrBadID, what)
	case len(id) > maxIDLen:
		return fmt.Errorf("%w: %s %.20q… is %d characters long; the limit is %d", ErrBadID, what, id, len(id), maxIDLen)
	case !idPattern.MatchString(id):
		return fmt.Errorf("%w: %s %q may only contain letters, digits, '_' and '-'", ErrBadID, what, id)
	}
	return nil
}

// ambient is what every handler and the Service take from their surroundings: a logger and
// a clock. ambientOf is the one place their defaults (slog.Default, time.Now) are filled in.
type ambient struct {
	log *slog.Logger
	now func() time.Time
}

// ambientOf returns log and now, each replaced by its default when nil.
func ambientOf(log *slog.Logger, now func() time.Time) ambient {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return ambient{log: log, now: now}
}

// recorder is the record bookkeeping the poll and download handlers share: it applies
// Changes to the Store, logs state changes and tells the Hooks.
type recorder struct {
	ambient
	store Store
	hooks *Hooks
}

// newRecorder returns the recorder of a handler; a nil log or now takes the default.
func newRecorder(s Store, log *slog.Logger, now func() time.Time, hooks *Hooks) recorder {
	return recorder{ambient: ambientOf(log, now), store: s, hooks: hooks}
}

// change updates a record, logs a line when its state changes and tells the hooks. A
// conflict (the record moved on meanwhile, e.g. it was canceled) or a record gone is logged
// and swallowed: there is nothing left to do, and rec is nil.
func (r recorder) change(ctx context.Context, id string, ch Change) (*Record, error) {
	rec, err := r.store.Update(ctx, id, ch)
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrNoRecord) {
		r.log.Info("record moved on meanwhile; change dropped", "task_id", id, "to", ch.To, "reason", err)
		return nil, nil
	}
	if err != nil {
		return nil, err // the Store's errors name the record
	}
	if ch.To != "" {
		attrs := []any{"task_id", id, "state", rec.State}
		if rec.Error != "" {
			attrs = append(attrs, "error", rec.Error)
		}
		r.log.Info("state change", attrs...)
	}
	r.hooks.state(id, rec, ch)
	return rec, nil
}

// note applies a bookkeeping change (a poll counted, a URL replaced, progress) whose failure
// changes nothing for the attempt: the attempt goes on, and the failure is logged.
func (r recorder) note(ctx context.Context, id string, ch Change) {
	if _, err := r.change(ctx, id, ch); err != nil {
		r.log.Warn("record bookkeeping failed; going on", "task_id", id, "error", err)
	}
}
