package kie

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// PathMusicRecordInfo is the music task's details endpoint (kie-api.md §5), relative to
// Config.BaseURL. It knows music tasks only: MP4 tasks answer data:null there (§9.7).
const PathMusicRecordInfo = "/api/v1/generate/record-info"

// opMusic is the APIError.Op of a music record-info call.
const opMusic = "music-record-info"

// MusicStatus is the status of a music task (Generate or Extend Music), as KIE sends it.
type MusicStatus string

// The statuses of /api/v1/generate/record-info (§5). PENDING, TEXT_SUCCESS and
// FIRST_SUCCESS are on the way; SUCCESS ends the task with every take's audio; the failures
// end it without; CALLBACK_EXCEPTION means only the webhook failed (see MusicRecord.Done).
const (
	MusicPending           MusicStatus = "PENDING"
	MusicTextSuccess       MusicStatus = "TEXT_SUCCESS"
	MusicFirstSuccess      MusicStatus = "FIRST_SUCCESS"
	MusicSuccess           MusicStatus = "SUCCESS"
	MusicCreateFailed      MusicStatus = "CREATE_TASK_FAILED"
	MusicGenerateFailed    MusicStatus = "GENERATE_AUDIO_FAILED"
	MusicSensitiveWord     MusicStatus = "SENSITIVE_WORD_ERROR"
	MusicCallbackException MusicStatus = "CALLBACK_EXCEPTION"
)

var musicStatuses = []MusicStatus{MusicPending, MusicTextSuccess, MusicFirstSuccess, MusicSuccess,
	MusicCreateFailed, MusicGenerateFailed, MusicSensitiveWord, MusicCallbackException}

// Failed reports whether KIE gave up on the music task: CREATE_TASK_FAILED,
// GENERATE_AUDIO_FAILED, SENSITIVE_WORD_ERROR, or any other status ending in _FAILED or
// _ERROR. Unknown statuses otherwise count as still running.
func (s MusicStatus) Failed() bool {
	return strings.HasSuffix(string(s), "_FAILED") || (strings.HasSuffix(string(s), "_ERROR") && s != MusicCallbackException)
}

// Take is one track of a music task: response.sunoData[] of record-info.
type Take struct {
	AudioID  string // sunoData[].id: the audioId an MP4 is made from
	Title    string
	AudioURL string // "" until the take's audio is finished
}

// MusicRecord is the decoded data of GET /api/v1/generate/record-info.
type MusicRecord struct {
	TaskID       string
	Status       MusicStatus
	Type         string // GENERATE, EXTEND…
	Param        string // the request's parameters, a JSON string as KIE sends it
	Takes        []Take // in KIE's order; usually two once the music is made
	ErrorCode    int    // 0 when null
	ErrorMessage string
	CreateTime   Time
}

// Done reports whether the takes are final and their videos can be made: SUCCESS with at
// least one take, or CALLBACK_EXCEPTION (only the webhook failed) whose every take has its
// audio URL. kiemv does not act on FIRST_SUCCESS: a take whose audio is still being made
// could give a failed MP4 (kie-api.md §5 advises waiting for SUCCESS).
func (r *MusicRecord) Done() bool {
	if len(r.Takes) == 0 {
		return false
	}
	if r.Status == MusicSuccess {
		return true
	}
	if r.Status != MusicCallbackException {
		return false
	}
	for _, t := range r.Takes {
		if t.AudioURL == "" {
			return false
		}
	}
	return true
}

// MusicDetails fetches a music task's record. A task KIE does not know fails with an
// *APIError whose NotFound() is true.
func (c *Client) MusicDetails(ctx context.Context, taskID string) (*MusicRecord, error) {
	if strings.TrimSpace(taskID) == "" {
		return nil, fmt.Errorf("%w: the music task id is empty", ErrInvalidRequest)
	}
	path := PathMusicRecordInfo + "?" + url.Values{"taskId": {taskID}}.Encode()
	r, err := c.send(ctx, opMusic, taskID, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	rec, err := parseMusicRecordInfo(taskID, r)
	return rec, c.seal(err)
}

// parseMusicRecordInfo reads the reply of GET /api/v1/generate/record-info for taskID.
// data:null gives a NotFound error. The record's TaskID defaults to taskID.
func parseMusicRecordInfo(taskID string, r reply) (*MusicRecord, error) {
	env, e := r.check(opMusic, taskID)
	if e != nil {
		return nil, e
	}
	if isNull(env.Data) {
		return nil, &APIError{Op: opMusic, TaskID: taskID, HTTPStatus: r.status, Code: env.Code,
			Msg: "recordInfo is null (data:null)"}
	}
	rec, err := decodeMusicRecord(env.Data)
	if err != nil {
		return nil, &APIError{Op: opMusic, TaskID: taskID, HTTPStatus: r.status, Code: env.Code,
			Msg: "undecodable music record", Err: err}
	}
	if rec.TaskID == "" {
		rec.TaskID = taskID
	}
	return rec, nil
}

// decodeMusicRecord decodes the data of /api/v1/generate/record-info in camelCase or
// snake_case. response may be an object or that object as a JSON string; sunoData may sit in
// response or (as in the music callback) in data; param may be a string or an object.
func decodeMusicRecord(data json.RawMessage) (*MusicRecord, error) {
	o, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("music record data: %w", err)
	}
	r := &MusicRecord{
		TaskID:       o.str("taskid"),
		Type:         o.str("type"),
		ErrorMessage: o.str("errormessage", "errormsg"),
		Status:       decodeMusicStatus(o["status"]),
		Param:        flexString(o["param"]),
	}
	if r.Param == "" && !isNull(o["param"]) && json.Valid(o["param"]) {
		r.Param = string(o["param"]) // sent as an object instead of a string
	}
	r.ErrorCode, _ = flexInt(o["errorcode"])
	_ = r.CreateTime.UnmarshalJSON(o["createtime"])
	resp := objectOrString(o["response"])
	takes := resp["sunodata"]
	if isNull(takes) {
		takes = o["sunodata"]
	}
	r.Takes = decodeTakes(takes)
	return r, nil
}

// objectOrString decodes raw as an object, or as a JSON string holding one; nil otherwise.
func objectOrString(raw json.RawMessage) object {
	if isNull(raw) {
		return nil
	}
	if o, err := decodeObject(raw); err == nil {
		return o
	}
	if s := flexString(raw); strings.HasPrefix(s, "{") {
		if o, err := decodeObject([]byte(s)); err == nil {
			return o
		}
	}
	return nil
}

// decodeTakes reads sunoData: an array of objects (or that array as a JSON string). Entries
// without an id, and repeats of an id, are skipped: a take is known by its audio id.
func decodeTakes(raw json.RawMessage) []Take {
	if isNull(raw) {
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		s := flexString(raw)
		if !strings.HasPrefix(s, "[") || json.Unmarshal([]byte(s), &items) != nil {
			return nil
		}
	}
	var takes []Take
	seen := map[string]bool{}
	for _, it := range items {
		o, err := decodeObject(it)
		if err != nil {
			continue
		}
		t := Take{AudioID: o.str("id", "audioid"), Title: o.str("title"), AudioURL: o.str("audiourl")}
		if t.AudioID == "" || seen[t.AudioID] {
			continue
		}
		seen[t.AudioID] = true
		takes = append(takes, t)
	}
	return takes
}

// decodeMusicStatus reads status as a string; known names are matched without regard to
// case, unknown ones kept as sent; null and "" mean PENDING.
func decodeMusicStatus(raw json.RawMessage) MusicStatus {
	s := flexString(raw)
	if s == "" {
		return MusicPending
	}
	for _, k := range musicStatuses {
		if strings.EqualFold(s, string(k)) {
			return k
		}
	}
	return MusicStatus(s)
}
