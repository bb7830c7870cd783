package kie

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// docMusic is the record-info example of kie-api.md §5, with its two takes.
const docMusic = `{"code":200,"msg":"success","data":{"taskId":"5c79aa01be8e","parentMusicId":"","param":"{\"prompt\":\"...\"}",
 "response":{"taskId":"5c79aa01be8e","sunoData":[{"id":"e2310f3a-77b1","audioUrl":"https://x/a.mp3",
  "streamAudioUrl":"https://x/s","imageUrl":"https://x/c.jpeg","prompt":"...","modelName":"chirp-v4",
  "title":"Night Drive","tags":"synthwave","createTime":"2025-03-02 10:02:00","duration":182.4},
  {"id":"f4410b2c-99aa","audioUrl":"https://x/b.mp3","title":"Night Drive (take 2)"}]},
 "status":"SUCCESS","type":"GENERATE","errorCode":null,"errorMessage":null,"createTime":1740909720000}}`

func TestDecodeMusicDocExample(t *testing.T) {
	r, err := parseMusicRecordInfo("5c79aa01be8e", okReply(docMusic))
	if err != nil {
		t.Fatal(err)
	}
	if r.TaskID != "5c79aa01be8e" || r.Status != MusicSuccess || r.Type != "GENERATE" || r.Param != `{"prompt":"..."}` {
		t.Errorf("got %+v", r)
	}
	want := []Take{{"e2310f3a-77b1", "Night Drive", "https://x/a.mp3"}, {"f4410b2c-99aa", "Night Drive (take 2)", "https://x/b.mp3"}}
	if len(r.Takes) != 2 || r.Takes[0] != want[0] || r.Takes[1] != want[1] {
		t.Errorf("takes %+v, want %+v", r.Takes, want)
	}
	if !r.Done() || r.Status.Failed() {
		t.Error("the doc example is done and not failed")
	}
	if !r.CreateTime.Valid || !r.CreateTime.Time.Equal(time.UnixMilli(1740909720000)) {
		t.Errorf("createTime %+v: epoch ms not read", r.CreateTime)
	}
}

func TestDecodeMusicQuirks(t *testing.T) {
	cases := []struct {
		name, data string
		status     MusicStatus
		takes      int
		done       bool
	}{
		{"pending, response null", `{"taskId":"m","status":"PENDING","response":null}`, MusicPending, 0, false},
		{"status missing", `{"taskId":"m"}`, MusicPending, 0, false},
		{"text success, ids without audio", `{"taskId":"m","status":"TEXT_SUCCESS","response":{"sunoData":[{"id":"a","audioUrl":""},{"id":"b"}]}}`, MusicTextSuccess, 2, false},
		{"first success", `{"taskId":"m","status":"first_success","response":{"sunoData":[{"id":"a","audioUrl":"u"},{"id":"b","audioUrl":""}]}}`, MusicFirstSuccess, 2, false},
		{"snake_case, response as a string", `{"task_id":"m","status":"SUCCESS","response":"{\"suno_data\":[{\"id\":\"a\",\"audio_url\":\"u\",\"title\":\"T\"}]}"}`, MusicSuccess, 1, true},
		{"success without takes is not done", `{"taskId":"m","status":"SUCCESS","response":{}}`, MusicSuccess, 0, false},
		{"callback exception with audio", `{"taskId":"m","status":"CALLBACK_EXCEPTION","response":{"sunoData":[{"id":"a","audioUrl":"u"}]}}`, MusicCallbackException, 1, true},
		{"callback exception without audio", `{"taskId":"m","status":"CALLBACK_EXCEPTION","response":{"sunoData":[{"id":"a"}]}}`, MusicCallbackException, 1, false},
		{"duplicate and id-less takes skipped", `{"taskId":"m","status":"SUCCESS","response":{"sunoData":[{"id":"a","audioUrl":"u"},{"id":"a"},{"title":"x"},7]}}`, MusicSuccess, 1, true},
		{"sunoData at the top", `{"taskId":"m","status":"SUCCESS","sunoData":[{"id":"a","audioUrl":"u"}]}`, MusicSuccess, 1, true},
		{"param as an object", `{"taskId":"m","param":{"prompt":"p"}}`, MusicPending, 0, false},
	}
	for _, c := range cases {
		r, err := parseMusicRecordInfo("m", okReply(rec(c.data)))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if r.Status != c.status || len(r.Takes) != c.takes || r.Done() != c.done {
			t.Errorf("%s: status %q takes %d done %v, want %q %d %v", c.name, r.Status, len(r.Takes), r.Done(), c.status, c.takes, c.done)
		}
	}
	r, _ := parseMusicRecordInfo("m", okReply(rec(`{"param":{"prompt":"p"}}`)))
	if r.Param != `{"prompt":"p"}` || r.TaskID != "m" {
		t.Errorf("param %q task %q", r.Param, r.TaskID)
	}
}

func TestMusicFailures(t *testing.T) {
	for _, s := range []MusicStatus{MusicCreateFailed, MusicGenerateFailed, MusicSensitiveWord, "SOMETHING_ERROR"} {
		if !s.Failed() {
			t.Errorf("%s: not failed", s)
		}
	}
	for _, s := range []MusicStatus{MusicPending, MusicTextSuccess, MusicFirstSuccess, MusicSuccess, MusicCallbackException, "NEW_STAGE"} {
		if s.Failed() {
			t.Errorf("%s: failed", s)
		}
	}
	r, err := parseMusicRecordInfo("m", okReply(rec(`{"taskId":"m","status":"SENSITIVE_WORD_ERROR","errorCode":"400","errorMessage":"Lyrics contain sensitive words"}`)))
	if err != nil || r.ErrorCode != 400 || r.ErrorMessage != "Lyrics contain sensitive words" || !r.Status.Failed() {
		t.Errorf("failed record: %+v, %v", r, err)
	}
	for _, body := range []string{`{"code":200,"msg":"success","data":null}`, `{"code":422,"msg":"recordInfo is null","data":null}`} {
		_, err := parseMusicRecordInfo("m", okReply(body))
		var e *APIError
		if !errors.As(err, &e) || !e.NotFound() || e.Temporary() {
			t.Errorf("%s: %v, want a permanent not-found", body, err)
		}
	}
	_, err = parseMusicRecordInfo("m", reply{status: 200, header: http.Header{}, body: []byte("<html>")})
	if !IsTemporary(err) {
		t.Errorf("non-JSON reply: %v, want temporary", err)
	}
}

func TestClientMusicDetails(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.String() + " " + r.Header.Get("Authorization")
		_, _ = w.Write([]byte(docMusic))
	}))
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL, APIKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.MusicDetails(context.Background(), "5c79aa01be8e")
	if err != nil || len(r.Takes) != 2 {
		t.Fatalf("%+v %v", r, err)
	}
	if got != PathMusicRecordInfo+"?taskId=5c79aa01be8e Bearer k1" {
		t.Errorf("request %q", got)
	}
	if _, err := c.MusicDetails(context.Background(), " "); !errors.Is(err, ErrInvalidRequest) || strings.Contains(err.Error(), "k1") {
		t.Errorf("empty id: %v", err)
	}
}
