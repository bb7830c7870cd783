package kiesim

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// The successFlag strings of /api/v1/mp4/record-info.
const (
	FlagPending           = "PENDING"
	FlagSuccess           = "SUCCESS"
	FlagCreateFailed      = "CREATE_TASK_FAILED"
	FlagGenerateFailed    = "GENERATE_MP4_FAILED"
	FlagCallbackException = "CALLBACK_EXCEPTION"
)

// timeLayout is KIE's record time format (no zone; the simulator uses UTC).
const timeLayout = "2006-01-02 15:04:05"

// signedURLLifetime is how long a download-url link works.
const signedURLLifetime = 20 * time.Minute

// task is one simulated MP4 task. Its fields are guarded by Sim.mu.
type task struct {
	id          string
	musicTaskID string
	audioID     string
	callbackURL string
	author      string
	domainName  string
	jobs        bool // created on (or added to) the jobs API: only /api/v1/jobs/recordInfo knows it
	fate        Fate
	size        int64
	created     time.Time
	readyAt     time.Time            // end of PENDING; zero for OutcomeNever
	polls       int                  // record-info calls that reached the task (PollFaults cursor)
	transferred bool                 // a GET of the file has started (CutAt is spent)
	sigs        map[string]time.Time // download-url signatures → expiry
}

// newTask builds a task created now. The caller holds s.mu.
func (s *Sim) newTask(id, audioID string, f Fate) *task {
	now := s.now()
	f = cloneFate(f)
	t := &task{id: id, audioID: audioID, fate: f, size: s.sizeFor(f), created: now,
		sigs: map[string]time.Time{}}
	if f.Outcome != OutcomeNever {
		d := f.ReadyAfter
		if d == 0 {
			d = s.cfg.ReadyAfter
		}
		t.readyAt = now.Add(max(d, 0))
	}
	return t
}

// flag is the task's successFlag at time now.
func (t *task) flag(now time.Time) string {
	if t.readyAt.IsZero() || now.Before(t.readyAt) {
		return FlagPending
	}
	switch t.fate.Outcome {
	case OutcomeGenerateFailed:
		return FlagGenerateFailed
	case OutcomeCreateFailed:
		return FlagCreateFailed
	case OutcomeCallbackException:
		return FlagCallbackException
	}
	return FlagSuccess
}

// hasVideo reports whether the task's file can be downloaded at time now.
func (t *task) hasVideo(now time.Time) bool {
	f := t.flag(now)
	return f == FlagSuccess || f == FlagCallbackException
}

// record is the data of a record-info reply, in KIE's field order.
type record struct {
	TaskID       string         `json:"taskId"`
	MusicID      string         `json:"musicId"`
	CallbackURL  string         `json:"callbackUrl"`
	MusicIndex   int            `json:"musicIndex"`
	CompleteTime *string        `json:"completeTime"`
	Response     *videoResponse `json:"response"`
	SuccessFlag  string         `json:"successFlag"`
	CreateTime   string         `json:"createTime"`
	ErrorCode    *int           `json:"errorCode"`
	ErrorMessage *string        `json:"errorMessage"`
}

// videoResponse is the record's response object once the video exists.
type videoResponse struct {
	VideoURL string `json:"videoUrl"`
}

// record renders the task at time now; base is the simulator's scheme://host.
func (t *task) record(now time.Time, base string) record {
	rec := record{
		TaskID:      t.id,
		MusicID:     t.audioID,
		CallbackURL: t.callbackURL,
		SuccessFlag: t.flag(now),
		CreateTime:  t.created.UTC().Format(timeLayout),
	}
	if rec.SuccessFlag == FlagPending {
		return rec
	}
	done := t.readyAt.UTC().Format(timeLayout)
	rec.CompleteTime = &done
	var code int
	var msg string
	switch rec.SuccessFlag {
	case FlagSuccess, FlagCallbackException:
		rec.Response = &videoResponse{VideoURL: base + fileURLPath(t.id)}
		return rec
	case FlagGenerateFailed:
		code, msg = 501, "Generate mp4 failed"
	case FlagCreateFailed:
		code, msg = 400, "Create mp4 task failed: unsupported audio"
	}
	rec.ErrorCode, rec.ErrorMessage = &code, &msg
	return rec
}

// fileURLPath is the path of a task's video on the simulator.
func fileURLPath(id string) string { return PathFiles + id + ".mp4" }

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// newTaskID returns an unused "mp4_" + 16 hex id. The caller holds s.mu.
func (s *Sim) newTaskID() string {
	for {
		id := "mp4_" + randomHex(8)
		if _, taken := s.tasks[id]; !taken {
			return id
		}
	}
}

// sign issues a download-url signature for t at time now. The caller holds s.mu.
func (t *task) sign(now time.Time) string {
	for sig, exp := range t.sigs { // drop expired ones so the map stays small
		if !now.Before(exp) {
			delete(t.sigs, sig)
		}
	}
	sig := randomHex(12)
	t.sigs[sig] = now.Add(signedURLLifetime)
	return sig
}

// validSig reports whether sig was issued for t and has not expired. The caller holds s.mu.
func (t *task) validSig(sig string, now time.Time) bool {
	exp, ok := t.sigs[sig]
	return ok && now.Before(exp)
}
