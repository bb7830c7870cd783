// Package jobs is kiemv's domain and its Asynq glue: the Record of a followed MP4 task, its
// states, generations and transitions, the task types, the poll and download handlers, the
// retry policy, the audio claims of submit and the reconciler. It declares the small
// interfaces it needs (Store, Files, Limiter…) and never imports go-redis or urfave/cli.
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
	API          string    `json:"kie_api,omitempty"`       // the KIE API holding the task (APILegacy, APIJobs); "" not known yet
	State        State     `json:"state"`
	Generation   int64     `json:"generation"`           // bumped by retry, cancel and re-adoption; jobs carry it (≥ 1)
	Requeued     int       `json:"requeued,omitempty"`   // times the reconciler queued a lost task again
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
	PartOwner    string    `json:"-"`                      // the Files (machine and directory) holding the partial file
}

// Change is one atomic update of a Record. Zero fields are left alone.
//
// A job's change is a compare-and-set on (state, generation): IfState and IfGen name what the
// job read, and the change is dropped (ErrConflict, ErrStale) if the record moved on since.
type Change struct {
	To           State // the new state; "" keeps the current one
	IfState      State // when set, the record must be in this state (else ErrConflict)
	IfGen        int64 // when > 0, the record must have this generation (else ErrStale)
	BumpGen      bool  // start a new generation: every task queued before is stale
	AddRequeued  int   // count a lost task queued again
	PartOwner    string
	API          string // the KIE API found to hold the task (set once)
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
	Brief        bool // the caller needs no record back: the Store may return one with only TaskID, State and Generation
}

// Errors returned by a Store.
var (
	// ErrNoRecord means the store follows no task with that id.
	ErrNoRecord = errors.New("no such record")
	// ErrConflict means the record's current state does not allow the change.
	ErrConflict = errors.New("state change not allowed")
	// ErrStale means the record's generation moved on (retry, cancel, re-adoption) since the
	// task that asked for the change was queued: the change was not made.
	ErrStale = errors.New("stale attempt: the record was retried, canceled or re-adopted since")
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
// Changes to the Store, fenced on the generation of the attempt's task and the state the
// attempt last saw, logs state changes and tells the Hooks.
type recorder struct {
	ambient
	store Store
	hooks *Hooks
	gen   int64 // the generation the running task was queued for (0: not fenced)
	state State // the record's state as the attempt last saw it ("": not fenced)
}

// newRecorder returns the recorder of a handler; a nil log or now takes the default.
func newRecorder(s Store, log *slog.Logger, now func() time.Time, hooks *Hooks) recorder {
	return recorder{ambient: ambientOf(log, now), store: s, hooks: hooks}
}

// load reads the record of the running task and fences the attempt's changes on it. It
// returns nil (and logs why) when there is nothing for the attempt to do: the record is gone,
// or it was retried, canceled or re-adopted since the task was queued (a stale attempt).
func (r *recorder) load(ctx context.Context, kind, id string, gen int64) (*Record, error) {
	rec, err := r.store.Get(ctx, id)
	return r.fence(kind, id, gen, rec, err)
}

// fence is load's second half, for a record read some other way (rec, err: what the read
// returned): it fences the attempt's changes on the record, or returns nil (and logs why).
func (r *recorder) fence(kind, id string, gen int64, rec *Record, err error) (*Record, error) {
	switch {
	case errors.Is(err, ErrNoRecord):
		r.log.Warn(kind+" for a task kiemv does not follow; dropping it", "task_id", id)
		return nil, nil
	case err != nil:
		return nil, err
	case rec.Generation != gen:
		r.log.Info("stale "+kind+" task; dropping it", "task_id", id, "task_generation", gen, "record_generation", rec.Generation)
		return nil, nil
	}
	r.gen, r.state = gen, rec.State
	return rec, nil
}

// change updates a record and, when its state changes, logs a line and tells the hooks. A
// change that finds the record moved on meanwhile (another state, another generation: it was
// canceled, retried, or re-adopted) or gone is logged and dropped: there is nothing left for
// the attempt to do, and rec is nil.
func (r *recorder) change(ctx context.Context, id string, ch Change) (*Record, error) {
	if ch.IfGen == 0 {
		ch.IfGen = r.gen
	}
	if ch.IfState == "" {
		ch.IfState = r.state
	}
	rec, err := r.store.Update(ctx, id, ch)
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrNoRecord) || errors.Is(err, ErrStale) {
		r.log.Info("record moved on meanwhile; change dropped", "task_id", id, "to", ch.To, "reason", err)
		return nil, nil
	}
	if err != nil {
		return nil, err // the Store's errors name the record
	}
	if r.state != "" {
		r.state = rec.State
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
// changes nothing for the attempt: the attempt goes on, and the failure is logged. It reports
// whether the record is still the attempt's (false: stale, moved on, gone, or unknown).
func (r *recorder) note(ctx context.Context, id string, ch Change) bool {
	ch.Brief = ch.Brief || ch.To == "" // the record itself is not needed, only whether it is still ours
	rec, err := r.change(ctx, id, ch)
	if err != nil {
		r.log.Warn("record bookkeeping failed; going on", "task_id", id, "error", err)
	}
	return rec != nil
}
