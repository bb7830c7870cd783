package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// A submit that waits for a create slot says so on stderr, and with --timeout gives up
// cleanly: exit 1, nothing created at KIE, a message naming the audio, the timeout and what
// to do; the audio can be submitted again.
func TestSubmitWaitsAndTimesOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{CreateLimit: -1})
	e.globals = append(e.globals, "--create-limit", "1") // one create per 10 s
	ctx := context.Background()
	if out, stderr, code := e.kiemv(ctx, "submit", "--task-id", "m1", "--audio-id", "au1"); code != 0 {
		t.Fatalf("first submit: exit %d: %s %s", code, out, stderr)
	}
	start := time.Now()
	out, stderr, code := e.kiemv(ctx, "submit", "--task-id", "m1", "--audio-id", "au2", "--timeout", "1500ms")
	if took := time.Since(start); code != 1 || out != "" || took > 4*time.Second {
		t.Fatalf("timed-out submit: exit %d after %v, stdout %q; want exit 1, nothing printed", code, took, out)
	}
	t.Logf("stderr:\n%s", stderr)
	for _, want := range []string{"audio au2 is waiting for a create slot", "its turn comes in about", "gives up after --timeout 1.5s",
		"nothing was created at KIE", "--timeout 1.5s", "run the same submit again later"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if n := e.sim.Stats().CreateCalls; n != 1 {
		t.Errorf("KIE got %d create calls; want 1", n)
	}
	if _, stderr, code := e.kiemv(ctx, "submit", "--task-id", "m1", "--audio-id", "au2", "--timeout", "-1s"); code != 2 || !strings.Contains(stderr, "--timeout") {
		t.Errorf("negative --timeout: exit %d: %s", code, stderr)
	}
}
