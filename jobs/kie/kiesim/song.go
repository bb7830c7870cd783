package kiesim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// PathMusicRecordInfo is the music task's details endpoint (kie-api.md §5).
const PathMusicRecordInfo = "/api/v1/generate/record-info"

// MusicPollsPerSecond is KIE's documented limit on music record-info calls per task: a call
// beyond it in any sliding second gets HTTP 200 and body {"code":405,"msg":"rate limit
// exceeded"} (and counts in MusicStats.Refused).
const MusicPollsPerSecond = 3

// The statuses of a simulated music task.
const (
	MusicPending        = "PENDING"
	MusicTextSuccess    = "TEXT_SUCCESS"
	MusicFirstSuccess   = "FIRST_SUCCESS"
	MusicSuccess        = "SUCCESS"
	MusicCreateFailed   = "CREATE_TASK_FAILED"
	MusicGenerateFailed = "GENERATE_AUDIO_FAILED"
	MusicSensitiveWord  = "SENSITIVE_WORD_ERROR"
)

// SongFate scripts one music task. The zero value makes two takes, ready after
// Config.ReadyAfter.
type SongFate struct {
	// Fail, if set, is the status the task ends in instead of SUCCESS (MusicGenerateFailed,
	// MusicSensitiveWord or MusicCreateFailed), with KIE's code and message.
	Fail string
	// ReadyAfter is the time from the task's first sight to SUCCESS (or its failure); the
	// task is TEXT_SUCCESS (take ids known, no audio) from a third of it and FIRST_SUCCESS
	// (the first take's audio) from two thirds. 0 = Config.ReadyAfter; negative = at once.
	ReadyAfter time.Duration
	// Takes is the number of takes (default 2).
	Takes int
	// TakePrefix starts every take's audio id, so that the MP4 tasks made from them get the
	// DefaultFate of that prefix ("fail-", "never-"…).
	TakePrefix string
	// Unknown makes record-info answer "recordInfo is null": KIE has no such task.
	Unknown bool
}

// DefaultSongFate is the fate of a music task id not given one with SetSongFate:
// "songfail-" → GENERATE_AUDIO_FAILED, "sensitive-" → SENSITIVE_WORD_ERROR, "songcreatefail-"
// → CREATE_TASK_FAILED, "nosong-" → unknown, "takefail-" → takes whose videos fail
// ("fail-" audio ids), "onetake-" → a single take; anything else two takes that succeed.
func DefaultSongFate(taskID string) SongFate {
	switch {
	case strings.HasPrefix(taskID, "songfail-"):
		return SongFate{Fail: MusicGenerateFailed}
	case strings.HasPrefix(taskID, "sensitive-"):
		return SongFate{Fail: MusicSensitiveWord}
	case strings.HasPrefix(taskID, "songcreatefail-"):
		return SongFate{Fail: MusicCreateFailed}
	case strings.HasPrefix(taskID, "nosong-"):
		return SongFate{Unknown: true}
	case strings.HasPrefix(taskID, "takefail-"):
		return SongFate{TakePrefix: "fail-"}
	case strings.HasPrefix(taskID, "onetake-"):
		return SongFate{Takes: 1}
	}
	return SongFate{}
}

// song is one simulated music task, made when it is first asked about (there is no Generate
// Music endpoint: any music task id exists). Guarded by Sim.mu.
type song struct {
	id      string
	fate    SongFate
	created time.Time
	readyAt time.Time
	calls   window // accepted record-info calls, for MusicPollsPerSecond
}

// MusicStats counts the music record-info calls the simulator has seen.
type MusicStats struct {
	Polls      map[string]int // calls per music task id, refused ones included
	Refused    int            // calls refused for going over MusicPollsPerSecond
	MaxPerTask int            // the most calls for one task in any sliding second, refused ones included
}

// musicState is the simulator's music tasks, made on first use.
type musicState struct {
	fates map[string]SongFate
	songs map[string]*song
	stats MusicStats
	all   map[string]*window // every call per task, for MaxPerTask
}

// music returns the music state, making it on first use. The caller holds s.mu.
func (s *Sim) music() *musicState {
	if s.songs == nil {
		s.songs = &musicState{fates: map[string]SongFate{}, songs: map[string]*song{},
			stats: MusicStats{Polls: map[string]int{}}, all: map[string]*window{}}
	}
	return s.songs
}

// SetSongFate scripts the music task taskID (before it is first asked about).
func (s *Sim) SetSongFate(taskID string, f SongFate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.music().fates[taskID] = f
}

// MusicStats returns a snapshot of the music record-info counters.
func (s *Sim) MusicStats() MusicStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.music().stats
	polls := make(map[string]int, len(st.Polls))
	for k, v := range st.Polls {
		polls[k] = v
	}
	st.Polls = polls
	return st
}

// TakeIDs returns the audio ids the takes of music task taskID have (or will have).
func (s *Sim) TakeIDs(taskID string) []string {
	s.mu.Lock()
	f, ok := s.music().fates[taskID]
	s.mu.Unlock()
	if !ok {
		f = DefaultSongFate(taskID)
	}
	ids := make([]string, takeCount(f))
	for i := range ids {
		ids[i] = takeID(taskID, f, i)
	}
	return ids
}

// takeCount is the number of takes of f: f.Takes, or 2.
func takeCount(f SongFate) int {
	if f.Takes > 0 {
		return f.Takes
	}
	return 2
}

// takeID is the audio id of take i of music task taskID: stable, so that a test knows it.
func takeID(taskID string, f SongFate, i int) string {
	sum := sha256.Sum256([]byte(taskID))
	return fmt.Sprintf("%sa%s-%d", f.TakePrefix, hex.EncodeToString(sum[:6]), i+1)
}

// handleMusicRecordInfo serves GET /api/v1/generate/record-info?taskId=.
func (s *Sim) handleMusicRecordInfo(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("taskId")
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.music()
	if id == "" {
		writeJSON(w, http.StatusOK, 422, "taskId is required", nil)
		return
	}
	m.stats.Polls[id]++
	all := m.all[id]
	if all == nil {
		all = &window{}
		m.all[id] = all
	}
	all.add(now)
	m.stats.MaxPerTask = max(m.stats.MaxPerTask, all.count(now, time.Second))
	sg := m.songs[id]
	if sg == nil {
		f, ok := m.fates[id]
		if !ok {
			f = DefaultSongFate(id)
		}
		d := f.ReadyAfter
		if d == 0 {
			d = s.cfg.ReadyAfter
		}
		sg = &song{id: id, fate: f, created: now, readyAt: now.Add(max(d, 0))}
		m.songs[id] = sg
	}
	if sg.calls.count(now, time.Second) >= MusicPollsPerSecond {
		m.stats.Refused++
		writeJSON(w, http.StatusOK, 405, "rate limit exceeded", nil)
		return
	}
	sg.calls.add(now)
	if sg.fate.Unknown {
		writeJSON(w, http.StatusOK, 422, "recordInfo is null", nil)
		return
	}
	ok(w, sg.record(now, baseURL(r)))
}

// musicRecord is the data of a music record-info reply, in KIE's shape.
type musicRecord struct {
	TaskID        string         `json:"taskId"`
	ParentMusicID string         `json:"parentMusicId"`
	Param         string         `json:"param"`
	Response      *musicResponse `json:"response"`
	Status        string         `json:"status"`
	Type          string         `json:"type"`
	ErrorCode     *int           `json:"errorCode"`
	ErrorMessage  *string        `json:"errorMessage"`
	CreateTime    string         `json:"createTime"`
}

type musicResponse struct {
	TaskID   string      `json:"taskId"`
	SunoData []sunoTrack `json:"sunoData"`
}

type sunoTrack struct {
	ID             string  `json:"id"`
	AudioURL       string  `json:"audioUrl"`
	StreamAudioURL string  `json:"streamAudioUrl"`
	Title          string  `json:"title"`
	Duration       float64 `json:"duration"`
}

// record renders the music task at time now.
func (sg *song) record(now time.Time, base string) musicRecord {
	rec := musicRecord{TaskID: sg.id, Param: `{"prompt":"a simulated song","customMode":false}`, Type: "GENERATE",
		Status: MusicPending, CreateTime: sg.created.UTC().Format(timeLayout)}
	total := sg.readyAt.Sub(sg.created)
	at := now.Sub(sg.created)
	switch {
	case !now.Before(sg.readyAt) && sg.fate.Fail != "":
		rec.Status = sg.fate.Fail
		code, msg := 501, "Audio generation failed"
		switch sg.fate.Fail {
		case MusicSensitiveWord:
			code, msg = 400, "The lyrics contain sensitive words; please revise them"
		case MusicCreateFailed:
			code, msg = 400, "Create task failed: invalid parameters"
		}
		rec.ErrorCode, rec.ErrorMessage = &code, &msg
		return rec
	case !now.Before(sg.readyAt):
		rec.Status = MusicSuccess
	case at >= 2*total/3 && sg.fate.Fail == "":
		rec.Status = MusicFirstSuccess
	case at >= total/3 && sg.fate.Fail == "":
		rec.Status = MusicTextSuccess
	default:
		return rec
	}
	rec.Response = &musicResponse{TaskID: sg.id}
	for i := range takeCount(sg.fate) {
		id := takeID(sg.id, sg.fate, i)
		tr := sunoTrack{ID: id, Title: fmt.Sprintf("Simulated song %.6s (take %d)", strings.TrimPrefix(id, sg.fate.TakePrefix+"a"), i+1),
			StreamAudioURL: base + "/stream/" + id, Duration: 182.4}
		if rec.Status == MusicSuccess || (rec.Status == MusicFirstSuccess && i == 0) {
			tr.AudioURL = base + "/audio/" + id + ".mp3"
		}
		rec.Response.SunoData = append(rec.Response.SunoData, tr)
	}
	return rec
}
