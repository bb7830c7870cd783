package kie

import (
	"encoding/json"
	"fmt"
	"strings"
)

// parseJobRecord reads the reply of GET /api/v1/jobs/recordInfo for taskID. The envelope
// says "message" where the legacy one says "msg" (decodeEnvelope reads either). data:null
// gives a NotFound error, as on the legacy endpoint (§9.7). The record's TaskID defaults to
// taskID.
func parseJobRecord(taskID string, r reply) (*VideoRecord, error) {
	env, e := r.check(opJobsRecord, taskID)
	if e != nil {
		return nil, e
	}
	if isNull(env.Data) {
		return nil, &APIError{Op: opJobsRecord, TaskID: taskID, HTTPStatus: r.status, Code: env.Code,
			Msg: "recordInfo is null (data:null)"}
	}
	rec, err := decodeJobRecord(env.Data)
	if err != nil {
		return nil, &APIError{Op: opJobsRecord, TaskID: taskID, HTTPStatus: r.status, Code: env.Code,
			Msg: "undecodable record", Err: err}
	}
	if rec.TaskID == "" {
		rec.TaskID = taskID
	}
	return rec, nil
}

// decodeJobRecord decodes the data of /api/v1/jobs/recordInfo: state (a name in any case;
// null or "" means waiting), resultJson and param (JSON strings, or objects, decoded a
// second time), failCode (a number or a string) and failMsg, and epoch-ms times.
func decodeJobRecord(data json.RawMessage) (*VideoRecord, error) {
	o, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("record data: %w", err)
	}
	r := &VideoRecord{
		TaskID:      o.str("taskid"),
		CallbackURL: o.str("callbackurl"),
		Status:      jobStatus(flexString(o["state"])),
		VideoURL:    resultURL(o["resultjson"]),
	}
	if p := nested(o["param"]); p != nil {
		r.MusicID = p.str("audioid", "musicid")
		if in := nested(p["input"]); in != nil && r.MusicID == "" {
			r.MusicID = in.str("audioid", "musicid")
		}
	}
	code := o.str("failcode")
	msg := o.str("failmsg", "errormessage")
	if n, ok := flexInt(o["failcode"]); ok {
		r.ErrorCode = n
	} else if code != "" {
		msg = strings.TrimSpace(code + ": " + msg)
	}
	r.ErrorMessage = msg
	_ = r.CreateTime.UnmarshalJSON(o["createtime"])
	_ = r.CompleteTime.UnmarshalJSON(o["completetime"])
	return r, nil
}

// jobStatus maps a jobs API state to a Status: success → StatusSuccess, fail (or failed)
// → StatusFail, "" → StatusWaiting, anything else its upper-case name (not terminal).
func jobStatus(state string) Status {
	s := strings.ToUpper(strings.TrimSpace(state))
	switch s {
	case "":
		return StatusWaiting
	case "FAIL", "FAILED":
		return StatusFail
	}
	return Status(s)
}

// nested decodes a field that holds a JSON object, either as is or encoded as a JSON string
// (resultJson, param); nil when it is neither.
func nested(raw json.RawMessage) object {
	if isNull(raw) {
		return nil
	}
	if o, err := decodeObject(raw); err == nil {
		return o
	}
	s := flexString(raw)
	if !strings.HasPrefix(s, "{") {
		return nil
	}
	o, err := decodeObject([]byte(s))
	if err != nil {
		return nil
	}
	return o
}

// resultURL reads resultJson.resultUrls[0] (or a single resultUrl / videoUrl): the first
// non-empty URL.
func resultURL(raw json.RawMessage) string {
	o := nested(raw)
	if o == nil {
		return ""
	}
	var urls []json.RawMessage
	if err := json.Unmarshal(o["resulturls"], &urls); err == nil {
		for _, u := range urls {
			if s := flexString(u); s != "" {
				return s
			}
		}
	}
	return o.str("resulturls", "resulturl", "videourl")
}
