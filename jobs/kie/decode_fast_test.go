package kie

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Replies as the simulator (and KIE) send them, for the poll hot path.
const (
	benchPendingReply = `{"code":200,"msg":"success","data":{"taskId":"cap000123","musicId":"audio-cap000123","callbackUrl":"","musicIndex":0,"completeTime":null,"response":null,"successFlag":"PENDING","createTime":"2026-11-27 21:05:49","errorCode":null,"errorMessage":null}}`
	benchReadyReply   = `{"code":200,"msg":"success","data":{"taskId":"cap000123","musicId":"audio-cap000123","callbackUrl":"","musicIndex":0,"completeTime":"2026-11-27 21:06:19","response":{"videoUrl":"http://127.0.0.1:39999/files/cap000123.mp4"},"successFlag":"SUCCESS","createTime":"2026-11-27 21:05:49","errorCode":null,"errorMessage":null}}`
)

func benchmarkParse(b *testing.B, body string) {
	r := reply{status: 200, header: http.Header{}, body: []byte(body)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseRecordInfo("cap000123", r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRecordInfoPending(b *testing.B) { benchmarkParse(b, benchPendingReply) }
func BenchmarkParseRecordInfoReady(b *testing.B)   { benchmarkParse(b, benchReadyReply) }

// splitObject must give exactly what json.Unmarshal gives whenever it answers.
func FuzzSplitObject(f *testing.F) {
	for _, s := range []string{benchPendingReply, benchReadyReply, docRecord, `{}`, ` { "a" : 1 , "b":[1,{"c":"]"}],"a":"x\"y"} `,
		`{"a":1}x`, `{"é":1}`, `{"a\u0062":2}`, `{"a":"\\"}`, `{"a":-1e5,"b":true,"c":null,"d":{}}`, `[1]`, `null`, `{"a":}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := splitObject(b)
		if !ok {
			return
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(b, &want); err != nil || want == nil {
			t.Fatalf("splitObject accepted %q, json.Unmarshal: %v", b, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d keys, want %d", b, len(got), len(want))
		}
		for k, v := range want {
			if string(got[k]) != string(v) {
				t.Fatalf("%q: key %q = %q, want %q", b, k, got[k], v)
			}
		}
	})
}

// plainString must agree with json.Unmarshal (then TrimSpace) whenever it says yes.
func TestFlexStringFastPath(t *testing.T) {
	for _, s := range []string{`"abc"`, `" a b "`, `"é"`, `"a\"b"`, `"a\\b"`, `"\u00e9"`, `"ab`, `"a"b"`, "\"\xff\"", "\"a\tb\""} {
		var want string
		if json.Unmarshal([]byte(s), &want) != nil {
			want = ""
		}
		if got := flexString(json.RawMessage(s)); got != strings.TrimSpace(want) {
			t.Errorf("flexString(%s) = %q, want %q", s, got, strings.TrimSpace(want))
		}
	}
}

// foldObject must give exactly what normalize(json.Unmarshal) gives whenever it answers.
func FuzzFoldObject(f *testing.F) {
	for _, s := range []string{benchPendingReply, benchReadyReply, docRecord, `{}`, `{"taskId":"a","task_id":"b"}`,
		`{"TaskID":1,"x_y":2,"xY":3}`, `{"a":1,"a":2}`, `{"Zeta":null,"zeta":"v"}`, `{"é":1}`, `{"a\u0062":2}`, `[1]`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := foldObject(b)
		if !ok {
			return
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
			t.Fatalf("foldObject accepted %q, json.Unmarshal: %v", b, err)
		}
		want := normalize(raw)
		if len(got) != len(want) {
			t.Fatalf("%q: %d keys, want %d", b, len(got), len(want))
		}
		for k, v := range want {
			if string(got[k]) != string(v) {
				t.Fatalf("%q: key %q = %q, want %q", b, k, got[k], v)
			}
		}
	})
}
