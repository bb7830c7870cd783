package kiesim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs/kie"
)

const testHMACKey = "whk_sim_test"

// hit is one request received by a receiver.
type hit struct {
	at     time.Time
	header http.Header
	body   []byte
}

// receiver is a callback endpoint that records every request and answers with the statuses
// of answers in turn (200 once they run out).
type receiver struct {
	mu      sync.Mutex
	hits    []hit
	answers []int
	srv     *httptest.Server
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	rc := &receiver{answers: answers}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{time.Now(), r.Header.Clone(), b})
		status := 200
		if len(rc.answers) > 0 {
			status, rc.answers = rc.answers[0], rc.answers[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// waitHits waits until rc has n requests, or fails the test after d.
func (rc *receiver) waitHits(t *testing.T, n int, d time.Duration) []hit {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if h := rc.got(); len(h) >= n {
			return h
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("receiver got %d callbacks within %v; want %d", len(rc.got()), d, n)
	return nil
}

// createWithCallback creates a task for audio whose callBackUrl is cbURL and returns its id.
func (h *harness) createWithCallback(audio, cbURL string) string {
	h.t.Helper()
	r := h.do("POST", PathGenerate, map[string]string{"taskId": "music-" + audio, "audioId": audio, "callBackUrl": cbURL})
	var d struct {
		TaskID string `json:"taskId"`
	}
	if r.Code != 200 || json.Unmarshal(r.Data, &d) != nil || d.TaskID == "" {
		h.t.Fatalf("create %s: HTTP %d %s", audio, r.Status, r.Raw)
	}
	return d.TaskID
}

func newCallbackHarness(t *testing.T, cfg Config) *harness {
	if cfg.ReadyAfter == 0 {
		cfg.ReadyAfter = 150 * time.Millisecond
	}
	if cfg.CallbackRetryDelays == nil {
		cfg.CallbackRetryDelays = []time.Duration{50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}
	}
	h := newHarness(t, cfg)
	t.Cleanup(h.sim.Close)
	return h
}

func decodeCallback(t *testing.T, b []byte) (code int, msg, task string, videoURL *string) {
	t.Helper()
	var v callbackBody
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("callback body %s: %v", b, err)
	}
	return v.Code, v.Msg, v.Data.TaskID, v.Data.VideoURL
}

func TestCallbackDeliveredSignedWhenReady(t *testing.T) {
	rc := newReceiver(t)
	h := newCallbackHarness(t, Config{HMACKey: testHMACKey})
	id := h.createWithCallback("a1", rc.srv.URL+"/kie/mp4")
	hits := rc.waitHits(t, 1, 3*time.Second)
	ready, _ := h.sim.ReadyAt(id)
	if hits[0].at.Before(ready) {
		t.Errorf("callback arrived %v before the task was ready", ready.Sub(hits[0].at))
	}
	code, _, task, u := decodeCallback(t, hits[0].body)
	if code != 200 || task != id || u == nil || *u != h.srv.URL+fileURLPath(id) {
		t.Errorf("callback body %s; want code 200, task_id %s and the video URL", hits[0].body, id)
	}
	ts, sig := hits[0].header.Get(kie.HeaderTimestamp), hits[0].header.Get(kie.HeaderSignature)
	if !kie.VerifySignature(testHMACKey, id, ts, sig) {
		t.Errorf("signature %q of timestamp %q does not verify", sig, ts)
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > 2*time.Second {
		t.Errorf("timestamp %q is not the current Unix second", ts)
	}
	if ct := hits[0].header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(rc.got()); n != 1 {
		t.Errorf("%d callbacks after a 200; want 1", n)
	}
	if n := h.sim.Stats().Callbacks[id]; n != 1 {
		t.Errorf("Stats().Callbacks[%s] = %d; want 1", id, n)
	}
}

func TestCallbackFailureAndUnsigned(t *testing.T) {
	rc := newReceiver(t)
	h := newCallbackHarness(t, Config{})
	failed := h.createWithCallback("fail-1", rc.srv.URL)
	created := h.createWithCallback("createfail-1", rc.srv.URL)
	cbex := h.createWithCallback("cbex-1", rc.srv.URL)
	hits := rc.waitHits(t, 3, 3*time.Second)
	byTask := map[string]hit{}
	for _, x := range hits {
		_, _, task, _ := decodeCallback(t, x.body)
		byTask[task] = x
		if x.header.Get(kie.HeaderSignature) != "" {
			t.Errorf("a signature was sent without an HMAC key")
		}
	}
	for id, want := range map[string]int{failed: 501, created: 400, cbex: 200} {
		code, msg, _, u := decodeCallback(t, byTask[id].body)
		if code != want || msg == "" || (want != 200) != (u == nil) {
			t.Errorf("%s: callback %s; want code %d, a msg, and video_url null only on failure", id, byTask[id].body, want)
		}
	}
	if want := `"video_url":null`; !strings.Contains(string(byTask[failed].body), want) {
		t.Errorf("failure callback %s lacks %s", byTask[failed].body, want)
	}
}

func TestCallbackRetries(t *testing.T) {
	t.Run("gives up after 3 retries", func(t *testing.T) {
		rc := newReceiver(t, 500, 500, 500, 500, 500, 500)
		h := newCallbackHarness(t, Config{HMACKey: testHMACKey})
		id := h.createWithCallback("r1", rc.srv.URL)
		hits := rc.waitHits(t, 4, 3*time.Second)
		time.Sleep(300 * time.Millisecond)
		if n := len(rc.got()); n != 4 {
			t.Errorf("%d deliveries of a callback always refused; want 1 + 3 retries", n)
		}
		if n := h.sim.Stats().Callbacks[id]; n != 4 {
			t.Errorf("Stats().Callbacks = %d; want 4", n)
		}
		for i, x := range hits {
			if !kie.VerifySignature(testHMACKey, id, x.header.Get(kie.HeaderTimestamp), x.header.Get(kie.HeaderSignature)) {
				t.Errorf("retry %d is not validly signed", i)
			}
		}
	})
	t.Run("stops at the first 200", func(t *testing.T) {
		rc := newReceiver(t, 503, 401)
		h := newCallbackHarness(t, Config{HMACKey: testHMACKey})
		h.createWithCallback("r2", rc.srv.URL)
		rc.waitHits(t, 3, 3*time.Second)
		time.Sleep(300 * time.Millisecond)
		if n := len(rc.got()); n != 3 {
			t.Errorf("%d deliveries; want 3 (503, 401, then 200)", n)
		}
	})
}

func TestCallbackNotSentToPlaceholders(t *testing.T) {
	for _, u := range []string{"https://example.invalid/kiemv/no-callback", "https://hooks.example.org/kie/mp4", "http://x.example/cb", "ftp://host/x"} {
		if callbackWanted(u) {
			t.Errorf("callbackWanted(%q) = true", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8081/kie/mp4", "https://hooks.mydomain.net/kie"} {
		if !callbackWanted(u) {
			t.Errorf("callbackWanted(%q) = false", u)
		}
	}
	h := newCallbackHarness(t, Config{})
	id := h.createWithCallback("p1", "https://example.invalid/kiemv/no-callback")
	time.Sleep(300 * time.Millisecond)
	if n := h.sim.Stats().Callbacks[id]; n != 0 {
		t.Errorf("%d callbacks to a placeholder URL", n)
	}
	if _, err := h.sim.SendForged(id); err == nil {
		t.Error("SendForged to a placeholder URL did not fail")
	}
}

func TestCallbackForgedReplayedStale(t *testing.T) {
	rc := newReceiver(t)
	h := newCallbackHarness(t, Config{HMACKey: testHMACKey})
	id := h.createWithCallback("f1", rc.srv.URL)
	if _, err := h.sim.SendReplay(id); err == nil {
		t.Error("SendReplay before any delivery did not fail")
	}
	genuine := rc.waitHits(t, 1, 3*time.Second)[0]

	if st, err := h.sim.SendForged(id); err != nil || st != 200 {
		t.Fatalf("SendForged: %d, %v", st, err)
	}
	if st, err := h.sim.SendReplay(id); err != nil || st != 200 {
		t.Fatalf("SendReplay: %d, %v", st, err)
	}
	if st, err := h.sim.SendStale(id, 10*time.Minute); err != nil || st != 200 {
		t.Fatalf("SendStale: %d, %v", st, err)
	}
	hits := rc.got()
	if len(hits) != 4 {
		t.Fatalf("%d requests; want 4", len(hits))
	}
	forged, replay, stale := hits[1], hits[2], hits[3]
	if kie.VerifySignature(testHMACKey, id, forged.header.Get(kie.HeaderTimestamp), forged.header.Get(kie.HeaderSignature)) {
		t.Error("the forged callback carries a valid signature")
	}
	if _, _, task, u := decodeCallback(t, forged.body); task != id || u == nil || *u == h.srv.URL+fileURLPath(id) {
		t.Errorf("forged body %s should name %s with another video URL", forged.body, id)
	}
	if string(replay.body) != string(genuine.body) || replay.header.Get(kie.HeaderTimestamp) != genuine.header.Get(kie.HeaderTimestamp) ||
		replay.header.Get(kie.HeaderSignature) != genuine.header.Get(kie.HeaderSignature) {
		t.Error("the replay is not the genuine callback verbatim")
	}
	ts := stale.header.Get(kie.HeaderTimestamp)
	sec, _ := strconv.ParseInt(ts, 10, 64)
	if age := time.Since(time.Unix(sec, 0)); age < 9*time.Minute || age > 11*time.Minute {
		t.Errorf("stale timestamp is %v old; want about 10m", age)
	}
	if !kie.VerifySignature(testHMACKey, id, ts, stale.header.Get(kie.HeaderSignature)) || string(stale.body) != string(genuine.body) {
		t.Error("the stale callback should be the genuine one, validly signed, with an old timestamp")
	}
	if n := h.sim.Stats().Callbacks[id]; n != 1 {
		t.Errorf("Stats().Callbacks = %d; Send* must not count", n)
	}
}

func TestCloseStopsCallbacks(t *testing.T) {
	rc := newReceiver(t)
	h := newCallbackHarness(t, Config{HMACKey: testHMACKey, ReadyAfter: 200 * time.Millisecond})
	id := h.createWithCallback("c1", rc.srv.URL)
	h.sim.Close()
	h.sim.Close() // idempotent
	time.Sleep(400 * time.Millisecond)
	if n := len(rc.got()); n != 0 {
		t.Errorf("%d callbacks after Close", n)
	}
	if _, err := h.sim.SendForged(id); err == nil {
		t.Error("SendForged after Close did not fail")
	}
	if r, _ := h.record(id); r.Code != 200 {
		t.Errorf("record-info after Close: %s", r.Raw)
	}
}
