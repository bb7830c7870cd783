package kiesim

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// jobsCreate posts a createTask for Create Music Video of (musicTask, audio).
func (h *harness) jobsCreate(musicTask, audio string) reply {
	h.t.Helper()
	return h.do("POST", PathJobsCreate, map[string]any{"model": ModelMusicVideo, "callBackUrl": "https://hooks.example.org/kie/jobs",
		"input": map[string]string{"task_id": musicTask, "audio_id": audio, "author": "Nova", "domain_name": "nova.example"}})
}

// jobsRecord polls the jobs API's recordInfo; message is the envelope's "message".
func (h *harness) jobsRecord(id string) (r reply, message string, rec map[string]any) {
	h.t.Helper()
	r = h.do("GET", PathJobsRecordInfo+"?taskId="+id, nil)
	var env struct {
		Message *string `json:"message"`
	}
	if json.Unmarshal(r.Raw, &env) != nil || env.Message == nil {
		h.t.Fatalf("jobs reply without message: %s", r.Raw)
	}
	_ = json.Unmarshal(r.Data, &rec)
	return r, *env.Message, rec
}

func TestJobsAPILifecycle(t *testing.T) {
	c := newClock()
	h := newHarness(t, Config{Now: c.Now, ReadyAfter: 10 * time.Second})
	r := h.jobsCreate("music-1", "a1")
	var d struct {
		TaskID string `json:"taskId"`
	}
	if r.Code != 200 || json.Unmarshal(r.Data, &d) != nil || d.TaskID == "" || !strings.Contains(string(r.Raw), `"message":"success"`) {
		t.Fatalf("create: %s", r.Raw)
	}
	if !h.sim.TaskOnJobsAPI(d.TaskID) {
		t.Error("TaskOnJobsAPI false for a jobs task")
	}
	if lr, _ := h.record(d.TaskID); lr.Code != 422 || lr.Msg != "recordInfo is null" {
		t.Errorf("legacy record-info of a jobs task: %s", lr.Raw)
	}
	for _, step := range []struct {
		advance time.Duration
		state   string
	}{{0, StateWaiting}, {5 * time.Second, StateGenerating}, {5 * time.Second, StateSuccess}} {
		c.Advance(step.advance)
		r, msg, rec := h.jobsRecord(d.TaskID)
		if r.Code != 200 || msg != "success" || rec["state"] != step.state || rec["model"] != ModelMusicVideo {
			t.Fatalf("after %v: %s", step.advance, r.Raw)
		}
		var param map[string]any
		if s, _ := rec["param"].(string); json.Unmarshal([]byte(s), &param) != nil {
			t.Errorf("param is not a JSON string: %v", rec["param"])
		}
		if _, ms := rec["createTime"].(float64); !ms {
			t.Errorf("createTime is not epoch ms: %v", rec["createTime"])
		}
		if step.state != StateSuccess {
			continue
		}
		var res struct {
			ResultURLs []string `json:"resultUrls"`
		}
		if s, _ := rec["resultJson"].(string); json.Unmarshal([]byte(s), &res) != nil || len(res.ResultURLs) != 1 ||
			!strings.HasSuffix(res.ResultURLs[0], "/files/"+d.TaskID+".mp4") {
			t.Errorf("resultJson %v", rec["resultJson"])
		}
		if resp, _, err := h.get(res.ResultURLs[0], nil); err != nil || resp.StatusCode != 200 {
			t.Errorf("GET the result URL: %v %v", resp, err)
		}
	}
	if dup := h.jobsCreate("music-1", "a1"); dup.Code != 409 {
		t.Errorf("second jobs create: %s", dup.Raw)
	}
	if st := h.sim.Stats(); st.CreateCalls != 2 || st.Creates["a1"] != 1 || st.Polls[d.TaskID] != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestJobsAPIFailuresAndFaults(t *testing.T) {
	h := newHarness(t, Config{ReadyAfter: -1})
	id := h.jobsCreate("m", "fail-x")
	var d struct {
		TaskID string `json:"taskId"`
	}
	_ = json.Unmarshal(id.Data, &d)
	_, _, rec := h.jobsRecord(d.TaskID)
	if rec["state"] != StateFail || rec["failCode"] != "501" || rec["failMsg"] != "Generate mp4 failed" || rec["resultJson"] != "" {
		t.Errorf("failed task: %v", rec)
	}
	h.sim.AddJobsTask("job_only", "a2", Fate{PollFaults: []Fault{Fault455}})
	if lr, _ := h.record("job_only"); lr.Code != 422 {
		t.Errorf("legacy record-info of an added jobs task: %s", lr.Raw)
	}
	if r := h.do("GET", PathJobsRecordInfo+"?taskId=job_only", nil); r.Code != 455 {
		t.Errorf("first poll should be the injected 455: %s", r.Raw)
	}
	if r, _, rec := h.jobsRecord("job_only"); r.Code != 200 || rec["state"] != StateSuccess {
		t.Errorf("second poll: %s", r.Raw)
	}
	h.sim.AddTask("legacy_only", "a3", Fate{})
	if r, msg, _ := h.jobsRecord("legacy_only"); r.Code != 422 || msg != "recordInfo is null" {
		t.Errorf("jobs recordInfo of a legacy task: %s", r.Raw)
	}
	if r := h.do("POST", PathJobsCreate, map[string]any{"model": "suno/other", "input": map[string]string{"task_id": "m", "audio_id": "a"}}); r.Code != 400 {
		t.Errorf("unknown model: %s", r.Raw)
	}
	h.sim.SetOutage(Fault455)
	if r := h.do("GET", PathJobsRecordInfo+"?taskId=job_only", nil); r.Code != 455 {
		t.Errorf("outage: %s", r.Raw)
	}
}

func TestCreditsMetered(t *testing.T) {
	h := newHarness(t, Config{})
	if r := h.do("GET", PathCredit, nil); string(r.Data) != "10000.5" {
		t.Errorf("unmetered balance %s", r.Data)
	}
	h.mustCreate("free") // unmetered creates are free
	h.sim.SetCredits(5)
	h.mustCreate("c1")
	if r := h.jobsCreate("m", "c2"); r.Code != 200 {
		t.Fatalf("second create: %s", r.Raw)
	}
	if r := h.create("music-c1", "c1"); r.Code != 409 { // a duplicate costs nothing
		t.Fatalf("duplicate: %s", r.Raw)
	}
	if got := h.sim.Credits(); got != 1 {
		t.Errorf("balance %v after two creates from 5; want 1", got)
	}
	r := h.create("music-c3", "c3")
	if r.Code != 402 || !strings.Contains(r.Msg, "insufficient") {
		t.Errorf("short balance: %s", r.Raw)
	}
	h.sim.SetCreditRefusal(433)
	if r := h.jobsCreate("m", "c3"); r.Code != 433 {
		t.Errorf("433 switch: %s", r.Raw)
	}
	if st := h.sim.Stats(); st.Creates["c3"] != 0 || h.sim.Credits() != 1 {
		t.Errorf("refused creates made a task or charged: %+v, balance %v", st.Creates, h.sim.Credits())
	}
	h.sim.SetCredits(10)
	h.mustCreate("c3")
	if r := h.do("GET", PathCredit, nil); string(r.Data) != "8" {
		t.Errorf("balance after top-up and a create: %s", r.Data)
	}
}
