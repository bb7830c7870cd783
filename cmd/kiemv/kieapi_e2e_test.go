package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// waitAll runs `kiemv wait` on ids and fails the test unless every one is downloaded.
func (e *env) waitAll(ctx context.Context, ids ...string) {
	e.t.Helper()
	if out, stderr, code := e.kiemv(ctx, append([]string{"wait", "--timeout", "60s"}, ids...)...); code != 0 {
		for _, id := range ids {
			dumpFor(e.t, e, id)
		}
		e.t.Fatalf("wait %v: exit %d\n%s\n%s", ids, code, out, tail(stderr, 2000))
	}
}

// statusJSON returns `kiemv status --json id` decoded.
func (e *env) statusJSON(ctx context.Context, id string) map[string]any {
	e.t.Helper()
	out, stderr, code := e.kiemv(ctx, "status", "--json", id)
	var m map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &m) != nil {
		e.t.Fatalf("status --json %s: exit %d %q %s", id, code, out, stderr)
	}
	return m
}

func TestKIEAPIJobsSubmitAndTrackEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	e := newEnv(t, kiesim.Config{ReadyAfter: 1300 * time.Millisecond, FileSize: 120_000})
	e.globals = append(e.globals, "--record-info-limit", "1000")
	e.worker("--poll-interval", "1s")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// --kie-api jobs: the task is created on the jobs API, polled there, downloaded.
	out, stderr, code := e.kiemv(ctx, "--kie-api", "jobs", "submit", "--task-id", "music-j", "--audio-id", "audio-j", "--first-poll", "0s")
	id := strings.TrimSpace(out)
	if code != 0 || id == "" {
		t.Fatalf("submit --kie-api jobs: exit %d %q %s", code, out, stderr)
	}
	if !e.sim.TaskOnJobsAPI(id) {
		t.Fatalf("task %s was not created on the jobs API", id)
	}
	// A task a tool created on the jobs API: the legacy endpoint does not know it.
	e.sim.AddJobsTask("job_elsewhere", "audio-elsewhere", kiesim.Fate{ReadyAfter: time.Second})
	if out, stderr, code := e.kiemv(ctx, "track", "job_elsewhere"); code != 0 || out != "job_elsewhere pending\n" {
		t.Fatalf("track: exit %d %q %s", code, out, stderr)
	}
	e.waitAll(ctx, id, "job_elsewhere")
	for _, tid := range []string{id, "job_elsewhere"} {
		m := e.statusJSON(ctx, tid)
		want, _ := e.sim.FileSHA256(tid)
		if m["kie_api"] != "jobs" || m["state"] != "downloaded" || m["kie_status"] != "SUCCESS" || m["sha256"] != want {
			t.Errorf("%s: %v", tid, m)
		}
		if got := fileSHA256(t, filepath.Join(e.dir, tid+".mp4")); got != want {
			t.Errorf("%s: file sha %s, want %s", tid, got, want)
		}
	}
	if out, _, _ := e.kiemv(ctx, "status", "job_elsewhere"); !strings.Contains(out, "kie_api") || !strings.Contains(out, "jobs") {
		t.Errorf("status text: %s", out)
	}
	// The default stays legacy.
	out, _, code = e.kiemv(ctx, "submit", "--task-id", "music-l", "--audio-id", "audio-l", "--first-poll", "0s")
	if lid := strings.TrimSpace(out); code != 0 || e.sim.TaskOnJobsAPI(lid) {
		t.Errorf("default submit: exit %d, %s on the jobs API %v", code, lid, e.sim.TaskOnJobsAPI(lid))
	} else if e.waitAll(ctx, lid); e.statusJSON(ctx, lid)["kie_api"] != "legacy" {
		t.Errorf("legacy submit: %v", e.statusJSON(ctx, lid))
	}
}

func TestKIEAPIFlagValidation(t *testing.T) {
	e := newEnv(t, kiesim.Config{})
	_, stderr, code := e.kiemv(context.Background(), "--kie-api", "market", "status", "x")
	if code != 2 || !strings.Contains(stderr, "--kie-api") || !strings.Contains(stderr, "legacy or jobs") {
		t.Errorf("bad --kie-api: exit %d %s", code, stderr)
	}
	t.Setenv("KIE_API", "v2")
	if _, stderr, code := e.kiemv(context.Background(), "status", "x"); code != 2 || !strings.Contains(stderr, `"v2"`) {
		t.Errorf("bad KIE_API: exit %d %s", code, stderr)
	}
	t.Setenv("KIE_API", "")
	if _, stderr, code := e.kiemv(context.Background(), "--mp4-credits", "0", "credits"); code != 2 || !strings.Contains(stderr, "--mp4-credits") {
		t.Errorf("--mp4-credits 0: exit %d %s", code, stderr)
	}
}

func TestCreditsAndMaxCredits(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Hour})
	e.sim.SetCredits(5)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	out, stderr, code := e.kiemv(ctx, "credits")
	if code != 0 || !strings.Contains(out, "balance  5 credits") || !strings.Contains(out, "today    0 MP4s = 0 credits") {
		t.Fatalf("credits before anything: exit %d\n%s%s", code, out, stderr)
	}
	// --max-credits below one MP4's price: refused, nothing created, the claim released.
	_, stderr, code = e.kiemv(ctx, "submit", "--task-id", "m", "--audio-id", "a1", "--max-credits", "1")
	if code != 1 || !strings.Contains(stderr, "audio a1 was not submitted") || !strings.Contains(stderr, "over the credit budget") ||
		!strings.Contains(stderr, "--max-credits") || e.sim.Stats().CreateCalls != 0 {
		t.Fatalf("--max-credits 1: exit %d %s (creates %d)", code, stderr, e.sim.Stats().CreateCalls)
	}
	if _, stderr, code := e.kiemv(ctx, "submit", "--task-id", "m", "--audio-id", "a1", "--max-credits", "2"); code != 0 {
		t.Fatalf("--max-credits 2: exit %d %s", code, stderr)
	}
	if _, stderr, code := e.kiemv(ctx, "--kie-api", "jobs", "submit", "--task-id", "m", "--audio-id", "a2"); code != 0 {
		t.Fatalf("second submit: exit %d %s", code, stderr)
	}
	// The balance (1) cannot pay a third: KIE's 402 ends it at once, nothing is retried.
	calls := e.sim.Stats().CreateCalls
	start := time.Now()
	_, stderr, code = e.kiemv(ctx, "submit", "--task-id", "m", "--audio-id", "a3")
	if code != 1 || !strings.Contains(stderr, "not submitted: insufficient credits") || !strings.Contains(stderr, "top up") ||
		e.sim.Stats().CreateCalls != calls+1 || time.Since(start) > 5*time.Second {
		t.Fatalf("402: exit %d %s; %d create calls in %v", code, stderr, e.sim.Stats().CreateCalls-calls, time.Since(start))
	}
	out, _, code = e.kiemv(ctx, "--mp4-credits", "2.5", "credits", "--json")
	var r struct {
		Balance    float64 `json:"balance"`
		MP4Credits float64 `json:"mp4_credits"`
		Today      struct {
			Date    string  `json:"date"`
			MP4s    int64   `json:"mp4s"`
			Credits float64 `json:"credits"`
		} `json:"today"`
		Total struct {
			MP4s    int64   `json:"mp4s"`
			Credits float64 `json:"credits"`
		} `json:"total"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Balance != 1 || r.MP4Credits != 2.5 || r.Today.MP4s != 2 ||
		r.Today.Credits != 5 || r.Total.MP4s != 2 || r.Today.Date != time.Now().UTC().Format(time.DateOnly) {
		t.Errorf("credits --json: exit %d %s -> %+v", code, out, r)
	}
	// After a top-up the same submit goes through: no duplicate, one more create.
	e.sim.SetCredits(10)
	if _, stderr, code := e.kiemv(ctx, "submit", "--task-id", "m", "--audio-id", "a3"); code != 0 {
		t.Fatalf("after a top-up: exit %d %s", code, stderr)
	}
	if st := e.sim.Stats(); st.Creates["a1"] != 1 || st.Creates["a2"] != 1 || st.Creates["a3"] != 1 || st.Duplicates["a3"] != 0 {
		t.Errorf("creates %v duplicates %v", st.Creates, st.Duplicates)
	}
	// KIE down: the counts are printed, and the command fails naming the balance.
	e.sim.SetOutage(kiesim.Fault455)
	out, stderr, code = e.kiemv(ctx, "--kie-timeout", "2s", "credits")
	if code != 1 || !strings.Contains(out, "total    3 MP4s = 6 credits") || !strings.Contains(stderr, "credit balance") {
		t.Errorf("credits with KIE down: exit %d\n%s%s", code, out, stderr)
	}
	if strings.Contains(e.output(), testAPIKey) {
		t.Error("the API key was printed")
	}
}
