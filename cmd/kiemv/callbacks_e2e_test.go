package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// testHookKey is the webhook HMAC key of the callback tests; no output may contain it.
const testHookKey = "whk-kiemv-TEST-SECRET-hmac"

// startCallbacks runs `kiemv callbacks` on a free loopback port until the test ends, waits
// until it answers /healthz, and returns its callback URL.
func startCallbacks(t *testing.T, e *env, args ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, stderr, code := e.kiemv(ctx, append([]string{"callbacks", "--listen", addr}, args...)...)
		if code != 0 {
			t.Errorf("callbacks exited %d: %s", code, tail(stderr, 2000))
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("callbacks did not stop within 10s of cancel")
		}
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return "http://" + addr + "/kie/mp4"
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("callbacks did not answer /healthz on %s within 5s", addr)
		}
	}
}

// watchFiles records when each id's final file first appears in dir, until stop is closed.
func watchFiles(dir string, ids []string, stop <-chan struct{}) func() map[string]time.Time {
	var mu sync.Mutex
	seen := map[string]time.Time{}
	scan := func() { // notes the files that are there now and were not before
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if _, ok := seen[id]; !ok {
				if _, err := os.Stat(filepath.Join(dir, id+".mp4")); err == nil {
					seen[id] = now
				}
			}
		}
	}
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			scan()
		}
	}()
	return func() map[string]time.Time {
		scan() // a file that came since the last tick (a wait that just returned) counts too
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(seen)
	}
}

// callbackLatency bounds the time from a task ready at KIE (its callback sent) to its file on
// disk, when polls alone would take minutes.
const callbackLatency = 6 * time.Second

func TestCallbacksEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run takes ~10s")
	}
	e := newEnv(t, kiesim.Config{HMACKey: testHookKey, CreateLimit: -1, FileSize: 200_000,
		CallbackRetryDelays: []time.Duration{200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond}})
	t.Cleanup(e.sim.Close)
	const n = 20
	audios := make([]string, n)
	for i := range audios {
		audios[i] = fmt.Sprintf("cb-%02d", i)
		e.sim.SetFate(audios[i], kiesim.Fate{ReadyAfter: 4*time.Second + time.Duration(i)*100*time.Millisecond,
			PollFaults: [][]kiesim.Fault{nil, {kiesim.FaultHTML500}}[i%2]})
	}
	e.sim.SetFate("fail-cb", kiesim.Fate{ReadyAfter: 4 * time.Second, Outcome: kiesim.OutcomeGenerateFailed})
	audios = append(audios, "fail-cb")
	e.globals = append(e.globals, "--create-limit", "1000", "--record-info-limit", "1000")
	t.Setenv(envWebhookKey, testHookKey)
	cbURL := startCallbacks(t, e)
	e.worker("--poll-interval", "5m", "--concurrency", "30")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ids := make([]string, len(audios))
	for i, a := range audios {
		out, stderr, code := e.kiemv(ctx, "submit", "--task-id", "music-cb", "--audio-id", a, "--first-poll", "0s", "--callback-url", cbURL)
		if code != 0 {
			t.Fatalf("submit %s: exit %d: %s", a, code, tail(stderr, 500))
		}
		ids[i] = strings.TrimSpace(out)
	}
	stop := make(chan struct{})
	defer close(stop)
	seen := watchFiles(e.dir, ids[:n], stop)

	// Forged callbacks, while every task is still pending, are refused and change nothing.
	for _, id := range ids {
		if st, err := e.sim.SendForged(id); err != nil || st != http.StatusUnauthorized {
			t.Errorf("forged callback for %s: HTTP %d, %v; want 401", id, st, err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	recs := listRecords(t, e, ctx)
	st := e.sim.Stats()
	for _, id := range ids {
		if r := recs[id]; r == nil || r.State != jobs.StatePending || st.Polls[id] > 1+st.PollFaults[id] {
			t.Errorf("%s after a forged callback: record %+v, %d polls; want pending, only the first poll", id, r, st.Polls[id])
		}
	}

	out, stderr, code := e.kiemv(ctx, append([]string{"wait", "--timeout", "30s"}, ids...)...)
	if code != 1 { // fail-cb fails by design
		t.Errorf("wait: exit %d, want 1; stdout %s stderr %s", code, out, tail(stderr, 1000))
	}
	recs, st, files := listRecords(t, e, ctx), e.sim.Stats(), seen()
	for i, id := range ids {
		r, want := recs[id], jobs.StateDownloaded
		if i == n {
			want = jobs.StateFailed
		}
		if r == nil || r.State != want {
			t.Errorf("%s (%s): record %+v; want %s", id, audios[i], r, want)
			dumpFor(t, e, id)
			continue
		}
		ready, _ := e.sim.ReadyAt(id)
		if want == jobs.StateDownloaded {
			// Polls come every 5 minutes here: only the callback's wake-up brings a file within
			// seconds (3 s on a quiet machine; the bound leaves room for a loaded one).
			if at, ok := files[id]; !ok || at.Sub(ready) > callbackLatency {
				t.Errorf("%s: file on disk %v after the simulator made it ready; want within %v", id, at.Sub(ready), callbackLatency)
			}
			if sum, _ := e.sim.FileSHA256(id); r.SHA256 != sum || fileSHA256(t, filepath.Join(e.dir, id+".mp4")) != sum {
				t.Errorf("%s: file or record sha256 differs from the simulator's %s", id, sum)
			}
		} else if r.CompletedAt.Sub(ready) > callbackLatency {
			t.Errorf("%s: failed %v after the simulator's failure callback; want within %v", id, r.CompletedAt.Sub(ready), callbackLatency)
		}
		if bound := 2 + st.PollFaults[id]; st.Polls[id] > bound {
			t.Errorf("%s: %d polls reached KIE; want at most 2 (the first and the woken one) + %d faults", id, st.Polls[id], st.PollFaults[id])
		}
		if st.Callbacks[id] != 1 {
			t.Errorf("%s: the simulator delivered its callback %d times; want once (answered 200)", id, st.Callbacks[id])
		}
		if strings.Contains(r.VideoURL, "attacker") {
			t.Errorf("%s: the forged video URL %s reached the record", id, r.VideoURL)
		}
	}

	// A replayed callback is acknowledged and ignored; a stale one is refused.
	for _, id := range ids[:3] {
		if st, err := e.sim.SendReplay(id); err != nil || st != http.StatusOK {
			t.Errorf("replay for %s: HTTP %d, %v; want 200", id, st, err)
		}
		if st, err := e.sim.SendStale(id, 10*time.Minute); err != nil || st != http.StatusUnauthorized {
			t.Errorf("stale callback for %s: HTTP %d, %v; want 401", id, st, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	after := e.sim.Stats()
	for _, id := range ids[:3] {
		if after.Polls[id] != st.Polls[id] {
			t.Errorf("%s: a replayed or stale callback caused %d more polls", id, after.Polls[id]-st.Polls[id])
		}
	}
	if out := e.output(); strings.Contains(out, testHookKey) || strings.Contains(out, testAPIKey) {
		t.Error("kiemv's output contains the HMAC key or the API key")
	}
}

func TestCallbacksCommandRefusals(t *testing.T) {
	e := newEnv(t, kiesim.Config{})
	ctx := context.Background()
	t.Setenv(envWebhookKey, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"callbacks"}, envWebhookKey},
		{[]string{"callbacks", "--hmac-key", "k", "--insecure-no-signature"}, "exclude"},
		{[]string{"callbacks", "--hmac-key", "k", "--path", "kie"}, "--path"},
		{[]string{"callbacks", "--hmac-key", "k", "--path", "/healthz"}, "--path"},
		{[]string{"submit", "--task-id", "m", "--audio-id", "a", "--callback-url", "hooks.example.org/kie"}, "--callback-url"},
		{[]string{"submit", "--task-id", "m", "--audio-id", "a", "--callback-url", "ftp://hooks.example.org/kie"}, "--callback-url"},
	} {
		_, stderr, code := e.kiemv(ctx, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %s", tc.args, code, stderr, tc.want)
		}
		if strings.Contains(stderr, "\"k\"") {
			t.Errorf("%v: the key appears in the error", tc.args)
		}
	}
	if n := e.sim.Stats().CreateCalls; n != 0 {
		t.Errorf("refused submits reached KIE %d times", n)
	}

	if s := app.CallbackServer(nil); s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Errorf("the callbacks server does not cut slow clients off: %+v", s)
	}
	cbURL := startCallbacks(t, e, "--hmac-key", testHookKey)
	base := strings.TrimSuffix(cbURL, "/kie/mp4")
	for _, tc := range []struct {
		method, url, body string
		want              int
	}{
		{"GET", cbURL, "", 405},
		{"POST", cbURL, strings.Repeat("x", 70_000), 413},
		{"POST", cbURL, `{"code":200`, 400},
		{"POST", cbURL, `{"code":200,"data":{"task_id":"mp4_x"}}`, 401},
		{"POST", base + "/elsewhere", `{}`, 404},
		{"GET", base + "/healthz", "", 200},
	} {
		req, _ := http.NewRequest(tc.method, tc.url, bytes.NewReader([]byte(tc.body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: HTTP %d; want %d", tc.method, tc.url, resp.StatusCode, tc.want)
		}
	}
	ts := fmt.Sprint(time.Now().Unix())
	req, _ := http.NewRequest("POST", cbURL, strings.NewReader(`{"code":200,"data":{"taskId":"mp4_untracked"}}`))
	req.Header.Set(kie.HeaderTimestamp, ts)
	req.Header.Set(kie.HeaderSignature, kie.Sign(testHookKey, "mp4_untracked", ts))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("signed callback of an unknown task: %v, %v", resp, err)
	}
	resp.Body.Close()
	out, _, code := e.kiemv(ctx, "status", "mp4_untracked")
	if code != 0 || !strings.Contains(out, "pending") {
		t.Errorf("a verified callback of an unknown task should follow it like track: exit %d, %s", code, out)
	}
}

// TestInsecureCallbacksWakeOnlyFollowedTasks: with --insecure-no-signature anyone can POST,
// so an unsigned callback may wake a followed task but never make kiemv follow a new one.
func TestInsecureCallbacksWakeOnlyFollowedTasks(t *testing.T) {
	e := newEnv(t, kiesim.Config{})
	ctx := context.Background()
	if _, stderr, code := e.kiemv(ctx, "track", "mp4_followed"); code != 0 {
		t.Fatalf("track: exit %d: %s", code, stderr)
	}
	cb := startCallbacks(t, e, "--insecure-no-signature")
	for i := range 30 {
		body := fmt.Sprintf(`{"code":200,"msg":"ok","data":{"task_id":"mp4_forged%d","video_url":"https://x.example/v.mp4"}}`, i)
		resp, err := http.Post(cb, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("unsigned callback for an unknown task: %d; want 200", resp.StatusCode)
		}
	}
	out, stderr, code := e.kiemv(ctx, "list", "--json")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, stderr)
	}
	if n := strings.Count(out, `"task_id"`); n != 1 || !strings.Contains(out, "mp4_followed") {
		t.Errorf("records after 30 forged unsigned callbacks: %d; want only the followed one:\n%s", n, out)
	}
}
