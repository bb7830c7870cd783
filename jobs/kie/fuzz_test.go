package kie

import (
	"net/http"
	"testing"
)

// FuzzDecodeRecord feeds arbitrary record-info bodies through the full reply path. It must
// never panic, and must return exactly one of a record or an error.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range []string{
		docRecord,
		`{"code":200,"msg":"success","data":null}`,
		`{"code":422,"msg":"recordInfo is null","data":null}`,
		`{"code":200,"msg":"success","data":{"task_id":"a","success_flag":3,"error_code":"500","create_time":1740910449000}}`,
		`{"code":200,"msg":"success","data":{"taskId":"a","response":"{\"video_url\":\"u\"}","successFlag":"CALLBACK_EXCEPTION"}}`,
		`{"code":"200","msg":"success","data":{"taskId":1e400,"musicIndex":-1e30,"createTime":"-1e400"}}`,
		`{"code":0,"msg":"","data":{}}`,
		`<html>502</html>`,
		`[]`,
		``,
	} {
		f.Add(200, []byte(s))
	}
	f.Add(429, []byte(`{"code":429,"msg":"rate limited"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		r := reply{status: status, header: http.Header{"Retry-After": {string(body[:min(len(body), 16)])}}, body: body}
		rec, err := parseRecordInfo("mp4_fuzz", r)
		if (rec == nil) == (err == nil) {
			t.Fatalf("rec=%v err=%v", rec, err)
		}
		if err != nil {
			e := err.(*APIError)
			_ = e.Error()
			_, _, _, _ = e.Temporary(), e.RateLimited(), e.NotFound(), e.Duplicate()
			return
		}
		if rec.TaskID == "" {
			t.Fatal("record without a task id")
		}
		_, _ = rec.Ready(), rec.Status.Terminal()
	})
}

// FuzzParseCallback checks that ParseCallback never panics and never returns a callback
// without a task id.
func FuzzParseCallback(f *testing.F) {
	for _, s := range []string{
		`{"code":200,"msg":"MP4 generated successfully.","data":{"task_id":"mp4_9f21c0d4","video_url":"https://tempfile.example/v/ab12.mp4"}}`,
		`{"code":451,"msg":"x","data":{"task_id":"t","video_url":null}}`,
		`{"code":200,"taskId":"t","data":{"videoUrl":"u"}}`,
		`{"code":200,"data":{"task_id":"t","response":"{\"videoUrl\":1}"}}`,
		`{"data":"x"}`,
		`null`,
		`{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := ParseCallback(body)
		if (cb == nil) == (err == nil) {
			t.Fatalf("cb=%v err=%v", cb, err)
		}
		if cb != nil && cb.TaskID == "" {
			t.Fatal("callback without a task id")
		}
	})
}
