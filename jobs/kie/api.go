// Package kie is a client for KIE.AI's Suno music-video (MP4) API: create, record-info,
// download-url and credits, plus callback parsing and HMAC verification, on the legacy
// endpoints (Client) and on KIE's jobs API (JobsClient, from Client.Jobs). It decodes every
// quirk listed in kie-api.md §9 and §10. Standard library only.
package kie

import (
	"context"
	"strings"
	"time"
)

// Status is KIE's successFlag for an MP4 task, normalised to its string form.
type Status string

// The successFlag values of /api/v1/mp4/record-info.
const (
	StatusPending           Status = "PENDING"
	StatusSuccess           Status = "SUCCESS"
	StatusCreateFailed      Status = "CREATE_TASK_FAILED"
	StatusGenerateFailed    Status = "GENERATE_MP4_FAILED"
	StatusCallbackException Status = "CALLBACK_EXCEPTION"
)

// Failed reports whether KIE gave up on the task: any status ending in _FAILED, or the jobs
// API's StatusFail.
func (s Status) Failed() bool { return strings.HasSuffix(string(s), "_FAILED") || s == StatusFail }

// VideoRecord is the decoded data of GET /api/v1/mp4/record-info.
type VideoRecord struct {
	TaskID       string
	MusicID      string // the audioId
	CallbackURL  string
	MusicIndex   int
	Status       Status
	VideoURL     string // response.videoUrl, "" until ready
	ErrorCode    int    // 0 when null
	ErrorMessage string
	CreateTime   Time
	CompleteTime Time
}

// Ready reports whether the video can be downloaded: SUCCESS, or CALLBACK_EXCEPTION with a
// video URL (the webhook failed, not the generation).
func (r *VideoRecord) Ready() bool {
	return r.VideoURL != "" && (r.Status == StatusSuccess || r.Status == StatusCallbackException)
}

// CreateRequest is the body of POST /api/v1/mp4/generate.
type CreateRequest struct {
	TaskID      string // the music task id
	AudioID     string // the track id
	CallBackURL string // required by KIE; a placeholder is sent when empty
	Author      string // at most MaxLabelLen characters
	DomainName  string // at most MaxLabelLen characters
}

// API is what kiemv needs from KIE. *Client implements it.
type API interface {
	CreateVideo(ctx context.Context, req CreateRequest) (string, error)
	VideoDetails(ctx context.Context, taskID string) (*VideoRecord, error)
	DownloadURL(ctx context.Context, fileURL string) (string, error)
	Credits(ctx context.Context) (float64, error)
}

// Time is a KIE timestamp, which arrives as "YYYY-MM-DD HH:MM:SS" (no zone; read as UTC),
// as epoch milliseconds, or as null. UnmarshalJSON lists every shape it accepts.
type Time struct {
	Raw   string    // the value as sent, "" for null
	Time  time.Time // the parsed instant, zero when it could not be parsed
	Valid bool      // Time was parsed
}
