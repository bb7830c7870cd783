package kiesim

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRateLimitModes(t *testing.T) {
	cases := []struct {
		mode RateMode
		want []int // HTTP status/body code of the two refused creates, as status*1000+code
	}{
		{Rate429, []int{429429, 429429}},
		{Rate430, []int{200430, 200430}},
		{RateAlternate, []int{429429, 200430}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.mode), func(t *testing.T) {
			clk := newClock()
			h := newHarness(t, Config{CreateLimit: 3, RateLimitMode: c.mode, Now: clk.Now})
			var refused []int
			for i := range 5 {
				r := h.create("m", fmt.Sprint("a", i))
				if r.Code == 200 {
					continue
				}
				refused = append(refused, r.Status*1000+r.Code)
				if r.Status == 429 && (r.Header.Get("Retry-After") != "1" || r.Msg != "rate limited") {
					t.Errorf("429 reply: %v %s", r.Header, r.Raw)
				}
				if r.Code == 430 && r.Msg != "call frequency too high" {
					t.Errorf("430 msg %q", r.Msg)
				}
			}
			if fmt.Sprint(refused) != fmt.Sprint(c.want) {
				t.Errorf("refused %v, want %v", refused, c.want)
			}
			st := h.sim.Stats()
			if st.CreateCalls != 5 || st.RateLimited != 2 || len(st.Creates) != 3 {
				t.Errorf("stats %+v", st)
			}
			if _, ok := h.sim.TaskFor("a3"); ok {
				t.Error("a refused create made a task")
			}
			clk.Advance(10 * time.Second)
			h.mustCreate("later")
		})
	}
}

func TestRateLimitSlidingWindow(t *testing.T) {
	clk := newClock()
	h := newHarness(t, Config{CreateLimit: 3, CreateWindow: 10 * time.Second, Now: clk.Now})
	for i := range 3 {
		h.mustCreate(fmt.Sprint("s", i))
		clk.Advance(4 * time.Second) // creates at 0s, 4s, 8s; now 12s
	}
	h.mustCreate("s3") // the 0s create has left the window
	if r := h.create("m", "s4"); r.Code != 429 {
		t.Fatalf("4 s, 8 s, 12 s still in window: want 429, got %s", r.Raw)
	}
	clk.Advance(2 * time.Second) // 14 s: the 4 s create has left
	h.mustCreate("s5")
	if h.sim.Stats().RateLimited != 1 {
		t.Errorf("RateLimited %d", h.sim.Stats().RateLimited)
	}
}

func TestDuplicate(t *testing.T) {
	for _, withID := range []bool{false, true} {
		h := newHarness(t, Config{DuplicateWithID: withID})
		id := h.mustCreate("dup")
		r := h.create("music-dup", "dup")
		if r.Status != 200 || r.Code != 409 || r.Msg != "Mp4 record already exists" {
			t.Fatalf("duplicate: HTTP %d %s", r.Status, r.Raw)
		}
		want := "null"
		if withID {
			want = `{"taskId":"` + id + `"}`
		}
		if string(r.Data) != want {
			t.Errorf("withID=%v: data %s, want %s", withID, r.Data, want)
		}
		h.create("other-music", "dup") // another music task: a new video
		if st := h.sim.Stats(); st.Creates["dup"] != 2 || st.Duplicates["dup"] != 1 || st.CreateCalls != 3 {
			t.Errorf("stats %+v", st)
		}
	}
}

func TestCreateValidation(t *testing.T) {
	h := newHarness(t, Config{})
	long := strings.Repeat("é", 51)
	cases := []struct {
		body any
		code int
		msg  string
	}{
		{[]byte("{not json"), 400, "Invalid request body"},
		{map[string]string{"audioId": "a", "callBackUrl": "https://x.example/"}, 422, "taskId is required"},
		{map[string]string{"taskId": "t", "callBackUrl": "https://x.example/"}, 422, "audioId is required"},
		{map[string]string{"taskId": "t", "audioId": "a"}, 422, "callBackUrl is required"},
		{map[string]string{"taskId": "t", "audioId": "a", "callBackUrl": "nope"}, 422, "callBackUrl is invalid"},
		{map[string]string{"taskId": "t", "audioId": "a", "callBackUrl": "https://x.example/", "author": long}, 422, "author"},
		{map[string]string{"taskId": "t", "audioId": "a", "callBackUrl": "https://x.example/", "domainName": long}, 422, "domainName"},
		{map[string]string{"taskId": "t", "audioId": "a", "callBackUrl": "https://x.example/", "author": long[2:]}, 200, "success"},
	}
	for _, c := range cases {
		r := h.do("POST", PathGenerate, c.body)
		if r.Status != 200 || r.Code != c.code || !strings.HasPrefix(r.Msg, c.msg) {
			t.Errorf("%v: HTTP %d %s", c.body, r.Status, r.Raw)
		}
	}
}

func TestCreateFaults(t *testing.T) {
	h := newHarness(t, Config{SlowDelay: 20 * time.Millisecond})
	h.sim.FailNextCreates(1, FaultHTML500)
	h.sim.FailNextCreates(1, Fault455)
	h.sim.FailNextCreates(1, Fault500)
	h.sim.FailNextCreates(1, Fault429)
	h.sim.FailNextCreates(1, FaultSlow)
	checkFaultReplies(t, func() reply { return h.create("m", "f") })
	if r := h.create("m", "f"); r.Code != 409 { // the slow one created it
		t.Errorf("after faults: %s", r.Raw)
	}
	if st := h.sim.Stats(); st.CreateCalls != 6 || st.Creates["f"] != 1 || st.RateLimited != 0 {
		t.Errorf("stats %+v", st)
	}
}

// checkFaultReplies calls call five times and checks the replies of the faults HTML500, 455,
// 500, 429 and Slow, in that order.
func checkFaultReplies(t *testing.T, call func() reply) {
	t.Helper()
	r := call()
	if r.Status != 502 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") ||
		string(r.Raw) != "<html><body>Bad Gateway</body></html>" {
		t.Errorf("HTML500: HTTP %d %s", r.Status, r.Raw)
	}
	if r := call(); r.Status != 200 || r.Code != 455 || r.Msg != "The system is under maintenance" {
		t.Errorf("455: HTTP %d %s", r.Status, r.Raw)
	}
	if r := call(); r.Status != 200 || r.Code != 500 || r.Msg != "internal error, try later" {
		t.Errorf("500: HTTP %d %s", r.Status, r.Raw)
	}
	if r := call(); r.Status != 429 || r.Code != 429 || r.Header.Get("Retry-After") != "1" {
		t.Errorf("429: HTTP %d %v %s", r.Status, r.Header, r.Raw)
	}
	start := time.Now()
	if r := call(); r.Status != 200 || r.Code != 200 || time.Since(start) < 20*time.Millisecond {
		t.Errorf("slow: HTTP %d %s after %v", r.Status, r.Raw, time.Since(start))
	}
}

func TestPollFaults(t *testing.T) {
	h := newHarness(t, Config{SlowDelay: 20 * time.Millisecond, ReadyAfter: -1})
	h.sim.SetFate("pf", Fate{PollFaults: []Fault{FaultHTML500, Fault455, Fault500, Fault429,
		FaultSlow, FaultNone, Fault500}})
	id := h.mustCreate("pf")
	poll := func() reply { r, _ := h.record(id); return r }
	checkFaultReplies(t, poll)
	if _, rec := h.record(id); rec["successFlag"] != FlagSuccess { // FaultNone
		t.Errorf("FaultNone: %v", rec)
	}
	if r := poll(); r.Code != 500 {
		t.Errorf("last fault: %s", r.Raw)
	}
	if _, rec := h.record(id); rec["successFlag"] != FlagSuccess {
		t.Errorf("after faults: %v", rec)
	}
	if st := h.sim.Stats(); st.Polls[id] != 8 || st.PollFaults[id] != 6 {
		t.Errorf("polls %d faults %d", st.Polls[id], st.PollFaults[id])
	}
}

func TestSlowHonoursCancel(t *testing.T) {
	h := newHarness(t, Config{SlowDelay: time.Minute, ReadyAfter: -1})
	h.sim.SetFate("slow", Fate{PollFaults: []Fault{FaultSlow}})
	id := h.mustCreate("slow")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.srv.URL+PathRecordInfo+"?taskId="+id, nil)
	if _, err := h.srv.Client().Do(req); err == nil {
		t.Fatal("slow reply did not time out")
	}
	// httptest.Server.Close (in Cleanup) waits for the handler: it must return promptly.
	done := make(chan struct{})
	go func() { h.srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("slow handler ignored the canceled context")
	}
}

func TestRecordInfoLimit(t *testing.T) {
	clk := newClock()
	h := newHarness(t, Config{RecordInfoLimit: 2, ReadyAfter: -1, Now: clk.Now})
	id := h.mustCreate("rl")
	var codes []int
	for range 4 {
		r, _ := h.record(id)
		codes = append(codes, r.Code)
		if r.Code == 405 && (r.Status != 200 || r.Msg != "rate limit exceeded") {
			t.Errorf("405 reply: HTTP %d %s", r.Status, r.Raw)
		}
	}
	if fmt.Sprint(codes) != "[200 200 405 405]" {
		t.Errorf("codes %v", codes)
	}
	clk.Advance(time.Second)
	if r, _ := h.record(id); r.Code != 200 {
		t.Errorf("next second: %s", r.Raw)
	}
	st := h.sim.Stats()
	if st.Polls[id] != 5 || st.PollFaults[id] != 2 || st.MaxRecordInfoPerSecond != 4 {
		t.Errorf("stats polls %d faults %d max/s %d", st.Polls[id], st.PollFaults[id], st.MaxRecordInfoPerSecond)
	}
}

// The record-info limit counts a sliding second, not whole seconds: two calls late in one
// second leave no room early in the next.
func TestRecordInfoLimitSliding(t *testing.T) {
	clk := newClock()
	h := newHarness(t, Config{RecordInfoLimit: 2, ReadyAfter: -1, Now: clk.Now})
	id := h.mustCreate("rl")
	var codes []int
	for _, step := range []time.Duration{500, 400, 300, 300} { // at 0.5, 0.9, 1.2, 1.5 s
		clk.Advance(step * time.Millisecond)
		r, _ := h.record(id)
		codes = append(codes, r.Code)
	}
	if fmt.Sprint(codes) != "[200 200 405 200]" {
		t.Errorf("codes %v; want the call at 1.2s refused (0.5 and 0.9 are within a second of it)", codes)
	}
}
