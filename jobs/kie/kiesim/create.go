package kiesim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"
)

// maxTextLen is the documented limit of author and domainName, in characters.
const maxTextLen = 50

// createRequest is the body of POST /api/v1/mp4/generate.
type createRequest struct {
	TaskID      string `json:"taskId"`
	AudioID     string `json:"audioId"`
	CallBackURL string `json:"callBackUrl"`
	Author      string `json:"author"`
	DomainName  string `json:"domainName"`
}

// handleCreate serves POST /api/v1/mp4/generate.
func (s *Sim) handleCreate(w http.ResponseWriter, r *http.Request) { s.serveCreate(w, r, false) }

// serveCreate serves a create on the legacy API or (jobs) on the jobs API. Order: injected
// fault (FailNextCreates), rate limit, body validation, duplicate check, credits (when
// metered, SetCredits), then a new task.
func (s *Sim) serveCreate(w http.ResponseWriter, r *http.Request, jobs bool) {
	reply := writeJSON
	if jobs {
		reply = writeJobsJSON
	}
	s.mu.Lock()
	fault := FaultNone
	if len(s.createFaults) > 0 {
		fault = s.createFaults[0]
		s.createFaults = s.createFaults[1:]
	}
	s.mu.Unlock()
	if s.answerFault(w, r, fault) {
		return
	}

	if refused, mode := s.admitCreate(); refused {
		if mode == Rate430 {
			writeJSON(w, http.StatusOK, 430, "call frequency too high", nil)
			return
		}
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, 429, "rate limited", nil)
		return
	}

	req, msg := decodeCreate(w, r, jobs)
	if msg != "" {
		reply(w, http.StatusOK, 400, msg, nil)
		return
	}
	if msg := validateCreate(&req); msg != "" {
		reply(w, http.StatusOK, 422, msg, nil)
		return
	}

	s.mu.Lock()
	key := req.TaskID + "\x00" + req.AudioID
	if existing, dup := s.byRequest[key]; dup {
		s.stats.Duplicates[req.AudioID]++
		s.mu.Unlock()
		var data any
		if s.cfg.DuplicateWithID {
			data = map[string]string{"taskId": existing}
		}
		reply(w, http.StatusOK, 409, "Mp4 record already exists", data)
		return
	}
	if code, short := s.chargeCreate(); short {
		s.mu.Unlock()
		reply(w, http.StatusOK, code, creditRefusalMsg(code), nil)
		return
	}
	t := s.newTask(s.newTaskID(), req.AudioID, s.fateFor(req.AudioID))
	t.jobs = jobs
	t.musicTaskID, t.callbackURL = req.TaskID, req.CallBackURL
	t.author, t.domainName = req.Author, req.DomainName
	s.tasks[t.id] = t
	s.byRequest[key] = t.id
	s.byAudio[req.AudioID] = t.id
	s.stats.Creates[req.AudioID]++
	s.scheduleCallback(t, baseURL(r))
	s.mu.Unlock()
	reply(w, http.StatusOK, 200, "success", map[string]string{"taskId": t.id})
}

// decodeCreate reads the body of a legacy create, or of a jobs API createTask (whose input
// is snake_case, under "input", for the model ModelMusicVideo). msg is non-empty when the
// body is unusable.
func decodeCreate(w http.ResponseWriter, r *http.Request, jobs bool) (req createRequest, msg string) {
	body := http.MaxBytesReader(w, r.Body, 1<<20)
	if !jobs {
		if err := json.NewDecoder(body).Decode(&req); err != nil {
			return req, "Invalid request body: " + err.Error()
		}
		return req, ""
	}
	var jr jobsCreateRequest
	if err := json.NewDecoder(body).Decode(&jr); err != nil {
		return req, "Invalid request body: " + err.Error()
	}
	if jr.Model != ModelMusicVideo {
		return req, "model " + jr.Model + " is not supported"
	}
	return createRequest{TaskID: jr.Input.TaskID, AudioID: jr.Input.AudioID, CallBackURL: jr.CallBackURL,
		Author: jr.Input.Author, DomainName: jr.Input.DomainName}, ""
}

// validateCreate returns a validation message for req, or "" if it is acceptable.
func validateCreate(req *createRequest) string {
	switch {
	case req.TaskID == "":
		return "taskId is required"
	case req.AudioID == "":
		return "audioId is required"
	case req.CallBackURL == "":
		return "callBackUrl is required"
	case !isHTTPURL(req.CallBackURL):
		return "callBackUrl is invalid"
	case utf8.RuneCountInString(req.Author) > maxTextLen:
		return "author cannot exceed 50 characters"
	case utf8.RuneCountInString(req.DomainName) > maxTextLen:
		return "domainName cannot exceed 50 characters"
	}
	return ""
}

// isHTTPURL reports whether s is an absolute http(s) URL with a host.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// admitCreate applies the sliding-window create limit. It reports whether the create is
// refused and, if so, how to refuse it.
func (s *Sim) admitCreate() (refused bool, mode RateMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.CreateLimit < 0 {
		return false, 0
	}
	now := s.now()
	if s.creates.count(now, s.cfg.CreateWindow) < s.cfg.CreateLimit {
		s.creates.add(now)
		return false, 0
	}
	s.stats.RateLimited++
	mode = s.cfg.RateLimitMode
	if mode == RateAlternate {
		mode = Rate429
		if s.refusals%2 == 1 {
			mode = Rate430
		}
	}
	s.refusals++
	return true, mode
}

// window holds event times for a sliding-window count, oldest first.
type window struct {
	times []time.Time
	head  int
}

// add records an event at t.
func (w *window) add(t time.Time) { w.times = append(w.times, t) }

// count drops events at or before now-d and returns how many remain.
func (w *window) count(now time.Time, d time.Duration) int {
	cutoff := now.Add(-d)
	for w.head < len(w.times) && !w.times[w.head].After(cutoff) {
		w.head++
	}
	if w.head > 1024 && w.head*2 > len(w.times) {
		w.times = append(w.times[:0], w.times[w.head:]...)
		w.head = 0
	}
	return len(w.times) - w.head
}
