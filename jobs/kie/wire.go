package kie

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// envelope is KIE's reply wrapper {"code": int, "msg": string, "data": any}; the jobs API
// spells msg "message".
type envelope struct {
	Code    int
	HasCode bool            // a non-null code was present
	Msg     string          // "" when absent or null
	Data    json.RawMessage // nil when absent, "null" when null
}

// errNotObject reports a body that is valid JSON but not an object.
var errNotObject = errors.New("JSON value is not an object")

// decodeEnvelope parses a reply body. It fails when the body is not a JSON object.
func decodeEnvelope(body []byte) (envelope, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return envelope{}, err
	}
	var env envelope
	if raw, ok := obj["code"]; ok && !isNull(raw) {
		env.Code, env.HasCode = flexInt(raw)
	}
	env.Msg = flexString(obj["msg"])
	if env.Msg == "" { // the jobs API says "message" (kie-api.md §10)
		env.Msg = flexString(obj["message"])
	}
	env.Data = obj["data"]
	return env, nil
}

// object is a JSON object whose keys were normalised by normKey.
type object map[string]json.RawMessage

// normKey folds the spellings KIE mixes (taskId, task_id, TaskID, callBackUrl ...) into one.
func normKey(k string) string { return strings.ToLower(strings.ReplaceAll(k, "_", "")) }

// decodeObject parses b as a JSON object with normalised keys. When two spellings of a key
// are both present, the first non-null one in sorted key order wins, so the result does not
// depend on map iteration order.
func decodeObject(b []byte) (object, error) {
	if obj, ok := foldObject(b); ok {
		return obj, nil
	}
	raw, ok := splitObject(b)
	if ok {
		return normalize(raw), nil
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		if json.Valid(b) {
			return nil, errNotObject
		}
		return nil, err
	}
	if raw == nil { // the body was null
		return nil, errNotObject
	}
	return normalize(raw), nil
}

// normalize folds the keys of raw with normKey; of two spellings of one key, the first
// non-null one in sorted key order wins.
func normalize(raw map[string]json.RawMessage) object {
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	obj := make(object, len(raw))
	for _, k := range keys {
		n := normKey(k)
		if prev, ok := obj[n]; ok && !isNull(prev) {
			continue
		}
		obj[n] = raw[k]
	}
	return obj
}

// str returns the first of the named fields that holds a string (or a number).
func (o object) str(names ...string) string {
	for _, n := range names {
		if s := flexString(o[n]); s != "" {
			return s
		}
	}
	return ""
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// flexString reads a JSON string, or the text of a number; anything else is "".
func flexString(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return ""
	}
	switch c := t[0]; {
	case c == '"' && plainString(t):
		return strings.TrimSpace(string(t[1 : len(t)-1]))
	case c == '"':
		var s string
		if json.Unmarshal(t, &s) == nil {
			return strings.TrimSpace(s)
		}
	case c == '-' || (c >= '0' && c <= '9'):
		if json.Valid(t) {
			return string(t)
		}
	}
	return ""
}

// plainString reports whether t is a JSON string that json.Unmarshal would return as its
// bytes between the quotes: no escapes, quotes or control characters, valid UTF-8.
func plainString(t []byte) bool {
	if len(t) < 2 || t[len(t)-1] != '"' {
		return false
	}
	for _, c := range t[1 : len(t)-1] {
		if c == '"' || c == '\\' || c < 0x20 {
			return false
		}
	}
	return utf8.Valid(t[1 : len(t)-1])
}

// flexInt reads an integer sent as a number (integral or not) or as a numeric string.
// It reports false, with 0, for null, "", and anything else.
func flexInt(raw json.RawMessage) (int, bool) {
	s := flexString(raw)
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= math.MinInt32 && n <= math.MaxInt32 {
		return int(n), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

// flexFloat reads a number sent as a JSON number or a numeric string.
func flexFloat(raw json.RawMessage) (float64, bool) {
	s := flexString(raw)
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// intStatus maps the numeric successFlag of KIE's other endpoints (§9.4) to its name.
var intStatus = map[int]Status{
	0: StatusPending,
	1: StatusSuccess,
	2: StatusCreateFailed,
	3: StatusGenerateFailed,
	4: StatusCallbackException,
}

// decodeStatus reads successFlag as a string or an int (also an int in a string). Known
// names are matched without regard to case; unknown strings are kept as sent and unknown
// ints become their decimal text. null, "" and a missing flag mean PENDING.
func decodeStatus(raw json.RawMessage) Status {
	s := flexString(raw)
	if s == "" {
		return StatusPending
	}
	// Only text that starts like a number can be one (ParseFloat's words inf and nan are
	// refused by flexInt): names skip the parse, and the error it would allocate.
	if c := s[0]; c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9') {
		if n, ok := flexInt(raw); ok {
			if s, known := intStatus[n]; known {
				return s
			}
			return Status(strconv.Itoa(n))
		}
	}
	for _, k := range intStatus {
		if strings.EqualFold(s, string(k)) {
			return k
		}
	}
	return Status(s)
}

// decodeRecord decodes the data of /api/v1/mp4/record-info, in camelCase or snake_case.
func decodeRecord(data json.RawMessage) (*VideoRecord, error) {
	o, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("record data: %w", err)
	}
	r := &VideoRecord{
		TaskID:       o.str("taskid"),
		MusicID:      o.str("musicid", "audioid"),
		CallbackURL:  o.str("callbackurl"),
		ErrorMessage: o.str("errormessage", "errormsg"),
		VideoURL:     responseVideoURL(o["response"]),
	}
	r.MusicIndex, _ = flexInt(o["musicindex"])
	r.ErrorCode, _ = flexInt(o["errorcode"])
	flag := o["successflag"]
	if isNull(flag) {
		flag = o["status"]
	}
	r.Status = decodeStatus(flag)
	if r.VideoURL == "" {
		r.VideoURL = o.str("videourl")
	}
	_ = r.CreateTime.UnmarshalJSON(o["createtime"])
	_ = r.CompleteTime.UnmarshalJSON(o["completetime"])
	return r, nil
}

// responseVideoURL reads response.videoUrl (or video_url). response may be null, {}, an
// object, or that object encoded as a JSON string.
func responseVideoURL(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	o, err := decodeObject(raw)
	if err != nil {
		s := flexString(raw)
		if !strings.HasPrefix(s, "{") {
			return ""
		}
		if o, err = decodeObject([]byte(s)); err != nil {
			return ""
		}
	}
	return o.str("videourl")
}

// dataTaskID returns data.taskId (or task_id) when data is an object, or data itself when
// it is a string: the shapes of a create reply and of a duplicate's existing task.
func dataTaskID(data json.RawMessage) string {
	if o, err := decodeObject(data); err == nil {
		return o.str("taskid")
	}
	t := bytes.TrimSpace(data)
	if len(t) > 0 && t[0] == '"' {
		return flexString(t)
	}
	return ""
}
