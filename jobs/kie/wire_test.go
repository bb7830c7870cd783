package kie

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// docRecord is the record-info example of kie-api.md §2.
const docRecord = `{"code":200,"msg":"success","data":{
  "taskId":"mp4_9f21c0d4","musicId":"e2310f3a-77b1-4c2e-9d1a-1f8c8cadc7dc",
  "callbackUrl":"https://hooks.example.org/kie/mp4","musicIndex":0,
  "completeTime":"2025-03-02 10:14:09","response":{"videoUrl":"https://tempfile.example/v/ab12.mp4"},
  "successFlag":"SUCCESS","createTime":"2025-03-02 10:12:51","errorCode":null,"errorMessage":null}}`

func okReply(body string) reply {
	return reply{status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(body)}
}

func rec(data string) string { return `{"code":200,"msg":"success","data":` + data + `}` }

func TestDecodeRecordDocExample(t *testing.T) {
	r, err := parseRecordInfo("mp4_9f21c0d4", okReply(docRecord))
	if err != nil {
		t.Fatal(err)
	}
	want := VideoRecord{
		TaskID: "mp4_9f21c0d4", MusicID: "e2310f3a-77b1-4c2e-9d1a-1f8c8cadc7dc",
		CallbackURL: "https://hooks.example.org/kie/mp4", Status: StatusSuccess,
		VideoURL:     "https://tempfile.example/v/ab12.mp4",
		CreateTime:   Time{"2025-03-02 10:12:51", time.Date(2025, 3, 2, 10, 12, 51, 0, time.UTC), true},
		CompleteTime: Time{"2025-03-02 10:14:09", time.Date(2025, 3, 2, 10, 14, 9, 0, time.UTC), true},
	}
	if *r != want {
		t.Errorf("got  %+v\nwant %+v", *r, want)
	}
	if !r.Ready() || !r.Status.Terminal() {
		t.Error("doc example should be ready and terminal")
	}
}

func TestDecodeRecordQuirks(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		check  func(*VideoRecord) bool
		status Status
	}{
		{"flag int 0", `{"taskId":"a","successFlag":0}`, nil, StatusPending},
		{"flag int 1", `{"taskId":"a","successFlag":1,"response":{"videoUrl":"u"}}`, func(r *VideoRecord) bool { return r.Ready() }, StatusSuccess},
		{"flag int 2", `{"taskId":"a","successFlag":2}`, func(r *VideoRecord) bool { return r.Status.Failed() }, StatusCreateFailed},
		{"flag int 3", `{"taskId":"a","successFlag":3}`, func(r *VideoRecord) bool { return r.Status.Terminal() }, StatusGenerateFailed},
		{"flag int 4", `{"taskId":"a","successFlag":4}`, func(r *VideoRecord) bool { return !r.Status.Terminal() }, StatusCallbackException},
		{"flag numeric string", `{"taskId":"a","successFlag":"1"}`, nil, StatusSuccess},
		{"flag unknown int", `{"taskId":"a","successFlag":9}`, func(r *VideoRecord) bool { return !r.Status.Terminal() }, Status("9")},
		{"flag lower case", `{"taskId":"a","successFlag":"success"}`, nil, StatusSuccess},
		{"flag unknown string", `{"taskId":"a","successFlag":"QUEUED"}`, func(r *VideoRecord) bool { return !r.Status.Terminal() }, Status("QUEUED")},
		{"flag unknown _FAILED", `{"taskId":"a","successFlag":"SENSITIVE_WORD_FAILED"}`, func(r *VideoRecord) bool { return r.Status.Terminal() }, Status("SENSITIVE_WORD_FAILED")},
		{"flag null", `{"taskId":"a","successFlag":null}`, nil, StatusPending},
		{"flag missing, status used", `{"taskId":"a","status":"SUCCESS"}`, nil, StatusSuccess},
		{"callback exception with url", `{"taskId":"a","successFlag":"CALLBACK_EXCEPTION","response":{"videoUrl":"u"}}`, func(r *VideoRecord) bool { return r.Ready() }, StatusCallbackException},
		{"callback exception no url", `{"taskId":"a","successFlag":"CALLBACK_EXCEPTION","response":{}}`, func(r *VideoRecord) bool { return !r.Ready() }, StatusCallbackException},
		{"response null", `{"taskId":"a","successFlag":"PENDING","response":null}`, func(r *VideoRecord) bool { return r.VideoURL == "" }, StatusPending},
		{"response {}", `{"taskId":"a","successFlag":"PENDING","response":{}}`, func(r *VideoRecord) bool { return r.VideoURL == "" }, StatusPending},
		{"response video_url", `{"taskId":"a","successFlag":"SUCCESS","response":{"video_url":"u2"}}`, func(r *VideoRecord) bool { return r.VideoURL == "u2" }, StatusSuccess},
		{"response as JSON string", `{"taskId":"a","successFlag":"SUCCESS","response":"{\"videoUrl\":\"u3\"}"}`, func(r *VideoRecord) bool { return r.VideoURL == "u3" }, StatusSuccess},
		{"top-level videoUrl", `{"taskId":"a","successFlag":"SUCCESS","videoUrl":"u4"}`, func(r *VideoRecord) bool { return r.VideoURL == "u4" }, StatusSuccess},
		{"snake_case keys", `{"task_id":"a","music_id":"m","callback_url":"cb","music_index":1,"success_flag":"GENERATE_MP4_FAILED","error_code":500,"error_message":"boom","create_time":1740910449000}`,
			func(r *VideoRecord) bool {
				return r.TaskID == "a" && r.MusicID == "m" && r.CallbackURL == "cb" && r.MusicIndex == 1 &&
					r.ErrorCode == 500 && r.ErrorMessage == "boom" && r.CreateTime.Valid
			}, StatusGenerateFailed},
		{"callBackUrl spelling", `{"taskId":"a","callBackUrl":"cb"}`, func(r *VideoRecord) bool { return r.CallbackURL == "cb" }, StatusPending},
		{"errorCode numeric string", `{"taskId":"a","successFlag":"CREATE_TASK_FAILED","errorCode":"413","errorMessage":"too long"}`,
			func(r *VideoRecord) bool { return r.ErrorCode == 413 && r.ErrorMessage == "too long" }, StatusCreateFailed},
		{"errorCode doc placeholder 0", `{"taskId":"a","successFlag":"SUCCESS","errorCode":0,"errorMessage":""}`,
			func(r *VideoRecord) bool { return r.ErrorCode == 0 && r.ErrorMessage == "" }, StatusSuccess},
		{"errorCode garbage", `{"taskId":"a","errorCode":"n/a","errorMessage":null}`, func(r *VideoRecord) bool { return r.ErrorCode == 0 }, StatusPending},
		{"epoch ms times", `{"taskId":"a","createTime":1740910371000,"completeTime":null}`,
			func(r *VideoRecord) bool {
				return r.CreateTime.Valid && !r.CompleteTime.Valid && r.CompleteTime.Raw == ""
			}, StatusPending},
		{"unparseable time kept", `{"taskId":"a","createTime":"soon"}`, func(r *VideoRecord) bool { return r.CreateTime.Raw == "soon" && !r.CreateTime.Valid }, StatusPending},
		{"missing taskId defaults", `{"successFlag":"PENDING"}`, func(r *VideoRecord) bool { return r.TaskID == "req" }, StatusPending},
		{"wrong types ignored", `{"taskId":"a","musicIndex":"x","response":[1],"successFlag":{}}`, func(r *VideoRecord) bool { return r.MusicIndex == 0 }, Status("")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseRecordInfo("req", okReply(rec(tc.data)))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.status
			if want == "" {
				want = StatusPending
			}
			if r.Status != want {
				t.Errorf("Status = %q; want %q", r.Status, want)
			}
			if tc.check != nil && !tc.check(r) {
				t.Errorf("check failed on %+v", *r)
			}
		})
	}
}

func TestStatusUnmarshal(t *testing.T) {
	var v struct{ S Status }
	for in, want := range map[string]Status{`1`: StatusSuccess, `"PENDING"`: StatusPending, `null`: StatusPending, `"X_FAILED"`: "X_FAILED"} {
		if err := json.Unmarshal([]byte(`{"S":`+in+`}`), &v); err != nil || v.S != want {
			t.Errorf("Unmarshal %s = %q, %v; want %q", in, v.S, err, want)
		}
	}
}

func TestEnvelopeSuccessRules(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		ok     bool
	}{
		{"200 success", 200, `{"code":200,"msg":"success","data":1}`, true},
		{"code as string", 200, `{"code":"200","msg":"success","data":1}`, true},
		{"code 0 success msg", 200, `{"code":0,"msg":"success","data":1}`, true},
		{"doc placeholder code 0 empty msg", 200, `{"code":0,"msg":"","data":1}`, false},
		{"no code", 200, `{"data":1}`, false},
		{"body error, HTTP 200", 200, `{"code":401,"msg":"Unauthorized"}`, false},
		{"body ok, HTTP 500", 500, `{"code":200,"msg":"success","data":1}`, false},
		{"HTTP 201", 201, `{"code":200,"msg":"success","data":1}`, true},
	}
	for _, tc := range tests {
		r := okReply(tc.body)
		r.status = tc.status
		_, e := r.check(opCredit, "")
		if (e == nil) != tc.ok {
			t.Errorf("%s: error %v; want ok=%v", tc.name, e, tc.ok)
		}
	}
}
