package kiesim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// The jobs API (kie-api.md §10): the same MP4 tasks, created by POST /api/v1/jobs/createTask
// and polled by GET /api/v1/jobs/recordInfo, with the same fates, faults, rate limits,
// duplicates, credits and callbacks as the legacy endpoints. A task lives on one API: the
// other API's record-info does not know it.

// Paths of the jobs API, and the model slug of Create Music Video.
const (
	PathJobsCreate     = "/api/v1/jobs/createTask"
	PathJobsRecordInfo = "/api/v1/jobs/recordInfo"
	ModelMusicVideo    = "ai-music-api/create-music-video"
)

// The states of a jobs API task.
const (
	StateWaiting    = "waiting"
	StateQueuing    = "queuing"
	StateGenerating = "generating"
	StateSuccess    = "success"
	StateFail       = "fail"
)

// jobsCreateRequest is the body of POST /api/v1/jobs/createTask for Create Music Video.
type jobsCreateRequest struct {
	Model       string `json:"model"`
	CallBackURL string `json:"callBackUrl"`
	Input       struct {
		TaskID     string `json:"task_id"`
		AudioID    string `json:"audio_id"`
		Author     string `json:"author"`
		DomainName string `json:"domain_name"`
	} `json:"input"`
}

// jobsEnvelope is the jobs API's reply wrapper: "message" where the legacy one says "msg".
type jobsEnvelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

// writeJobsJSON writes a jobs API envelope with the given HTTP status.
func writeJobsJSON(w http.ResponseWriter, status, code int, msg string, data any) {
	b, err := json.Marshal(jobsEnvelope{Code: code, Message: msg, Data: data})
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":500,"message":"server error","data":null}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// handleJobsCreate serves POST /api/v1/jobs/createTask.
func (s *Sim) handleJobsCreate(w http.ResponseWriter, r *http.Request) { s.serveCreate(w, r, true) }

// handleJobsRecordInfo serves GET /api/v1/jobs/recordInfo?taskId=, like the legacy
// record-info (limits, PollFaults) but for tasks of the jobs API only.
func (s *Sim) handleJobsRecordInfo(w http.ResponseWriter, r *http.Request) {
	t := s.admitRecordInfo(w, r, true)
	if t == nil {
		return
	}
	s.mu.Lock()
	rec := t.jobRecord(s.now(), baseURL(r))
	s.mu.Unlock()
	writeJobsJSON(w, http.StatusOK, 200, "success", rec)
}

// AddJobsTask registers an MP4 task created on the jobs API elsewhere (a tool that hands out
// jobs API ids), created now, with fate f exactly as given: only /api/v1/jobs/recordInfo
// knows it. It does not count as a create in Stats.
func (s *Sim) AddJobsTask(taskID, audioID string, f Fate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newTask(taskID, audioID, f)
	t.jobs = true
	s.tasks[taskID] = t
	s.byAudio[audioID] = taskID
}

// TaskOnJobsAPI reports whether the task exists and lives on the jobs API.
func (s *Sim) TaskOnJobsAPI(taskID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tasks[taskID]
	return t != nil && t.jobs
}

// jobRecord is the data of a jobs API recordInfo reply: param and resultJson are JSON
// strings, times are epoch milliseconds, failCode a string.
type jobRecord struct {
	TaskID       string `json:"taskId"`
	Model        string `json:"model"`
	State        string `json:"state"`
	Param        string `json:"param"`
	ResultJSON   string `json:"resultJson"`
	FailCode     string `json:"failCode"`
	FailMsg      string `json:"failMsg"`
	CostTime     *int64 `json:"costTime"`
	CompleteTime *int64 `json:"completeTime"`
	CreateTime   int64  `json:"createTime"`
	UpdateTime   int64  `json:"updateTime"`
}

// jobRecord renders the task at time now as the jobs API does; base is the simulator's
// scheme://host. Before it ends, the task is waiting for the first half of its time, then
// generating (queuing forever under OutcomeNever).
func (t *task) jobRecord(now time.Time, base string) jobRecord {
	param, _ := json.Marshal(map[string]any{"model": ModelMusicVideo, "callBackUrl": t.callbackURL,
		"input": map[string]string{"task_id": t.musicTaskID, "audio_id": t.audioID}})
	rec := jobRecord{TaskID: t.id, Model: ModelMusicVideo, Param: string(param),
		CreateTime: t.created.UnixMilli(), UpdateTime: t.created.UnixMilli()}
	switch flag := t.flag(now); flag {
	case FlagPending:
		rec.State = StateWaiting
		switch {
		case t.readyAt.IsZero():
			rec.State = StateQueuing
		case now.Sub(t.created) >= t.readyAt.Sub(t.created)/2:
			rec.State = StateGenerating
		}
		return rec
	case FlagSuccess, FlagCallbackException:
		rec.State = StateSuccess
		res, _ := json.Marshal(map[string][]string{"resultUrls": {base + fileURLPath(t.id)}})
		rec.ResultJSON = string(res)
	case FlagGenerateFailed:
		rec.State, rec.FailCode, rec.FailMsg = StateFail, strconv.Itoa(501), "Generate mp4 failed"
	default:
		rec.State, rec.FailCode, rec.FailMsg = StateFail, strconv.Itoa(400), "Create mp4 task failed: unsupported audio"
	}
	done, cost := t.readyAt.UnixMilli(), int64(t.readyAt.Sub(t.created)/time.Second)
	rec.CompleteTime, rec.UpdateTime, rec.CostTime = &done, done, &cost
	return rec
}
