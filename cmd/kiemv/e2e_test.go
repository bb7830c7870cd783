package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// e2eCase is one audio of the end-to-end run and what must become of it.
type e2eCase struct {
	audio string
	fate  kiesim.Fate
	want  jobs.State
}

const e2eInterval = time.Second

// e2eCases builds 50 tasks with mixed fates. Ready times sit at k+0.3 poll intervals, so
// that ±10 % jitter can never add a poll beyond ceil(ready/interval)+1.
func e2eCases() []e2eCase {
	ready := func(i int) time.Duration { return time.Duration(float64(e2eInterval) * (float64(i%4+1) + 0.3)) }
	faults := [][]kiesim.Fault{nil, {kiesim.FaultHTML500}, {kiesim.Fault455}, {kiesim.FaultSlow}, {kiesim.Fault429}, {kiesim.Fault500, kiesim.FaultHTML500}}
	var cs []e2eCase
	add := func(prefix string, n int, want jobs.State, f func(i int) kiesim.Fate) {
		for i := 0; i < n; i++ {
			cs = append(cs, e2eCase{audio: fmt.Sprintf("%s%02d", prefix, i), fate: f(i), want: want})
		}
	}
	add("ok-", 20, jobs.StateDownloaded, func(i int) kiesim.Fate {
		return kiesim.Fate{ReadyAfter: ready(i), PollFaults: faults[i%len(faults)]}
	})
	add("cut-", 6, jobs.StateDownloaded, func(i int) kiesim.Fate {
		return kiesim.Fate{ReadyAfter: ready(i), CutAt: int64(40_000 + 10_000*i)}
	})
	add("expire-", 5, jobs.StateDownloaded, func(i int) kiesim.Fate { return kiesim.Fate{ReadyAfter: ready(i), ExpireURL: true} })
	add("cbex-", 5, jobs.StateDownloaded, func(i int) kiesim.Fate {
		return kiesim.Fate{ReadyAfter: ready(i), Outcome: kiesim.OutcomeCallbackException}
	})
	add("fail-", 5, jobs.StateFailed, func(i int) kiesim.Fate {
		return kiesim.Fate{ReadyAfter: ready(i), Outcome: kiesim.OutcomeGenerateFailed, PollFaults: faults[i%len(faults)]}
	})
	add("createfail-", 3, jobs.StateFailed, func(i int) kiesim.Fate {
		return kiesim.Fate{ReadyAfter: ready(i), Outcome: kiesim.OutcomeCreateFailed}
	})
	add("never-", 6, jobs.StateTimedOut, func(i int) kiesim.Fate { return kiesim.Fate{Outcome: kiesim.OutcomeNever} })
	return cs
}

func TestEndToEndMixedFatesWithFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run takes ~20s")
	}
	e := newEnv(t, kiesim.Config{CreateLimit: 10, CreateWindow: time.Second, RateLimitMode: kiesim.RateAlternate,
		SlowDelay: 2 * time.Second, FileSize: 200_000, DuplicateWithID: true})
	cases := e2eCases()
	for _, c := range cases {
		e.sim.SetFate(c.audio, c.fate)
	}
	e.sim.FailNextCreates(2, kiesim.FaultHTML500)
	e.sim.FailNextCreates(1, kiesim.Fault455)
	e.globals = append(e.globals, "--kie-timeout", "1s", "--create-limit", "1000", "--record-info-limit", "1000")
	// The poll budget leaves room for the outage breaker: faults on many tasks at once open it,
	// and a task waits out the outage (no poll, but the budget's clock runs) until the probe
	// closes it; on a loaded machine that took a 429'd task past a 10 s budget once.
	e.worker("--poll-interval", e2eInterval.String(), "--poll-timeout", "20s", "--concurrency", "20")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ids := make([]string, len(cases))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	idRE := regexp.MustCompile(`^mp4_[0-9a-f]{16}\n$`)
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out, stderr, code := e.kiemv(ctx, "submit", "--task-id", "music-e2e", "--audio-id", c.audio, "--first-poll", "0s")
			if code != 0 || !idRE.MatchString(out) {
				t.Errorf("submit %s: exit %d, stdout %q (want only the MP4 task id), stderr %s", c.audio, code, out, tail(stderr, 500))
				return
			}
			ids[i] = strings.TrimSpace(out)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// A repeated submit of the same audio returns the same task without calling KIE; one with
	// another author reaches KIE, gets "Mp4 record already exists", and follows that task.
	out, _, code := e.kiemv(ctx, "submit", "--task-id", "music-e2e", "--audio-id", cases[0].audio)
	if code != 0 || strings.TrimSpace(out) != ids[0] {
		t.Errorf("duplicate submit: exit %d, id %q, want %q", code, out, ids[0])
	}
	out, _, code = e.kiemv(ctx, "submit", "--task-id", "music-e2e", "--audio-id", cases[1].audio, "--author", "Someone Else")
	if code != 0 || strings.TrimSpace(out) != ids[1] {
		t.Errorf("submit answered 409 by KIE: exit %d, id %q, want %q", code, out, ids[1])
	}

	out, stderr, code := e.kiemv(ctx, append([]string{"wait", "--timeout", "60s"}, ids...)...)
	if code != 1 {
		t.Errorf("wait: exit %d, want 1 (some tasks fail by design); stderr %s", code, tail(stderr, 1000))
	}
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != len(ids) {
		t.Errorf("wait printed %d lines, want one per id (%d)", n, len(ids))
	}

	recs := listRecords(t, e, ctx)
	st := e.sim.Stats()
	for i, c := range cases {
		id := ids[i]
		rec := recs[id]
		if rec == nil {
			t.Errorf("%s (%s): no record", id, c.audio)
			continue
		}
		if rec.State != c.want {
			t.Errorf("%s (%s): state %s, want %s (error %q, kie_status %q, polls %d, sim polls %d faults %d)", id, c.audio, rec.State, c.want, rec.Error, rec.KIEStatus, rec.Polls, st.Polls[id], st.PollFaults[id])
		}
		if n := st.Creates[c.audio]; n != 1 {
			t.Errorf("%s: %d creates reached KIE, want exactly 1", c.audio, n)
		}
		if rec.State != jobs.StateDownloaded && rec.Error == "" {
			t.Errorf("%s: ended %s with no error message", id, rec.State)
		}
		if rec.State != c.want {
			dumpFor(t, e, id)
		}
		checkFile(t, e, id, c, rec)
		if c.want != jobs.StateTimedOut {
			ready := c.fate.ReadyAfter
			bound := int(math.Ceil(float64(ready)/float64(e2eInterval))) + 1 + st.PollFaults[id]
			if c.fate.ExpireURL {
				bound++ // the downloader's record-info call for a fresh URL is not a poll, but counts here
			}
			if st.Polls[id] > bound {
				t.Errorf("%s (%s): %d polls reached KIE, bound ceil(%v/%v)+1+%d faults = %d", id, c.audio, st.Polls[id], ready, e2eInterval, st.PollFaults[id], bound)
			}
		}
	}
	if st.RateLimited == 0 {
		t.Errorf("the simulator refused no create: the rate-limit path was not exercised")
	}
	if strings.Contains(e.output(), testAPIKey) {
		t.Errorf("the API key appears in kiemv's output")
	}
}

// checkFile verifies the file on disk against the simulator's bytes, or its absence.
func checkFile(t *testing.T, e *env, id string, c e2eCase, rec *jobs.Record) {
	t.Helper()
	final := filepath.Join(e.dir, id+".mp4")
	if _, err := os.Stat(final + ".part"); err == nil && c.want == jobs.StateDownloaded {
		t.Errorf("%s: partial file left next to the final one", id)
	}
	if c.want != jobs.StateDownloaded {
		if _, err := os.Stat(final); err == nil {
			t.Errorf("%s ended %s but %s exists", id, rec.State, final)
		}
		return
	}
	want, err := e.sim.FileSHA256(id)
	if err != nil {
		t.Fatalf("sim sha256 of %s: %v", id, err)
	}
	if got := fileSHA256(t, final); got != want || rec.SHA256 != want {
		t.Errorf("%s: file sha256 %s, record %s, simulator %s", id, got, rec.SHA256, want)
	}
	if rec.File == "" || rec.Bytes != e.sim.FileSize(id) {
		t.Errorf("%s: record file %q bytes %d, want the path and %d bytes", id, rec.File, rec.Bytes, e.sim.FileSize(id))
	}
	if c.fate.CutAt > 0 {
		if served := e.sim.Stats().BytesServed[id]; served != e.sim.FileSize(id) {
			t.Errorf("%s: the simulator served %d bytes for a %d-byte file cut at %d: the transfer was not resumed", id, served, e.sim.FileSize(id), c.fate.CutAt)
		}
	}
}

// listRecords reads every record through `kiemv list --json`.
func listRecords(t *testing.T, e *env, ctx context.Context) map[string]*jobs.Record {
	t.Helper()
	out, stderr, code := e.kiemv(ctx, "list", "--json", "--limit", "10000")
	if code != 0 {
		t.Fatalf("list --json: exit %d: %s", code, stderr)
	}
	recs := map[string]*jobs.Record{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r jobs.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("list --json line %q: %v", line, err)
		}
		recs[r.TaskID] = &r
	}
	return recs
}
