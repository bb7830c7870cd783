package kiesim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// handleRecordInfo serves GET /api/v1/mp4/record-info?taskId=.
func (s *Sim) handleRecordInfo(w http.ResponseWriter, r *http.Request) {
	t := s.admitRecordInfo(w, r, false)
	if t == nil {
		return
	}
	s.mu.Lock()
	rec := t.record(s.now(), baseURL(r))
	s.mu.Unlock()
	ok(w, rec)
}

// admitRecordInfo is the part that both record-info endpoints (legacy, or jobs) share.
// Order: counters, the RecordInfoLimit, unknown task (422 "recordInfo is null": a task of the
// other API is unknown here), the task's PollFaults. It returns the task to render, or nil
// when it answered the call itself.
func (s *Sim) admitRecordInfo(w http.ResponseWriter, r *http.Request, jobs bool) *task {
	id := r.URL.Query().Get("taskId")
	reply := writeJSON
	if jobs {
		reply = writeJobsJSON
	}
	now := s.now()

	s.mu.Lock()
	if id != "" {
		s.stats.Polls[id]++
		defer s.pollBegin(id)()
	}
	s.riSliding.add(now)
	if n := s.riSliding.count(now, time.Second); n > s.stats.MaxRecordInfoPerSecond {
		s.stats.MaxRecordInfoPerSecond = n
	}
	if s.overRecordInfoLimit(r.Header.Get("Authorization"), now) {
		if id != "" {
			s.stats.PollFaults[id]++
		}
		s.mu.Unlock()
		reply(w, http.StatusOK, 405, "rate limit exceeded", nil)
		return nil
	}
	if id == "" {
		s.mu.Unlock()
		reply(w, http.StatusOK, 422, "taskId is required", nil)
		return nil
	}
	t := s.tasks[id]
	if t == nil || t.jobs != jobs {
		s.mu.Unlock()
		reply(w, http.StatusOK, 422, "recordInfo is null", nil)
		return nil
	}
	fault := FaultNone
	if t.polls < len(t.fate.PollFaults) {
		fault = t.fate.PollFaults[t.polls]
	}
	t.polls++
	if fault != FaultNone {
		s.stats.PollFaults[id]++
	}
	s.mu.Unlock()

	if s.answerFault(w, r, fault) {
		return nil
	}
	return t
}

// overRecordInfoLimit reports whether a record-info call for key at now exceeds
// Config.RecordInfoLimit in the sliding second before it (the calls of the last second,
// (now-1s, now], as a KIE counting a sliding window would), and counts it if not: refused
// calls do not use up the window. The caller holds s.mu.
func (s *Sim) overRecordInfoLimit(key string, now time.Time) bool {
	if s.cfg.RecordInfoLimit <= 0 {
		return false
	}
	w := s.riKeys[key]
	if w == nil {
		w = &window{}
		s.riKeys[key] = w
	}
	if w.count(now, time.Second) >= s.cfg.RecordInfoLimit {
		return true
	}
	w.add(now)
	return false
}

// handleDownloadURL serves POST /api/v1/common/download-url {"url":...}: for a ready video
// URL of this simulator it returns a fresh signed URL (valid 20 minutes) as a plain string.
func (s *Sim) handleDownloadURL(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.DownloadURLCalls++
	s.mu.Unlock()

	var req struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusOK, 400, "Invalid request body: "+err.Error(), nil)
		return
	}
	if req.URL == "" {
		writeJSON(w, http.StatusOK, 422, "url is required", nil)
		return
	}
	id, found := fileIDFromURL(req.URL)
	now := s.now()
	s.mu.Lock()
	t := s.tasks[id]
	if !found || t == nil || !t.hasVideo(now) {
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, 422, "url is not a kie-generated file", nil)
		return
	}
	sig := t.sign(now)
	s.mu.Unlock()
	ok(w, baseURL(r)+fileURLPath(id)+"?sig="+sig)
}

// fileIDFromURL extracts the task id from an absolute http(s) URL of a simulator video.
func fileIDFromURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	return fileIDFromPath(u.Path)
}

// fileIDFromPath extracts the task id from /files/<id>.mp4.
func fileIDFromPath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, PathFiles)
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, ".mp4")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}
