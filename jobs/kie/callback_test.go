package kie

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
)

func TestParseCallback(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Callback
		ok   bool
	}{
		{"doc success", `{"code":200,"msg":"MP4 generated successfully.","data":{"task_id":"mp4_9f21c0d4","video_url":"https://tempfile.example/v/ab12.mp4"}}`,
			Callback{200, "MP4 generated successfully.", "mp4_9f21c0d4", "https://tempfile.example/v/ab12.mp4"}, true},
		{"camelCase", `{"code":200,"msg":"ok","data":{"taskId":"t1","videoUrl":"u"}}`, Callback{200, "ok", "t1", "u"}, true},
		{"failure null url", `{"code":451,"msg":"could not download the source audio","data":{"task_id":"t1","video_url":null}}`,
			Callback{451, "could not download the source audio", "t1", ""}, true},
		{"failure no url", `{"code":500,"msg":"server error","data":{"task_id":"t1"}}`, Callback{500, "server error", "t1", ""}, true},
		{"top-level taskId", `{"code":200,"msg":"ok","taskId":"t2","data":{"video_url":"u"}}`, Callback{200, "ok", "t2", "u"}, true},
		{"top-level task_id, data null", `{"code":400,"msg":"bad","task_id":"t3","data":null}`, Callback{400, "bad", "t3", ""}, true},
		{"url in response", `{"code":200,"data":{"task_id":"t4","response":{"videoUrl":"u4"}}}`, Callback{200, "", "t4", "u4"}, true},
		{"code as string", `{"code":"200","data":{"task_id":"t5"}}`, Callback{200, "", "t5", ""}, true},
		{"no task id", `{"code":200,"msg":"ok","data":{"video_url":"u"}}`, Callback{}, false},
		{"empty task id", `{"code":200,"data":{"task_id":""}}`, Callback{}, false},
		{"invalid JSON", `{"code":200,`, Callback{}, false},
		{"not an object", `["t1"]`, Callback{}, false},
		{"null", `null`, Callback{}, false},
		{"empty", ``, Callback{}, false},
	}
	for _, tc := range tests {
		cb, err := ParseCallback([]byte(tc.body))
		if !tc.ok {
			if err == nil || !errors.Is(err, ErrBadCallback) {
				t.Errorf("%s: got %+v, %v; want ErrBadCallback", tc.name, cb, err)
			}
			continue
		}
		if err != nil || *cb != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.name, cb, err, tc.want)
		}
	}
	cb, _ := ParseCallback([]byte(tests[0].body))
	if cb.Code != 200 || cb.VideoURL == "" {
		t.Error("doc success callback should be OK")
	}
	cb, _ = ParseCallback([]byte(tests[2].body))
	if cb.Code == 200 && cb.VideoURL != "" {
		t.Error("failed callback should not be OK")
	}
}

func TestSignature(t *testing.T) {
	const key, task, ts = "whk_test", "mp4_9f21c0d4", "1740910449"
	// The reference code of kie-api.md §4.
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(task + "." + ts))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := Sign(key, task, ts); got != want {
		t.Fatalf("Sign = %q; want %q", got, want)
	}
	tests := []struct {
		name               string
		key, task, ts, sig string
		ok                 bool
	}{
		{"good", key, task, ts, want, true},
		{"good with spaces", key, task, ts, " " + want + "\n", true},
		{"wrong key", "other", task, ts, want, false},
		{"wrong task", key, "mp4_other", ts, want, false},
		{"wrong timestamp", key, task, "1740910450", want, false},
		{"tampered", key, task, ts, "A" + want[1:], false},
		{"raw hex, not base64", key, task, ts, "deadbeef", false},
		{"missing signature", key, task, ts, "", false},
		{"missing timestamp", key, task, "", Sign(key, task, ""), false},
		{"missing task", key, "", ts, Sign(key, "", ts), false},
		{"missing key", "", task, ts, Sign("", task, ts), false},
	}
	for _, tc := range tests {
		if got := VerifySignature(tc.key, tc.task, tc.ts, tc.sig); got != tc.ok {
			t.Errorf("%s: VerifySignature = %v; want %v", tc.name, got, tc.ok)
		}
	}
}
