package kie

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// docJobRecord is the jobs API's recordInfo example of kie-api.md §10.
const docJobRecord = `{"code":200,"message":"success","data":{"taskId":"job_1","model":"ai-music-api/create-music-video","state":"success",` +
	`"param":"{\"model\":\"ai-music-api/create-music-video\",\"input\":{\"task_id\":\"m1\",\"audio_id\":\"a1\"}}",` +
	`"resultJson":"{\"resultUrls\":[\"https://files.example/x.mp4\"]}","failCode":"","failMsg":"",` +
	`"costTime":41,"completeTime":1764300000000,"createTime":1764299950000,"updateTime":1764300000000}}`

func jobRec(data string) string { return `{"code":200,"message":"success","data":` + data + `}` }

func TestDecodeJobRecordDocExample(t *testing.T) {
	rec, err := parseJobRecord("job_1", okReply(docJobRecord))
	if err != nil {
		t.Fatal(err)
	}
	if rec.TaskID != "job_1" || rec.Status != StatusSuccess || !rec.Ready() || !rec.Status.Terminal() ||
		rec.VideoURL != "https://files.example/x.mp4" || rec.MusicID != "a1" || rec.ErrorCode != 0 || rec.ErrorMessage != "" {
		t.Errorf("record %+v", rec)
	}
	if !rec.CreateTime.Valid || !rec.CreateTime.Time.Equal(time.UnixMilli(1764299950000)) ||
		!rec.CompleteTime.Time.Equal(time.UnixMilli(1764300000000)) {
		t.Errorf("times %v %v", rec.CreateTime, rec.CompleteTime)
	}
}

func TestDecodeJobRecordQuirks(t *testing.T) {
	for _, tc := range []struct {
		name, body   string
		status       Status
		url, msg     string
		code         int
		ready, ended bool
	}{
		{"waiting", jobRec(`{"taskId":"j","state":"waiting","resultJson":"","failCode":null}`), StatusWaiting, "", "", 0, false, false},
		{"queuing", jobRec(`{"taskId":"j","state":"queuing"}`), StatusQueuing, "", "", 0, false, false},
		{"generating, upper case", jobRec(`{"taskId":"j","state":"GENERATING"}`), StatusGenerating, "", "", 0, false, false},
		{"no state", jobRec(`{"taskId":"j","state":null}`), StatusWaiting, "", "", 0, false, false},
		{"unknown state is not terminal", jobRec(`{"taskId":"j","state":"thinking"}`), Status("THINKING"), "", "", 0, false, false},
		{"fail with a numeric code", jobRec(`{"taskId":"j","state":"fail","failCode":"501","failMsg":"Generate mp4 failed"}`), StatusFail, "", "Generate mp4 failed", 501, false, true},
		{"fail with a word code", jobRec(`{"taskId":"j","state":"fail","failCode":"CONTENT_POLICY","failMsg":"blocked"}`), StatusFail, "", "CONTENT_POLICY: blocked", 0, false, true},
		{"fail with an int code", jobRec(`{"task_id":"j","state":"failed","fail_code":422,"fail_msg":"bad audio"}`), StatusFail, "", "bad audio", 422, false, true},
		{"resultJson as an object", jobRec(`{"taskId":"j","state":"success","resultJson":{"resultUrls":["u1"]}}`), StatusSuccess, "u1", "", 0, true, true},
		{"resultJson with an empty first URL", jobRec(`{"taskId":"j","state":"success","resultJson":"{\"resultUrls\":[\"\",\"u2\"]}"}`), StatusSuccess, "u2", "", 0, true, true},
		{"resultJson with one URL as a string", jobRec(`{"taskId":"j","state":"success","resultJson":"{\"resultUrls\":\"u3\"}"}`), StatusSuccess, "u3", "", 0, true, true},
		{"success without a URL is not ready", jobRec(`{"taskId":"j","state":"success","resultJson":"not json"}`), StatusSuccess, "", "", 0, false, true},
		{"msg instead of message", `{"code":200,"msg":"success","data":{"taskId":"j","state":"waiting"}}`, StatusWaiting, "", "", 0, false, false},
	} {
		rec, err := parseJobRecord("j", okReply(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if rec.Status != tc.status || rec.VideoURL != tc.url || rec.ErrorMessage != tc.msg || rec.ErrorCode != tc.code ||
			rec.Ready() != tc.ready || rec.Status.Terminal() != tc.ended {
			t.Errorf("%s: got %+v (ready %v, terminal %v)", tc.name, rec, rec.Ready(), rec.Status.Terminal())
		}
	}
}

func TestParseJobRecordErrors(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		r                     reply
		notFound, temp, rated bool
	}{
		{"data null", okReply(`{"code":200,"message":"success","data":null}`), true, false, false},
		{"recordInfo is null in message", okReply(`{"code":422,"message":"recordInfo is null","data":null}`), true, false, false},
		{"404 body code", okReply(`{"code":404,"message":"task not found"}`), true, false, false},
		{"non-JSON 2xx", reply{status: 200, header: http.Header{"Content-Type": {"text/plain"}}, body: []byte("upstream hiccup")}, false, true, false},
		{"empty 2xx", okReply(``), false, true, false},
		{"rate limited", okReply(`{"code":429,"message":"rate limited"}`), false, true, true},
		{"data not an object (a glitch: transient)", okReply(`{"code":200,"message":"success","data":[1]}`), false, true, false},
	} {
		rec, err := parseJobRecord("j", tc.r)
		e, ok := err.(*APIError)
		if rec != nil || !ok {
			t.Errorf("%s: rec %v err %v", tc.name, rec, err)
			continue
		}
		if e.NotFound() != tc.notFound || e.Temporary() != tc.temp || e.RateLimited() != tc.rated || e.Op != opJobsRecord {
			t.Errorf("%s: %v: notFound %v temporary %v rateLimited %v", tc.name, e, e.NotFound(), e.Temporary(), e.RateLimited())
		}
	}
}

func TestJobsClientCreate(t *testing.T) {
	var got map[string]any
	var path string
	c, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		_ = json.NewDecoder(r.Body).Decode(&got)
		io.WriteString(w, `{"code":200,"message":"success","data":{"taskId":"job_9"}}`)
	})
	id, err := c.Jobs().CreateVideo(context.Background(), CreateRequest{TaskID: "m1", AudioID: "a1", Author: "Nova", DomainName: "nova.example"})
	if err != nil || id != "job_9" {
		t.Fatalf("id %q err %v", id, err)
	}
	in, _ := got["input"].(map[string]any)
	if path != PathJobsCreate || got["model"] != ModelMusicVideo || got["callBackUrl"] != PlaceholderCallbackURL ||
		in["task_id"] != "m1" || in["audio_id"] != "a1" || in["author"] != "Nova" || in["domain_name"] != "nova.example" {
		t.Errorf("path %s body %v", path, got)
	}
}

func TestJobsClientDetailsAndCreditErrors(t *testing.T) {
	c, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == PathJobsRecordInfo && r.URL.Query().Get("taskId") == "job_1":
			io.WriteString(w, docJobRecord)
		case r.URL.Path == PathJobsRecordInfo:
			io.WriteString(w, `{"code":422,"message":"recordInfo is null","data":null}`)
		case r.URL.Path == PathJobsCreate:
			io.WriteString(w, `{"code":402,"message":"Credits insufficient. Please top up."}`)
		default:
			http.NotFound(w, r)
		}
	})
	j := c.Jobs()
	rec, err := j.VideoDetails(context.Background(), "job_1")
	if err != nil || !rec.Ready() {
		t.Fatalf("rec %+v err %v", rec, err)
	}
	if _, err := j.VideoDetails(context.Background(), "nope"); !isNotFound(err) || !strings.Contains(err.Error(), "jobs-record-info nope") {
		t.Errorf("unknown task: %v", err)
	}
	_, err = j.CreateVideo(context.Background(), CreateRequest{TaskID: "m1", AudioID: "a1"})
	if !IsInsufficientCredits(err) || IsTemporary(err) || !strings.Contains(err.Error(), "jobs-create m1: code 402") {
		t.Errorf("402: %v", err)
	}
}

func TestInsufficientCredits(t *testing.T) {
	for _, tc := range []struct {
		e    APIError
		want bool
	}{
		{APIError{Code: 402, Msg: "insufficient credits"}, true},
		{APIError{Code: 433, Msg: "account credit limit"}, true},
		{APIError{HTTPStatus: 402}, true},
		{APIError{Code: 429, Msg: "credits not enough"}, true},
		{APIError{Code: 429, Msg: "rate limited"}, false},
		{APIError{Code: 500, Msg: "credit service down"}, false},
		{APIError{Code: 409, Msg: "Mp4 record already exists"}, false},
	} {
		if got := tc.e.InsufficientCredits(); got != tc.want {
			t.Errorf("%v: InsufficientCredits %v; want %v", &tc.e, got, tc.want)
		}
	}
}

// FuzzDecodeJobRecord feeds arbitrary jobs API recordInfo bodies through the full reply
// path. It must never panic, and must return exactly one of a record or an error.
func FuzzDecodeJobRecord(f *testing.F) {
	for _, s := range []string{
		docJobRecord,
		jobRec(`null`),
		`{"code":422,"message":"recordInfo is null","data":null}`,
		jobRec(`{"task_id":"a","state":"fail","failCode":501,"failMsg":null,"createTime":"1764299950000"}`),
		jobRec(`{"taskId":"a","state":"success","resultJson":"{\"resultUrls\":[1,null,\"u\"]}","param":"{\"input\":\"x\"}"}`),
		jobRec(`{"taskId":"a","state":7,"resultJson":"{\"resultUrls\":{}}","param":"[","failCode":1e400}`),
		`{"code":200,"message":"success","data":"{\"taskId\":\"a\"}"}`,
		`<html>502</html>`,
		``,
	} {
		f.Add(200, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		r := reply{status: status, header: http.Header{}, body: body}
		rec, err := parseJobRecord("job_fuzz", r)
		if (rec == nil) == (err == nil) {
			t.Fatalf("rec=%v err=%v", rec, err)
		}
		if err != nil {
			e := err.(*APIError)
			_ = e.Error()
			_, _, _, _ = e.Temporary(), e.RateLimited(), e.NotFound(), e.InsufficientCredits()
			return
		}
		if rec.TaskID == "" {
			t.Fatal("record without a task id")
		}
		if rec.Ready() && rec.VideoURL == "" {
			t.Fatal("ready without a URL")
		}
		_ = rec.Status.Terminal()
	})
}

// A jobs API callback (its MP4 shape is undocumented, §10) is read like any other: its task id
// wakes the poll, which asks recordInfo.
func TestParseJobsCallback(t *testing.T) {
	cb, err := ParseCallback([]byte(`{"code":200,"message":"success","data":{"taskId":"job_1","state":"success",` +
		`"resultJson":"{\"resultUrls\":[\"https://files.example/x.mp4\"]}"}}`))
	if err != nil || cb.TaskID != "job_1" || cb.Msg != "success" || cb.Code != 200 {
		t.Errorf("callback %+v, %v", cb, err)
	}
}
