package jobs

import (
	"encoding/json"
	"fmt"
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

// payload is the JSON body of both task types. It holds the MP4 task id and nothing else:
// Asynqmon shows payloads, so no secret may ever be added here.
type payload struct {
	ID string `json:"id"`
}

// PollTaskID is the Asynq TaskID of the poll task of an MP4 task.
func PollTaskID(id string) string { return "poll:" + id }

// DownloadTaskID is the Asynq TaskID of the download task of an MP4 task.
func DownloadTaskID(id string) string { return "dl:" + id }

// NewPollTask returns the poll task for MP4 task id, due after delay.
func NewPollTask(id string, q Queues, delay time.Duration) *asynq.Task {
	return newTask(TypePoll, id, asynq.TaskID(PollTaskID(id)), asynq.Queue(q.Poll),
		asynq.MaxRetry(PollMaxRetry), asynq.Timeout(2*time.Minute), asynq.ProcessIn(DueIn(delay)))
}

// NewDownloadTask returns the download task for MP4 task id. timeout bounds one attempt.
func NewDownloadTask(id string, q Queues, timeout time.Duration) *asynq.Task {
	return newTask(TypeDownload, id, asynq.TaskID(DownloadTaskID(id)), asynq.Queue(q.Download),
		asynq.MaxRetry(DownloadMaxRetry), asynq.Timeout(timeout))
}

func newTask(typ, id string, opts ...asynq.Option) *asynq.Task {
	b, _ := json.Marshal(payload{ID: id}) // a struct of one string cannot fail to marshal
	return asynq.NewTask(typ, b, opts...)
}

// taskRecordID decodes and validates the MP4 task id carried by t.
func taskRecordID(t *asynq.Task) (string, error) {
	var p payload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return "", fmt.Errorf("%s task payload %q is not valid JSON: %v: %w", t.Type(), t.Payload(), err, asynq.SkipRetry)
	}
	if err := ValidateID("task id", p.ID); err != nil {
		return "", fmt.Errorf("%s task payload: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	return p.ID, nil
}
