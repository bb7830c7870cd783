package kie

import "encoding/json"

// The fast paths of decodeObject: the replies KIE sends on every poll are split without
// encoding/json's reflection, and whenever a fast path answers it gives what the decoder would
// (FuzzSplitObject, FuzzFoldObject).

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
