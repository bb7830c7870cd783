package jobs

import (
	"context"
	"os"
	"time"

	"github.com/hibiken/asynq"
)

// Store keeps Records. store.Records implements it on Redis.
type Store interface {
	// Create inserts rec unless a record with rec.TaskID exists; it reports whether it did.
	// A new record's generation is at least 1.
	Create(ctx context.Context, rec *Record) (bool, error)
	// Get returns the record with that id, or an error wrapping ErrNoRecord.
	Get(ctx context.Context, id string) (*Record, error)
	// Update applies ch atomically and returns the record as it is afterwards. When ch.IfGen
	// is set and the record's generation differs, the error wraps ErrStale; when ch.IfState
	// is set and the state differs, or ch.To is set and the current state is not one of
	// SourcesOf(ch.To), the error wraps ErrConflict; either way nothing is written.
	// UpdatedAt is always set; BumpGen adds one to the generation.
	Update(ctx context.Context, id string, ch Change) (*Record, error)
	// List returns up to limit records, newest first; state "" means every state.
	List(ctx context.Context, state State, limit int) ([]*Record, error)
	// ReserveAudio claims the right to create the MP4 task of an audio key (see AudioKey) for
	// ttl. If a task is bound to the key, it returns that task's id as existing. If another
	// caller holds a live claim, existing and token are both "": wait and ask again. Otherwise
	// token is a new random owner token naming this claim: its holder keeps the claim alive
	// with RenewAudio while it creates, then calls BindAudio, or ReleaseAudio if the create
	// failed. A claim that is not renewed lapses after ttl, so a crashed holder blocks the key
	// for ttl at most.
	ReserveAudio(ctx context.Context, key string, ttl time.Duration) (existing, token string, err error)
	// RenewAudio extends the claim token holds on key to ttl from now, and reports whether it
	// did. It reports false and changes nothing when key holds anything else: no claim (it
	// lapsed), another caller's claim, or a bound task.
	RenewAudio(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	// BindAudio records, for good, that MP4 task id was created for key: it replaces any
	// claim (the caller's own, or another caller's that took the key over after the caller's
	// lapsed: a task that exists outranks every claim, and that caller's next RenewAudio fails)
	// and a missing key. It never replaces a task id already bound: then it leaves it and
	// returns it, and the caller follows that task. bound is the id key holds afterwards.
	BindAudio(ctx context.Context, key, id string) (bound string, err error)
	// ReleaseAudio drops the claim token holds on key after a failed create, so that a later
	// submit may try again. Anything else (another caller's claim, a bound task) is left alone.
	ReleaseAudio(ctx context.Context, key, token string) error
}

// Files is where downloads go: store.Dir (a local directory) and store.Bucket (object storage,
// which also implements Publisher) implement it.
type Files interface {
	// OpenPart opens (creating if needed) the partial file for id, positioned at its end, and
	// returns its current size.
	OpenPart(id string) (f *os.File, size int64, err error)
	// Commit fsyncs the partial file of id, renames it to its final name, fsyncs the directory
	// and returns the final path.
	Commit(id string) (string, error)
	// RemovePart deletes the partial file of id, if any (and, for a Publisher, its staged file).
	RemovePart(id string) error
	// FinalPath is where the verified file of id lives: a path, or an object's URL.
	FinalPath(id string) string
	// OpenFinal opens the verified file of id for reading; an error wrapping os.ErrNotExist
	// when there is none (or the name is not a regular file).
	OpenFinal(id string) (*os.File, error)
	// Owner names where the partial files live (machine and directory), as recorded in
	// Record.PartOwner: a download that moves to other Files starts from byte 0 there.
	Owner() string
	// PartIDs lists the ids that have a partial file, for the reconciler's clean-up.
	PartIDs() ([]string, error)
	// PutSidecar writes data as the sidecar of id (<id>.json next to <id>.mp4) atomically:
	// a reader sees the old sidecar or the new one, never part of one, and it survives a crash
	// once PutSidecar returns.
	PutSidecar(ctx context.Context, id string, data []byte) error
}

// Names of the limits a Limiter knows.
const (
	LimitCreate     = "create"      // POST /api/v1/mp4/generate, per account
	LimitRecordInfo = "record-info" // GET /api/v1/mp4/record-info, per key
)

// Limiter is a rate limiter shared by every worker and CLI. store.Limiter implements it.
type Limiter interface {
	// Allow takes one token from the named limit. It returns 0 when the call may go ahead
	// now, or how long to wait before asking again.
	Allow(ctx context.Context, name string) (time.Duration, error)
}

// LoadReserver is a Reserver that can also read the record of a poll and take the poll's
// call in the same round trip: the poll handler's first of its two round trips in the steady
// state (the second writes the outcome). store.Limiter implements it.
type LoadReserver interface {
	Reserver
	// LoadReserve reads the record id and, when it is pending and at generation gen, takes
	// a call of the named limit for it as Reserve(ctx, name, id) does. booked is false when
	// no call was taken (the record is in another state or generation). A missing record
	// gives an error wrapping ErrNoRecord.
	LoadReserve(ctx context.Context, name, id string, gen int64) (rec *Record, wait time.Duration, booked bool, err error)
}

// Reserver is a Limiter that keeps waiting callers in line. store.Limiter implements it; the
// poll handler and submit use it when their Limiter does.
type Reserver interface {
	// Reserve takes one call from the named limit for holder (an MP4 task id, a submit's
	// ticket). It returns 0 when the call may go ahead now. Otherwise it books the next free
	// call for holder and returns how long until it comes; when holder asks again at that
	// time it goes ahead without taking another (asking earlier returns the time left, asking
	// much later books again). Callers over the limit are so served in the order they first
	// asked, each once per turn, instead of racing for every call that frees up (which lets
	// the same few win every time while the others starve).
	Reserve(ctx context.Context, name, holder string) (time.Duration, error)
	// Release gives back the call booked for holder, which gave up waiting, so that it does
	// not hold up the line. Releasing a holder with nothing booked does nothing.
	Release(ctx context.Context, name, holder string) error
}

// Tasks is the part of Asynq's Inspector the Service uses on tasks already queued.
// *asynq.Inspector implements it.
type Tasks interface {
	// DeleteTask deletes a task that is not running, so that a new one may take its TaskID.
	DeleteTask(queue, taskID string) error
	// RunTask moves a scheduled, retrying or archived task to pending, so that it runs now.
	RunTask(queue, taskID string) error
	// GetTaskInfo describes a task; it fails with asynq.ErrTaskNotFound when there is none.
	GetTaskInfo(queue, taskID string) (*asynq.TaskInfo, error)
	// CancelProcessing asks the worker running the task with that TaskID to stop it.
	CancelProcessing(taskID string) error
}

var _ Tasks = (*asynq.Inspector)(nil)

// RecordScanner walks a state index in bounded steps, for the reconciler. store.Records
// implements it.
type RecordScanner interface {
	// Scan returns about count records in state st from cursor (0 to start) and the cursor to
	// go on from, 0 once the whole index was walked. A record may come twice in one walk.
	Scan(ctx context.Context, st State, cursor uint64, count int) ([]*Record, uint64, error)
}

// TaskStates reads the state of many Asynq tasks at once. store.Tasks implements it.
type TaskStates interface {
	// TaskStates returns the state of each task of queue ("pending", "scheduled", "retry",
	// "active", "archived", "completed", "aggregating"), "" for one that does not exist.
	TaskStates(ctx context.Context, queue string, taskIDs []string) ([]string, error)
}

// Lock is a lease that one process at a time holds (the reconciler's). store.Lock implements it.
type Lock interface {
	// Hold takes the lock for token, or extends the lease token holds, for ttl; it reports
	// whether token holds the lock now.
	Hold(ctx context.Context, token string, ttl time.Duration) (bool, error)
	// Release gives the lock up if token holds it.
	Release(ctx context.Context, token string) error
}
