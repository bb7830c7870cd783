package kie

import (
	"net/http"
	"testing"
)

func FuzzDecodeMusicRecord(f *testing.F) {
	for _, s := range []string{
		docMusic,
		`{"code":200,"msg":"success","data":null}`,
		`{"code":422,"msg":"recordInfo is null","data":null}`,
		`{"code":200,"msg":"success","data":{"task_id":"a","status":"TEXT_SUCCESS","response":{"suno_data":[{"id":"x"}]}}}`,
		`{"code":200,"msg":"success","data":{"taskId":"a","response":"{\"sunoData\":[{\"id\":1e400,\"audioUrl\":7}]}","status":"CALLBACK_EXCEPTION"}}`,
		`{"code":200,"msg":"success","data":{"taskId":"a","response":{"sunoData":"[{\"id\":\"q\"}]"},"param":{"a":[1]},"errorCode":"x"}}`,
		`{"code":"200","msg":"success","data":{"taskId":1e400,"status":5,"createTime":"-1e400"}}`,
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
		rec, err := parseMusicRecordInfo("music_fuzz", r)
		if (rec == nil) == (err == nil) {
			t.Fatalf("rec=%v err=%v", rec, err)
		}
		if err != nil {
			e := err.(*APIError)
			_ = e.Error()
			_, _, _ = e.Temporary(), e.RateLimited(), e.NotFound()
			return
		}
		if rec.TaskID == "" {
			t.Fatal("record without a task id")
		}
		seen := map[string]bool{}
		for _, tk := range rec.Takes {
			if tk.AudioID == "" || seen[tk.AudioID] {
				t.Fatalf("take without an id, or twice: %+v", rec.Takes)
			}
			seen[tk.AudioID] = true
		}
		if rec.Done() && len(rec.Takes) == 0 {
			t.Fatal("done without takes")
		}
		_ = rec.Status.Failed()
	})
}
