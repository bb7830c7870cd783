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

// splitObject is the fast path of decodeObject for valid JSON objects whose keys are plain
// ASCII: it splits b into key → value sub-slices of b (the values as json.Unmarshal would give
// them as RawMessage, without copying them). For anything else (invalid JSON, not an object,
// escaped or non-ASCII keys) it reports false and json.Unmarshal decides, so both paths give
// the same result.
func splitObject(b []byte) (map[string]json.RawMessage, bool) {
	raw := make(map[string]json.RawMessage, 12)
	ok := eachMember(b, func(key []byte, v json.RawMessage) bool {
		raw[string(key)] = v
		return true
	})
	return raw, ok
}

// foldObject is the fastest path of decodeObject, for the replies KIE sends on every poll:
// splitObject with the keys folded by normKey as it goes (without allocating for the keys
// KIE sends), for objects where no two keys fold into one (then normalize orders them).
func foldObject(b []byte) (object, bool) {
	obj := make(object, 12)
	ok := eachMember(b, func(key []byte, v json.RawMessage) bool {
		k, known := foldedKeys[string(key)]
		if !known {
			k = normKey(string(key))
		}
		if _, dup := obj[k]; dup {
			return false
		}
		obj[k] = v
		return true
	})
	return obj, ok
}

// foldedKeys maps the keys of KIE's replies to their normKey, computed once.
var foldedKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"code", "msg", "message", "data", "taskId", "task_id", "musicId", "audioId",
		"callbackUrl", "musicIndex", "completeTime", "response", "videoUrl", "video_url", "successFlag",
		"status", "createTime", "errorCode", "errorMessage", "errorMsg", "url", "downloadUrl"} {
		m[k] = normKey(k)
	}
	return m
}()

// eachMember calls fn with each member of the JSON object b, in order, while fn returns
// true; it reports false when fn did, or when b is not a valid JSON object whose keys are
// plain ASCII (no escapes).
func eachMember(b []byte, fn func(key []byte, v json.RawMessage) bool) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' || !json.Valid(b) {
		return false
	}
	for i = skipSpace(b, i+1); i < len(b) && b[i] != '}'; {
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		end := i + 1 // the key: b[i] is its opening quote (the JSON is valid)
		for end < len(b) && b[end] != '"' {
			if c := b[end]; c == '\\' || c >= 0x80 {
				return false
			}
			end++
		}
		key := b[i+1 : end]
		i = skipSpace(b, skipSpace(b, end+1)+1) // past the colon
		end = valueEnd(b, i)
		if !fn(key, json.RawMessage(b[i:end:end])) {
			return false
		}
		i = skipSpace(b, end)
	}
	return true
}

// valueEnd returns the index just past the JSON value that starts at b[i] (b is valid JSON).
func valueEnd(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch c := b[j]; c {
		case '"':
			for j++; b[j] != '"'; j++ {
				if b[j] == '\\' {
					j++
				}
			}
			if depth == 0 {
				return j + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 { // the end of a literal, at the object's close
				return j
			}
			if depth--; depth == 0 {
				return j + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return j
			}
		}
	}
	return len(b)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
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
