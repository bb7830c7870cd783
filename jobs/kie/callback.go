package kie

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Headers KIE sends with a callback once webhookHmacKey is enabled (kie-api.md §4).
const (
	HeaderTimestamp = "X-Webhook-Timestamp" // Unix seconds
	HeaderSignature = "X-Webhook-Signature" // base64(HMAC-SHA256(key, taskId+"."+timestamp))
)

// ErrBadCallback is wrapped by ParseCallback's errors.
var ErrBadCallback = errors.New("bad KIE callback")

// Callback is the body KIE POSTs to callBackUrl when an MP4 task ends. Only TaskID is to be
// trusted: the signature does not cover the body (§9.9), so VideoURL is never fetched.
type Callback struct {
	Code     int    // 200 on success
	Msg      string // e.g. "MP4 generated successfully."
	TaskID   string // the MP4 task id
	VideoURL string // "" on failure
}

// ParseCallback decodes a callback body. It reads data.task_id or data.taskId, falling back
// to a top-level taskId/task_id, and data.video_url or data.videoUrl (also inside
// data.response). It fails on invalid JSON and when no task id is present.
func ParseCallback(body []byte) (*Callback, error) {
	top, err := decodeObject(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCallback, err)
	}
	cb := &Callback{Msg: cleanMsg(top.str("msg", "message"), maxMsg)} // the jobs API says "message"
	cb.Code, _ = flexInt(top["code"])
	if data, err := decodeObject(top["data"]); err == nil {
		cb.TaskID = data.str("taskid")
		cb.VideoURL = data.str("videourl")
		if cb.VideoURL == "" {
			cb.VideoURL = responseVideoURL(data["response"])
		}
	}
	if cb.TaskID == "" {
		cb.TaskID = top.str("taskid")
	}
	if cb.VideoURL == "" {
		cb.VideoURL = top.str("videourl")
	}
	if cb.TaskID == "" {
		return nil, fmt.Errorf("%w: no task id (data.task_id) in the body", ErrBadCallback)
	}
	return cb, nil
}

// Sign returns base64.StdEncoding(HMAC-SHA256(key, taskID+"."+timestamp)), the value KIE
// sends in X-Webhook-Signature.
func Sign(key, taskID, timestamp string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(taskID + "." + timestamp))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifySignature reports, in constant time, whether signature is Sign(key, taskID,
// timestamp). An empty key, task id, timestamp or signature never verifies. It does not
// check the timestamp's age: callers should allow ±300 s and dedupe on (taskID, timestamp).
func VerifySignature(key, taskID, timestamp, signature string) bool {
	signature = strings.TrimSpace(signature)
	if key == "" || taskID == "" || timestamp == "" || signature == "" {
		return false
	}
	return hmac.Equal([]byte(Sign(key, taskID, timestamp)), []byte(signature))
}
