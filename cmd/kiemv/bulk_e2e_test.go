package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// bulkFile writes the case: 50 JSON lines, 47 good (44 takes and 3 whole songs) and 3
// bad ones, at lines 7, 19 and 33.
func bulkFile(t *testing.T) (path string, audios []string) {
	var b strings.Builder
	for n := 1; n <= 50; n++ {
		switch n {
		case 7:
			b.WriteString(`{"task_id":"bulk-m","audio_id":` + "\n") // not JSON
		case 19:
			b.WriteString(`{"task_id":"bulk-m","audio_id":"../etc/passwd"}` + "\n")
		case 33:
			b.WriteString(`{"task_id":"bulk-m","audio_id":"a33","author":"` + strings.Repeat("x", 51) + `"}` + "\n")
		case 10, 20, 30:
			fmt.Fprintf(&b, `{"task_id":"bulk-song-%d","author":"Nova"}`+"\n", n)
		default:
			a := fmt.Sprintf("bulk-a%02d", n)
			audios = append(audios, a)
			fmt.Fprintf(&b, `{"task_id":"bulk-m","audio_id":%q,"author":"Nova","domain":"nova.example"}`+"\n", a)
		}
	}
	path = filepath.Join(t.TempDir(), "videos.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, audios
}

func TestBulkFiftyLinesThreeBad(t *testing.T) {
	e := newEnv(t, kiesim.Config{CreateLimit: -1})
	e.globals = append(e.globals, "--create-limit", "1000")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	path, audios := bulkFile(t)

	// A dry run checks every line and prices it, creating nothing.
	out, stderr, code := e.kiemv(ctx, "submit", "--from", path, "--dry-run")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 50 || !strings.Contains(stderr, "3 bad, 50 MP4s to create, 100 credits") {
		t.Errorf("dry run: exit %d, %d lines, stderr %q; want 1, 50 lines, 44+3×2 creates priced", code, len(lines), stderr)
	}
	if n := e.sim.Stats().CreateCalls; n != 0 {
		t.Fatalf("the dry run made %d create calls", n)
	}

	out, stderr, code = e.kiemv(ctx, "submit", "--from", path)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 50 {
		t.Fatalf("bulk run: exit %d, %d output lines; want 1 and 50. stderr %s", code, len(lines), tail(stderr, 1500))
	}
	if !strings.Contains(stderr, "3 of 50 lines were not submitted (3 refused, lines 7 19 33)") {
		t.Errorf("summary %q; want the bad line numbers", tail(stderr, 500))
	}
	okLine := regexp.MustCompile(`^(\d+) (mp4_[0-9a-f]{16}|bulk-song-\d+) pending$`)
	bad := map[string]string{"7": "not a JSON object", "19": "audio id", "33": "author"}
	first := map[string]string{}
	for i, l := range lines {
		n := fmt.Sprint(i + 1)
		if want, isBad := bad[n]; isBad {
			if !strings.HasPrefix(l, n+" ") || !strings.Contains(l, "error: ") || !strings.Contains(l, want) {
				t.Errorf("line %s: %q; want an error about %s", n, l, want)
			}
			continue
		}
		m := okLine.FindStringSubmatch(l)
		if m == nil || m[1] != n {
			t.Errorf("line %s: %q; want `%s <id> pending`", n, l, n)
			continue
		}
		first[n] = m[2]
	}
	if len(first) != 47 {
		t.Errorf("%d lines followed, want 47", len(first))
	}
	st := e.sim.Stats()
	for _, a := range audios {
		if st.Creates[a] != 1 {
			t.Errorf("%s: %d creates, want 1", a, st.Creates[a])
		}
	}
	calls := st.CreateCalls

	// The same file again pays nothing twice: the same ids, no create reaches KIE.
	out, _, code = e.kiemv(ctx, "submit", "--from", path, "--json")
	if code != 1 {
		t.Errorf("rerun: exit %d, want 1 (the bad lines are still bad)", code)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Line    int    `json:"line"`
			ID      string `json:"id"`
			Created bool   `json:"created"`
			Error   string `json:"error"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("--json line %q: %v", l, err)
		}
		if id, ok := first[fmt.Sprint(r.Line)]; ok && (r.ID != id || r.Created || r.Error != "") {
			t.Errorf("rerun line %d: %+v; want %s again, nothing created", r.Line, r, id)
		}
	}
	if n := e.sim.Stats().CreateCalls; n != calls {
		t.Errorf("the rerun made %d more create calls; want none", n-calls)
	}
	out, _, code = e.kiemv(ctx, "submit", "--from", path, "--dry-run")
	if code != 1 || strings.Contains(out, "would create") {
		t.Errorf("dry run after the run: exit %d, %q; want nothing left to create", code, out)
	}
}

func TestBulkCSVFromStdin(t *testing.T) {
	e := newEnv(t, kiesim.Config{CreateLimit: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	csv := "task_id,audio_id,author\ncsv-m,csv-a1,Nova\n\ncsv-m,csv-a2,\ncsv-m,bad id,Nova\ncsv-m,csv-a3\n"
	var out, errb bytes.Buffer
	code := runWithInput(ctx, append(append([]string(nil), e.globals...), "submit", "--domain", "d.example", "--from", "-"), strings.NewReader(csv), &out, &errb)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if code != 1 || len(lines) != 4 {
		t.Fatalf("CSV from stdin: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	for i, want := range []string{`^2 mp4_\w+ pending$`, `^4 mp4_\w+ pending$`, `^5 csv-m/bad id error: .*audio id`, `^6 - error: 2 fields, but the header names 3$`} {
		if !regexp.MustCompile(want).MatchString(lines[i]) {
			t.Errorf("line %d: %q; want %s", i, lines[i], want)
		}
	}
	var bad bytes.Buffer
	code = runWithInput(ctx, append(append([]string(nil), e.globals...), "submit", "--from", "-"), strings.NewReader("task,audio\nx,y\n"), &out, &bad)
	if code != exitUsage || !strings.Contains(bad.String(), `column "task"`) {
		t.Errorf("a CSV header naming unknown columns: exit %d, %q", code, bad.String())
	}
}

// TestBulkInterruptedReleasesClaims: Ctrl-C while creates hang at KIE ends the run promptly,
// every line says so, and every audio claim is given back: a rerun goes at once (a claim left
// behind would hold it up to 2 minutes) and pays nothing twice, even for the creates KIE went
// on with after kiemv stopped waiting (KIE answers "Mp4 record already exists" with the id).
func TestBulkInterruptedReleasesClaims(t *testing.T) {
	e := newEnv(t, kiesim.Config{CreateLimit: -1, SlowDelay: 3 * time.Second, DuplicateWithID: true})
	e.globals = append(e.globals, "--create-limit", "1000", "--kie-timeout", "30s")
	var b strings.Builder
	for i := range 6 {
		fmt.Fprintf(&b, `{"task_id":"int-m","audio_id":"int-a%d"}`+"\n", i)
	}
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	e.sim.FailNextCreates(4, kiesim.FaultSlow) // the first four creates (four at a time) hang
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel) // Ctrl-C
	start := time.Now()
	out, stderr, code := e.kiemv(ctx, "submit", "--from", path)
	if code != 1 || time.Since(start) > 2500*time.Millisecond {
		t.Fatalf("interrupted run: exit %d after %v; stderr %s", code, time.Since(start), tail(stderr, 800))
	}
	if n := strings.Count(out, "not submitted: interrupted"); n != 6 {
		t.Errorf("%d lines say interrupted, want 6:\n%s", n, out)
	}
	time.Sleep(3 * time.Second) // KIE finishes the four creates it had
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	start = time.Now()
	out, stderr, code = e.kiemv(ctx2, "submit", "--from", path)
	if code != 0 || strings.Count(out, " pending\n") != 6 || time.Since(start) > 10*time.Second {
		t.Fatalf("rerun after Ctrl-C: exit %d after %v, %q, %s", code, time.Since(start), out, tail(stderr, 800))
	}
	st := e.sim.Stats()
	for i := range 6 {
		if n := st.Creates[fmt.Sprintf("int-a%d", i)]; n != 1 {
			t.Errorf("int-a%d: %d videos made, want 1", i, n)
		}
	}
}
