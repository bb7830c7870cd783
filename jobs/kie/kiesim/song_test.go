package kiesim

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type musicData struct {
	TaskID   string `json:"taskId"`
	Status   string `json:"status"`
	Param    string `json:"param"`
	Response *struct {
		SunoData []struct {
			ID       string `json:"id"`
			AudioURL string `json:"audioUrl"`
			Title    string `json:"title"`
		} `json:"sunoData"`
	} `json:"response"`
	ErrorCode    *int    `json:"errorCode"`
	ErrorMessage *string `json:"errorMessage"`
}

func (h *harness) music(id string) (reply, musicData) {
	h.t.Helper()
	r := h.do("GET", PathMusicRecordInfo+"?taskId="+id, nil)
	var d musicData
	if r.Code == 200 {
		if err := json.Unmarshal(r.Data, &d); err != nil {
			h.t.Fatalf("music record of %s: %v: %s", id, err, r.Raw)
		}
	}
	return r, d
}

func TestSongProgression(t *testing.T) {
	c := newClock()
	h := newHarness(t, Config{APIKey: "k", Now: c.Now, ReadyAfter: 3 * time.Second})
	want := h.sim.TakeIDs("m1")
	steps := []struct {
		status string
		audio  int // takes with an audio URL
	}{{MusicPending, -1}, {MusicTextSuccess, 0}, {MusicFirstSuccess, 1}, {MusicSuccess, 2}}
	for i, st := range steps {
		r, d := h.music("m1")
		if r.Status != 200 || r.Code != 200 || d.Status != st.status || d.TaskID != "m1" {
			t.Fatalf("step %d: HTTP %d code %d status %q, want %q: %s", i, r.Status, r.Code, d.Status, st.status, r.Raw)
		}
		if !json.Valid([]byte(d.Param)) {
			t.Errorf("param %q is not a JSON string", d.Param)
		}
		if st.audio < 0 {
			if d.Response != nil {
				t.Errorf("PENDING with a response: %s", r.Raw)
			}
		} else {
			got := 0
			for j, tk := range d.Response.SunoData {
				if tk.ID != want[j] || tk.Title == "" {
					t.Errorf("take %d: %+v, want id %s and a title", j, tk, want[j])
				}
				if tk.AudioURL != "" {
					got++
				}
			}
			if len(d.Response.SunoData) != 2 || got != st.audio {
				t.Errorf("step %d: %d takes, %d with audio, want 2 and %d", i, len(d.Response.SunoData), got, st.audio)
			}
		}
		c.Advance(time.Second)
	}
}

func TestSongFailuresAndUnknown(t *testing.T) {
	c := newClock()
	h := newHarness(t, Config{Now: c.Now, ReadyAfter: time.Second})
	for _, id := range []string{"songfail-1", "sensitive-1", "songcreatefail-1"} {
		h.music(id)
	}
	c.Advance(time.Second)
	for id, want := range map[string]string{"songfail-1": MusicGenerateFailed, "sensitive-1": MusicSensitiveWord, "songcreatefail-1": MusicCreateFailed} {
		_, d := h.music(id)
		if d.Status != want || d.ErrorCode == nil || *d.ErrorCode == 0 || d.ErrorMessage == nil || *d.ErrorMessage == "" || d.Response != nil {
			t.Errorf("%s: %+v, want %s with a code and message and no takes", id, d, want)
		}
	}
	r, _ := h.music("nosong-1")
	if r.Code != 422 || !strings.Contains(r.Msg, "recordInfo is null") {
		t.Errorf("unknown music task: %d %q", r.Code, r.Msg)
	}
	if ids := h.sim.TakeIDs("takefail-1"); len(ids) != 2 || !strings.HasPrefix(ids[0], "fail-") {
		t.Errorf("takefail takes %v", ids)
	}
	h.sim.SetSongFate("three", SongFate{Takes: 3, ReadyAfter: -1})
	if _, d := h.music("three"); d.Status != MusicSuccess || len(d.Response.SunoData) != 3 {
		t.Errorf("three takes at once: %+v", d)
	}
}

func TestSongPollLimitPerTask(t *testing.T) {
	c := newClock()
	h := newHarness(t, Config{Now: c.Now})
	for i := 0; i < MusicPollsPerSecond; i++ {
		if r, _ := h.music("m"); r.Code != 200 {
			t.Fatalf("call %d: %d", i, r.Code)
		}
	}
	if r, _ := h.music("m"); r.Code != 405 {
		t.Errorf("call over the per-task limit: code %d, want 405", r.Code)
	}
	if r, _ := h.music("other"); r.Code != 200 {
		t.Errorf("another task: code %d, want 200 (the limit is per task)", r.Code)
	}
	c.Advance(time.Second)
	if r, _ := h.music("m"); r.Code != 200 {
		t.Errorf("a second later: code %d", r.Code)
	}
	st := h.sim.MusicStats()
	if st.Refused != 1 || st.MaxPerTask != 4 || st.Polls["m"] != 5 {
		t.Errorf("stats %+v", st)
	}
}
