package kie

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The jobs API endpoints (kie-api.md §10), relative to Config.BaseURL.
const (
	PathJobsCreate     = "/api/v1/jobs/createTask"
	PathJobsRecordInfo = "/api/v1/jobs/recordInfo"
)

// ModelMusicVideo is the jobs API's model slug of Create Music Video.
const ModelMusicVideo = "ai-music-api/create-music-video"

// Op names of the jobs API calls, used in APIError.Op.
const (
	opJobsCreate = "jobs-create"
	opJobsRecord = "jobs-record-info"
)

// The states of a jobs API task (recordInfo's data.state), as Status values: the state in
// upper case. WAITING, QUEUING and GENERATING are not ready; SUCCESS is StatusSuccess.
const (
	StatusWaiting    Status = "WAITING"
	StatusQueuing    Status = "QUEUING"
	StatusGenerating Status = "GENERATING"
	// StatusFail is the jobs API's "fail": terminal, with failCode and failMsg.
	StatusFail Status = "FAIL"
)

// JobsClient creates and polls MP4 tasks on KIE's jobs API (POST /api/v1/jobs/createTask,
// GET /api/v1/jobs/recordInfo); download-url and credits are the same calls as the
// Client's. It implements API, so a task held by the jobs API is followed exactly like a
// legacy one. Get one with Client.Jobs.
type JobsClient struct{ c *Client }

var _ API = (*JobsClient)(nil)

// Jobs returns the jobs API view of c. It shares c's key, HTTP client and settings.
func (c *Client) Jobs() *JobsClient { return &JobsClient{c: c} }

// CreateVideo starts an MP4 task on the jobs API (model ModelMusicVideo, snake_case input)
// and returns its task id. It fails like Client.CreateVideo (a duplicate, insufficient
// credits, validation).
func (j *JobsClient) CreateVideo(ctx context.Context, req CreateRequest) (string, error) {
	if err := req.validate(); err != nil {
		return "", err
	}
	cb := req.CallBackURL
	if cb == "" {
		cb = PlaceholderCallbackURL
	}
	type input struct {
		TaskID     string `json:"task_id"`
		AudioID    string `json:"audio_id"`
		Author     string `json:"author,omitempty"`
		DomainName string `json:"domain_name,omitempty"`
	}
	body := marshal(struct {
		Model       string `json:"model"`
		CallBackURL string `json:"callBackUrl"`
		Input       input  `json:"input"`
	}{ModelMusicVideo, cb, input{req.TaskID, req.AudioID, req.Author, req.DomainName}})
	r, err := j.c.send(ctx, opJobsCreate, req.TaskID, http.MethodPost, PathJobsCreate, body)
	if err != nil {
		return "", err
	}
	id, err := parseCreate(r)
	if e, ok := err.(*APIError); ok {
		e.Op, e.TaskID = opJobsCreate, req.TaskID
	}
	return id, j.c.seal(err)
}

// VideoDetails fetches the task's record from GET /api/v1/jobs/recordInfo and returns it in
// the same shape as the legacy record-info: Status is the state in upper case (StatusFail on
// "fail"), VideoURL is resultJson.resultUrls[0], ErrorCode and ErrorMessage come from
// failCode and failMsg. A task the jobs API does not know fails with an *APIError whose
// NotFound() is true.
func (j *JobsClient) VideoDetails(ctx context.Context, taskID string) (*VideoRecord, error) {
	if strings.TrimSpace(taskID) == "" {
		return nil, fmt.Errorf("%w: the MP4 task id is empty", ErrInvalidRequest)
	}
	path := PathJobsRecordInfo + "?" + url.Values{"taskId": {taskID}}.Encode()
	r, err := j.c.send(ctx, opJobsRecord, taskID, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	rec, err := parseJobRecord(taskID, r)
	return rec, j.c.seal(err)
}

// DownloadURL is Client.DownloadURL: the common endpoint serves both APIs' files.
func (j *JobsClient) DownloadURL(ctx context.Context, fileURL string) (string, error) {
	return j.c.DownloadURL(ctx, fileURL)
}

// Credits is Client.Credits: one balance per account.
func (j *JobsClient) Credits(ctx context.Context) (float64, error) { return j.c.Credits(ctx) }
