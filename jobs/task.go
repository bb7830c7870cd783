package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// Asynq task type names.
const (
	TypePoll     = "mp4:poll"     // ask KIE's record-info whether the video is ready
	TypeDownload = "mp4:download" // fetch the ready video to the download directory
)

// Retry limits of the two task types. Polls that find the video still pending are not
// counted (see IsFailure); only transient errors are.
const (
	PollMaxRetry     = 40
	DownloadMaxRetry = 12
)

// Queues names the Asynq queues of one namespace. Polls and downloads have queues (and
// servers) of their own, so that large downloads never starve polling.
type Queues struct {
	Poll     string
	Download string
}

// QueuesFor returns the queues of a namespace: "<ns>:poll" and "<ns>:download".
func QueuesFor(namespace string) Queues {
	return Queues{Poll: namespace + ":poll", Download: namespace + ":download"}
}

// payload is the JSON body of both task types: the MP4 task id and the generation of its
// record the task was queued for (see Record.Generation), nothing else: Asynqmon shows
// payloads, so no secret may ever be added here. A payload without "gen" (the first
// generation, and every payload written before generations existed) stands for generation 1.
type payload struct {
	ID  string `json:"id"`
	Gen int64  `json:"gen,omitempty"`
}

// PollTaskID is the Asynq TaskID of the poll task of generation gen of an MP4 task:
// poll:<id> for the first generation (as before generations existed, and a few bytes less in
// Redis for every task), poll:<id>:<gen> after. Each generation has its own, so a task left
// behind by an earlier one (archived, or still running on a worker that has not noticed it is
// stale) never blocks the current one.
func PollTaskID(id string, gen int64) string { return "poll:" + id + genSuffix(gen) }

// DownloadTaskID is the Asynq TaskID of the download task of generation gen of an MP4 task:
// dl:<id>, then dl:<id>:<gen>.
func DownloadTaskID(id string, gen int64) string { return "dl:" + id + genSuffix(gen) }

func genSuffix(gen int64) string {
	if gen <= 1 {
		return ""
	}
	return ":" + strconv.FormatInt(gen, 10)
}

// NewPollTask returns the poll task of generation gen of MP4 task id, due after delay.
func NewPollTask(id string, gen int64, q Queues, delay time.Duration) *asynq.Task {
	return newTask(TypePoll, newPayload(id, gen), asynq.TaskID(PollTaskID(id, gen)), asynq.Queue(q.Poll),
		asynq.MaxRetry(PollMaxRetry), asynq.Timeout(2*time.Minute), asynq.ProcessIn(DueIn(delay)))
}

// NewDownloadTask returns the download task of generation gen of MP4 task id. timeout bounds
// one attempt.
func NewDownloadTask(id string, gen int64, q Queues, timeout time.Duration) *asynq.Task {
	return newTask(TypeDownload, newPayload(id, gen), asynq.TaskID(DownloadTaskID(id, gen)), asynq.Queue(q.Download),
		asynq.MaxRetry(DownloadMaxRetry), asynq.Timeout(timeout))
}

// newPayload leaves the first generation out: it is what a payload without one means.
func newPayload(id string, gen int64) payload {
	if gen <= 1 {
		gen = 0
	}
	return payload{ID: id, Gen: gen}
}

func newTask(typ string, p payload, opts ...asynq.Option) *asynq.Task {
	b, _ := json.Marshal(p) // a string and an integer cannot fail to marshal
	return asynq.NewTask(typ, b, opts...)
}

// taskRef decodes and validates the MP4 task id and generation carried by t.
func taskRef(t *asynq.Task) (id string, gen int64, err error) {
	p, ok := quickPayload(t.Payload())
	if !ok {
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return "", 0, fmt.Errorf("%s task payload %q is not valid JSON: %v: %w", t.Type(), t.Payload(), err, asynq.SkipRetry)
		}
	}
	if err := ValidateID("task id", p.ID); err != nil {
		return "", 0, fmt.Errorf("%s task payload: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	if p.Gen < 0 {
		return "", 0, fmt.Errorf("%s task payload of %s: generation %d is negative: %w", t.Type(), p.ID, p.Gen, asynq.SkipRetry)
	}
	return p.ID, max(p.Gen, 1), nil
}

// quickPayload reads the payloads newTask writes, {"id":"…"} and {"id":"…","gen":N}, without
// encoding/json (every poll reads one); ok is false for anything else, which the JSON
// decoder then reads.
func quickPayload(b []byte) (p payload, ok bool) {
	const idKey, genKey = `{"id":"`, `,"gen":`
	rest, found := bytes.CutPrefix(b, []byte(idKey))
	if !found {
		return p, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 || bytes.ContainsFunc(rest[:i], func(r rune) bool { return !idRune(r) }) {
		return p, false // not an id (an escape, other bytes): the JSON decoder reads it
	}
	p.ID, rest = string(rest[:i]), rest[i+1:]
	if len(rest) == 1 && rest[0] == '}' {
		return p, true
	}
	num, found := bytes.CutPrefix(rest, []byte(genKey))
	if !found || len(num) < 2 || num[len(num)-1] != '}' {
		return payload{}, false
	}
	digits := num[:len(num)-1]
	if digits[0] == '0' || bytes.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return payload{}, false // not how newTask writes it (a sign, a leading zero, a fraction…)
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return payload{}, false
	}
	p.Gen = n
	return p, true
}

// idRune reports whether r may appear in a task id (see ValidateID).
func idRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}
