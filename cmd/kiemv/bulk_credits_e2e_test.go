package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// mp4Lines writes a JSON Lines file of n takes of music task m, and returns it with the audio ids.
func mp4Lines(t *testing.T, m string, n int) (string, []string) {
	t.Helper()
	var b strings.Builder
	var audios []string
	for i := 1; i <= n; i++ {
		a := fmt.Sprintf("%s-a%02d", m, i)
		audios = append(audios, a)
		fmt.Fprintf(&b, `{"task_id":%q,"audio_id":%q}`+"\n", m, a)
	}
	path := filepath.Join(t.TempDir(), m+".jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, audios
}

// count returns how many output lines end with suffix.
func count(out, suffix string) int {
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasSuffix(l, suffix) {
			n++
		}
	}
	return n
}

// Issue 12's credit case through the CLI: with a balance of 10 credits (2 per MP4), a run of 12
// MP4s is refused before it starts; with --partial 5 are created and the rest are reported
// "not submitted: insufficient credits"; after a top-up the same file creates exactly the rest.
// --max-credits bounds a run whatever the balance.
func TestBulkWithinCredits(t *testing.T) {
	e := newEnv(t, kiesim.Config{CreateLimit: -1})
	e.globals = append(e.globals, "--create-limit", "1000")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	e.sim.SetCredits(10)
	path, audios := mp4Lines(t, "credit-m", 12)

	_, stderr, code := e.kiemv(ctx, "submit", "--from", path)
	if code != 1 || !strings.Contains(stderr, "pays for 5 of the 12 MP4s") || !strings.Contains(stderr, "--partial") {
		t.Fatalf("run the balance cannot pay for: exit %d, %s; want 1, naming 5 of 12 and --partial", code, tail(stderr, 600))
	}
	if n := e.sim.Stats().CreateCalls; n != 0 {
		t.Fatalf("a refused run made %d create calls", n)
	}

	out, stderr, code := e.kiemv(ctx, "submit", "--from", path, "--partial")
	if code != 1 || count(out, " pending") != 5 || count(out, " not submitted: insufficient credits") != 7 {
		t.Fatalf("--partial run: exit %d\n%s\n%s; want 5 pending, 7 not submitted: insufficient credits", code, out, tail(stderr, 600))
	}
	if !strings.Contains(stderr, "top up") || e.sim.Credits() != 0 {
		t.Errorf("stderr %q (want what to do); balance left %g, want 0", tail(stderr, 400), e.sim.Credits())
	}

	e.sim.SetCredits(100) // topped up
	out, stderr, code = e.kiemv(ctx, "submit", "--from", path)
	if code != 0 || count(out, " pending") != 12 {
		t.Fatalf("rerun after a top-up: exit %d\n%s\n%s", code, out, tail(stderr, 600))
	}
	for _, a := range audios {
		if n := e.sim.Stats().Creates[a]; n != 1 {
			t.Errorf("audio %s: %d creates, want 1", a, n)
		}
	}
	if got := e.sim.Credits(); got != 100-2*7 {
		t.Errorf("the rerun spent %g credits; want 14 (the 7 missing MP4s)", 100-got)
	}

	// --max-credits 4: two MP4s of three, whatever the balance; the third is not submitted.
	capped, _ := mp4Lines(t, "capped-m", 3)
	out, stderr, code = e.kiemv(ctx, "submit", "--from", capped, "--max-credits", "4")
	if code != 1 || count(out, " pending") != 2 || count(out, " not submitted: over the run's --max-credits") != 1 ||
		!strings.Contains(stderr, "4 credits spent") {
		t.Errorf("--max-credits 4: exit %d\n%s\n%s", code, out, tail(stderr, 600))
	}
}
