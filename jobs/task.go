package jobs

import (
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
	var p payload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return "", 0, fmt.Errorf("%s task payload %q is not valid JSON: %v: %w", t.Type(), t.Payload(), err, asynq.SkipRetry)
	}
	if err := ValidateID("task id", p.ID); err != nil {
		return "", 0, fmt.Errorf("%s task payload: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	if p.Gen < 0 {
		return "", 0, fmt.Errorf("%s task payload of %s: generation %d is negative: %w", t.Type(), p.ID, p.Gen, asynq.SkipRetry)
	}
	return p.ID, max(p.Gen, 1), nil
}
