package kiesim

import (
	"regexp"
	"slices"
	"testing"
	"time"
)

var timeRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$`)

func TestLifecycle(t *testing.T) {
	cases := []struct {
		audio     string
		flag      string
		video     bool
		errorCode float64
	}{
		{"ok-1", FlagSuccess, true, 0},
		{"fail-1", FlagGenerateFailed, false, 501},
		{"createfail-1", FlagCreateFailed, false, 400},
		{"cbex-1", FlagCallbackException, true, 0},
		{"never-1", FlagPending, false, 0},
	}
	clk := newClock()
	h := newHarness(t, Config{ReadyAfter: time.Minute, Now: clk.Now})
	ids := map[string]string{}
	for _, c := range cases {
		id := h.mustCreate(c.audio)
		if !regexp.MustCompile(`^mp4_[0-9a-f]{16}$`).MatchString(id) {
			t.Fatalf("task id %q", id)
		}
		ids[c.audio] = id
		r, rec := h.record(id)
		if r.Code != 200 || r.Msg != "success" || rec["successFlag"] != FlagPending {
			t.Fatalf("%s pending: %s", c.audio, r.Raw)
		}
		for _, k := range []string{"completeTime", "response", "errorCode", "errorMessage"} {
			if v, present := rec[k]; !present || v != nil {
				t.Errorf("%s pending: %s = %v, want null", c.audio, k, v)
			}
		}
	}
	clk.Advance(time.Minute)
	for _, c := range cases {
		id := ids[c.audio]
		r, rec := h.record(id)
		keys := make([]string, 0, len(rec))
		for k := range rec {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"callbackUrl", "completeTime", "createTime", "errorCode", "errorMessage",
			"musicId", "musicIndex", "response", "successFlag", "taskId"}
		if !slices.Equal(keys, want) {
			t.Fatalf("%s keys %v", c.audio, keys)
		}
		if rec["successFlag"] != c.flag || rec["taskId"] != id || rec["musicId"] != c.audio ||
			rec["callbackUrl"] != "https://hooks.example.org/kie/mp4" || rec["musicIndex"] != 0.0 {
			t.Errorf("%s: %s", c.audio, r.Raw)
		}
		if !timeRE.MatchString(rec["createTime"].(string)) {
			t.Errorf("%s createTime %v", c.audio, rec["createTime"])
		}
		resp, _ := rec["response"].(map[string]any)
		if got := resp["videoUrl"] != nil; got != c.video {
			t.Errorf("%s: videoUrl present %v, want %v", c.audio, got, c.video)
		}
		if c.video && resp["videoUrl"] != h.srv.URL+"/files/"+id+".mp4" {
			t.Errorf("%s videoUrl %v", c.audio, resp["videoUrl"])
		}
		if c.errorCode != 0 {
			if rec["errorCode"] != c.errorCode || rec["errorMessage"] == nil {
				t.Errorf("%s error fields: %s", c.audio, r.Raw)
			}
		} else if rec["errorCode"] != nil || rec["errorMessage"] != nil {
			t.Errorf("%s error fields not null: %s", c.audio, r.Raw)
		}
		at, ok := h.sim.ReadyAt(id)
		if c.flag == FlagPending {
			if ok || rec["completeTime"] != nil {
				t.Errorf("never: ReadyAt %v %v, completeTime %v", at, ok, rec["completeTime"])
			}
			continue
		}
		if !ok || !at.Equal(clk.Now()) || !timeRE.MatchString(rec["completeTime"].(string)) {
			t.Errorf("%s: ReadyAt %v %v, completeTime %v", c.audio, at, ok, rec["completeTime"])
		}
	}
	if got, _ := h.sim.TaskFor("fail-1"); got != ids["fail-1"] {
		t.Errorf("TaskFor = %q", got)
	}
}

func TestLifecycleRealClock(t *testing.T) {
	h := newHarness(t, Config{ReadyAfter: 50 * time.Millisecond})
	id := h.mustCreate("real")
	if _, rec := h.record(id); rec["successFlag"] != FlagPending {
		t.Fatalf("want PENDING, got %v", rec)
	}
	at, _ := h.sim.ReadyAt(id)
	time.Sleep(time.Until(at) + 5*time.Millisecond)
	if _, rec := h.record(id); rec["successFlag"] != FlagSuccess {
		t.Fatalf("want SUCCESS, got %v", rec)
	}
	h.sim.SetFate("quick", Fate{ReadyAfter: -1})
	if _, rec := h.record(h.mustCreate("quick")); rec["successFlag"] != FlagSuccess {
		t.Fatalf("negative ReadyAfter: want SUCCESS at once, got %v", rec)
	}
}

func TestAuth(t *testing.T) {
	h := newHarness(t, Config{APIKey: "sekrit", ReadyAfter: -1})
	id := h.mustCreate("a")
	for _, key := range []string{"", "wrong"} {
		h.key = key
		for _, p := range []string{PathCredit, PathRecordInfo + "?taskId=" + id} {
			r := h.do("GET", p, nil)
			if r.Status != 200 || r.Code != 401 || r.Msg != "You do not have access permissions" {
				t.Errorf("key %q %s: HTTP %d %s", key, p, r.Status, r.Raw)
			}
		}
	}
	h.key = "sekrit"
	if r := h.do("GET", PathCredit, nil); r.Code != 200 || string(r.Data) != "10000.5" {
		t.Errorf("credit: %s", r.Raw)
	}
	// Files are served without the key, like KIE's file host.
	if resp, _, err := h.get(h.srv.URL+fileURLPath(id), nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("file without key: %v %v", resp, err)
	}
	if st := h.sim.Stats(); st.CreateCalls != 1 || st.Creates["a"] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRoutingAndUnknown(t *testing.T) {
	h := newHarness(t, Config{})
	r := h.do("GET", PathRecordInfo+"?taskId=mp4_nope", nil)
	if r.Status != 200 || r.Code != 422 || r.Msg != "recordInfo is null" || string(r.Data) != "null" {
		t.Errorf("unknown task: HTTP %d %s", r.Status, r.Raw)
	}
	if r := h.do("GET", "/api/v1/nope", nil); r.Status != 404 || r.Code != 404 || r.Msg != "not found" {
		t.Errorf("unknown path: HTTP %d %s", r.Status, r.Raw)
	}
	if r := h.do("GET", PathGenerate, nil); r.Status != 405 || r.Header.Get("Allow") != "POST" {
		t.Errorf("GET generate: HTTP %d %v", r.Status, r.Header)
	}
	if r := h.do("POST", PathRecordInfo, []byte("{}")); r.Status != 405 {
		t.Errorf("POST record-info: HTTP %d", r.Status)
	}
	if r := h.do("DELETE", "/files/x.mp4", nil); r.Status != 405 {
		t.Errorf("DELETE file: HTTP %d", r.Status)
	}
	if r := h.do("GET", "/files/mp4_nope.mp4", nil); r.Status != 404 {
		t.Errorf("unknown file: HTTP %d", r.Status)
	}
}

func TestDefaultFate(t *testing.T) {
	s := New(Config{FileSize: 1000})
	cases := map[string]Fate{
		"plain":        {},
		"fail-x":       {Outcome: OutcomeGenerateFailed},
		"createfail-x": {Outcome: OutcomeCreateFailed},
		"cbex-x":       {Outcome: OutcomeCallbackException},
		"never-x":      {Outcome: OutcomeNever},
		"expire-x":     {ExpireURL: true},
		"cut-x":        {CutAt: 500},
	}
	for audio, want := range cases {
		got := s.DefaultFate(audio)
		if got.Outcome != want.Outcome || got.ExpireURL != want.ExpireURL || got.CutAt != want.CutAt {
			t.Errorf("%s: %+v, want %+v", audio, got, want)
		}
	}
	s.SetFate("fail-y", Fate{FileSize: 7})
	s.mu.Lock()
	f := s.fateFor("fail-y")
	s.mu.Unlock()
	if f.Outcome != OutcomeSuccess || s.sizeFor(f) != 7 {
		t.Errorf("SetFate not preferred: %+v", f)
	}
}

func TestStatsIsDeepCopy(t *testing.T) {
	h := newHarness(t, Config{})
	h.mustCreate("a")
	st := h.sim.Stats()
	st.Creates["a"] = 99
	if h.sim.Stats().Creates["a"] != 1 {
		t.Fatal("Stats shares its maps")
	}
}
