package kiesim

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
	"time"
)

func TestOutage(t *testing.T) {
	h := newHarness(t, Config{ReadyAfter: -1, FileSize: 1000})
	id := h.mustCreate("out")
	h.sim.SetOutage(Fault455)
	if r, _ := h.record(id); r.Code != 455 {
		t.Errorf("record-info during a 455 outage: %s", r.Raw)
	}
	if r := h.create("music-x", "x"); r.Code != 455 {
		t.Errorf("create during a 455 outage: %s", r.Raw)
	}
	h.sim.SetOutage(FaultHTML500)
	if r := h.do("GET", PathCredit, nil); r.Status != 502 {
		t.Errorf("credit during an HTML outage: HTTP %d %s", r.Status, r.Raw)
	}
	if resp, body, err := h.get(h.srv.URL+fileURLPath(id), nil); err != nil || resp.StatusCode != 200 || len(body) != 1000 {
		t.Errorf("files must be served during an API outage: %v, %v, %d bytes", resp, err, len(body))
	}
	h.sim.SetOutage(FaultNone)
	if _, rec := h.record(id); rec["successFlag"] != FlagSuccess {
		t.Errorf("after the outage: %v", rec)
	}
	st := h.sim.Stats()
	if st.OutageReplies != 3 || st.Polls[id] != 2 || st.PollFaults[id] != 1 || st.Creates["x"] != 0 {
		t.Errorf("stats %+v; want 3 outage replies, 2 polls of which 1 fault, no create", st)
	}
}

func TestMaxConcurrentPolls(t *testing.T) {
	h := newHarness(t, Config{ReadyAfter: -1, SlowDelay: 300 * time.Millisecond})
	h.sim.SetFate("one", Fate{PollFaults: []Fault{FaultSlow, FaultSlow}})
	h.sim.SetFate("two", Fate{PollFaults: []Fault{FaultSlow}})
	one, two := h.mustCreate("one"), h.mustCreate("two")
	var wg sync.WaitGroup
	for _, id := range []string{one, two} { // two tasks at once: not an overlap
		wg.Add(1)
		go func() { defer wg.Done(); h.record(id) }()
	}
	wg.Wait()
	if n := h.sim.Stats().MaxConcurrentPolls; n != 1 {
		t.Errorf("MaxConcurrentPolls = %d after one poll of each of two tasks; want 1", n)
	}
	for range 2 { // the same task twice at once
		wg.Add(1)
		go func() { defer wg.Done(); h.record(one) }()
	}
	wg.Wait()
	if n := h.sim.Stats().MaxConcurrentPolls; n != 2 {
		t.Errorf("MaxConcurrentPolls = %d after two overlapping polls of one task; want 2", n)
	}
}

func TestFileRate(t *testing.T) {
	const size, rate = 60_000, 200_000 // 0.3 s at the rate
	h := newHarness(t, Config{ReadyAfter: -1, FileSize: size, FileRate: rate})
	id := h.mustCreate("slowfile")
	start := time.Now()
	resp, body, err := h.get(h.srv.URL+fileURLPath(id), nil)
	took := time.Since(start)
	if err != nil || resp.StatusCode != 200 || len(body) != size {
		t.Fatalf("GET: %v, %v, %d bytes", resp, err, len(body))
	}
	if took < 200*time.Millisecond { // the last slice leaves at (size-rate/20)/rate = 250ms
		t.Errorf("%d bytes at %d B/s took %v; want about 300ms", size, rate, took)
	}
	sum := sha256.Sum256(body)
	if want, _ := h.sim.FileSHA256(id); hex.EncodeToString(sum[:]) != want {
		t.Error("paced bytes differ from the video")
	}
	resp, body, err = h.get(h.srv.URL+fileURLPath(id), map[string]string{"Range": "bytes=50000-"})
	if err != nil || resp.StatusCode != 206 || len(body) != size-50_000 {
		t.Errorf("paced Range GET: %v, %v, %d bytes", resp, err, len(body))
	}
}
