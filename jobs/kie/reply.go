package kie

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Op names, used in APIError.Op.
const (
	opCreate   = "create"
	opRecord   = "record-info"
	opDownload = "download-url"
	opCredit   = "credit"
)

// maxMsg is how many characters of a msg an APIError keeps.
const maxMsg = 200

// maxRetryAfter caps a Retry-After hint.
const maxRetryAfter = 24 * time.Hour

// reply is one HTTP response, read in full (up to the cap).
type reply struct {
	status int
	header http.Header
	body   []byte
}

// check applies §9.1: the call worked only if the HTTP status is 2xx and the body code is
// 200. Code 0 with msg "success" is also accepted; the docs' placeholder (code 0, msg "") is
// not, and fails as a Temporary error like any other unusable 2xx reply.
func (r reply) check(op, taskID string) (envelope, *APIError) {
	ok2xx := r.status >= 200 && r.status <= 299
	env, err := decodeEnvelope(r.body)
	e := &APIError{
		Op: op, TaskID: taskID, HTTPStatus: r.status,
		RetryAfter: parseRetryAfter(r.header.Get("Retry-After"), time.Now()),
	}
	if err != nil {
		e.Msg = describeBody(r.header.Get("Content-Type"), r.body, err)
		return env, e
	}
	if ok2xx && (env.Code == 200 || (env.Code == 0 && strings.EqualFold(env.Msg, "success"))) {
		return env, nil
	}
	e.Code, e.Msg = env.Code, cleanMsg(env.Msg, 0)
	if e.Msg == "" && e.Code == 0 {
		e.Msg = "reply without a success code"
	}
	if e.Duplicate() {
		e.ExistingTaskID = dataTaskID(env.Data)
	}
	return env, e
}

// describeBody says what kind of unusable body arrived, without copying it (except plain
// text, which is often a proxy's one-line explanation).
func describeBody(contentType string, body []byte, err error) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return "empty reply"
	}
	if errors.Is(err, errNotObject) {
		return "unexpected reply (JSON, but not an object)"
	}
	mt, _, perr := mime.ParseMediaType(contentType)
	if perr != nil || mt == "" {
		mt, _, _ = mime.ParseMediaType(http.DetectContentType(body))
	}
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		return "malformed JSON reply"
	}
	msg := "non-JSON reply (" + mt + ")"
	if mt == "text/plain" {
		msg += ": " + cleanMsg(string(body), 0) // cut to maxMsg by Client.seal, after redaction
	}
	return msg
}

// cleanMsg collapses whitespace, drops control characters and invalid UTF-8, and cuts the
// result to max characters (no cut when max is 0).
func cleanMsg(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && !unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if max > 0 && utf8.RuneCountInString(s) > max {
		rs := []rune(s)
		s = string(rs[:max]) + "…"
	}
	return s
}

// parseRetryAfter reads a Retry-After header: delay seconds (fractions allowed) or an
// HTTP-date. It returns 0 for absent, invalid or past values and caps at 24 h.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if f, err := strconv.ParseFloat(v, 64); err == nil && isNumber(v) {
		if math.IsNaN(f) || f <= 0 {
			return 0
		}
		if f >= maxRetryAfter.Seconds() {
			return maxRetryAfter
		}
		d = time.Duration(f * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// parseCreate reads the reply of POST /api/v1/mp4/generate: the new MP4 task id.
func parseCreate(r reply) (string, error) {
	env, e := r.check(opCreate, "")
	if e != nil {
		return "", e
	}
	id := dataTaskID(env.Data)
	if id == "" {
		return "", &APIError{Op: opCreate, HTTPStatus: r.status, Code: env.Code,
			Msg: "reply has no data.taskId"}
	}
	return id, nil
}

// parseRecordInfo reads the reply of GET /api/v1/mp4/record-info for taskID. data:null
// gives a NotFound error (§9.7). The record's TaskID defaults to taskID.
func parseRecordInfo(taskID string, r reply) (*VideoRecord, error) {
	env, e := r.check(opRecord, taskID)
	if e != nil {
		return nil, e
	}
	if isNull(env.Data) {
		return nil, &APIError{Op: opRecord, TaskID: taskID, HTTPStatus: r.status, Code: env.Code,
			Msg: "recordInfo is null (data:null)"}
	}
	rec, err := decodeRecord(env.Data)
	if err != nil {
		return nil, &APIError{Op: opRecord, TaskID: taskID, HTTPStatus: r.status, Code: env.Code,
			Msg: "undecodable record", Err: err}
	}
	if rec.TaskID == "" {
		rec.TaskID = taskID
	}
	return rec, nil
}

// parseDownloadURL reads the reply of POST /api/v1/common/download-url: data is the signed
// URL as a plain string ({"url": ...} or {"downloadUrl": ...} are accepted too).
func parseDownloadURL(r reply) (string, error) {
	env, e := r.check(opDownload, "")
	if e != nil {
		return "", e
	}
	u := flexString(env.Data)
	if o, err := decodeObject(env.Data); err == nil {
		u = o.str("url", "downloadurl")
	}
	if u == "" {
		return "", &APIError{Op: opDownload, HTTPStatus: r.status, Code: env.Code,
			Msg: "reply has no URL in data"}
	}
	return u, nil
}

// parseCredits reads the reply of GET /api/v1/chat/credit: data is an int, a float or a
// numeric string.
func parseCredits(r reply) (float64, error) {
	env, e := r.check(opCredit, "")
	if e != nil {
		return 0, e
	}
	f, ok := flexFloat(env.Data)
	if !ok {
		return 0, &APIError{Op: opCredit, HTTPStatus: r.status, Code: env.Code,
			Msg: fmt.Sprintf("data is not a number: %.40q", string(env.Data))}
	}
	return f, nil
}

// marshal encodes a request body. It cannot fail for the plain structs used here.
func marshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
