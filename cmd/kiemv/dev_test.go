package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// demoClip is the clip kiemv dev embeds and its simulator serves.
const demoClip = "internal/dev/demo.mp4"

func TestDemoClipIsAnMP4(t *testing.T) {
	demoMP4, err := os.ReadFile(demoClip)
	if err != nil {
		t.Fatal(err)
	}
	if len(demoMP4) < 1000 || len(demoMP4) > 150_000 || string(demoMP4[4:8]) != "ftyp" {
		t.Fatalf("embedded demo clip: %d bytes, bytes 4-8 %q; want an MP4 (ftyp) under 150 KB", len(demoMP4), demoMP4[4:min(8, len(demoMP4))])
	}
	checkPlayable(t, demoClip)
}

// TestDevDemoExitWhenDone is the README's first command, shortened: three demo videos end as
// playable files identical to the embedded clip, and the command exits 0.
func TestDevDemoExitWhenDone(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	start := time.Now()
	code := run(ctx, []string{"kiemv", "--download-dir", dir, "dev", "--demo", "3", "--exit-when-done",
		"--ready-after", "1s", "--poll-interval", "1s", "--dashboard-addr", "127.0.0.1:0"}, &out, &errb)
	if code != 0 {
		t.Fatalf("dev exited %d after %v\nstdout:\n%s\nstderr:\n%s", code, time.Since(start), out.String(), tail(errb.String(), 3000))
	}
	all, _ := filepath.Glob(filepath.Join(dir, "*"))
	files, _ := filepath.Glob(filepath.Join(dir, "*.mp4"))
	if len(files) != 3 || len(all) != 6 {
		t.Fatalf("download dir holds %v, want exactly 3 .mp4 files and their .json sidecars", all)
	}
	for _, f := range files {
		if _, err := os.Stat(strings.TrimSuffix(f, ".mp4") + ".json"); err != nil {
			t.Errorf("no sidecar beside %s: %v", f, err)
		}
	}
	demoMP4, err := os.ReadFile(demoClip)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(demoMP4)
	want := hex.EncodeToString(sum[:])
	for _, f := range files {
		if !strings.HasSuffix(f, ".mp4") {
			t.Errorf("%s: not a final .mp4 file", f)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := fileSHA256(t, f); got != want || len(b) < 8 || string(b[4:8]) != "ftyp" {
			t.Errorf("%s: sha256 %s (want the embedded clip's %s), %d bytes", f, got, want, len(b))
		}
		checkPlayable(t, f)
		id := strings.TrimSuffix(filepath.Base(f), ".mp4")
		if !regexp.MustCompile(`(?m)^` + id + `\s+downloaded\s+\S+\.mp4\s+41\.8 KiB\s+\S+\s+\S+\s+` + want + `$`).MatchString(out.String()) {
			t.Errorf("summary has no downloaded row for %s with its size and sha256:\n%s", id, out.String())
		}
	}
	for _, w := range []string{"redis://127.0.0.1:", "KIE simulator", "dashboard", "ID  ", "TO READY", "TO FILE"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("stdout lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Errorf("stdout is not a terminal but got ANSI escapes")
	}
	if !strings.Contains(out.String(), "state=pending") || !strings.Contains(out.String(), "state=downloaded") {
		t.Errorf("no plain progress lines on a non-terminal stdout:\n%s", out.String())
	}
}

// checkPlayable runs ffprobe on path when it is installed.
func checkPlayable(t *testing.T, path string) {
	t.Helper()
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Log("ffprobe not on PATH: playability not checked (signature and sha256 are)")
		return
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", path).CombinedOutput()
	d, perr := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil || perr != nil || d < 2 || d > 10 {
		t.Errorf("ffprobe %s: %v, duration %q; want a clip of a few seconds", path, err, out)
	}
}

// TestDevServesAndStopsOnCtrlC checks what runs inside kiemv dev while it is up (another kiemv
// command reaches its Redis; the dashboard serves /videos.json and /metrics), and that
// cancelling (Ctrl-C) stops everything within a few seconds with exit 0.
func TestDevServesAndStopsOnCtrlC(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, stop := background(t, "kiemv", "--download-dir", dir, "dev", "--demo", "2",
		"--ready-after", "1s", "--poll-interval", "1s", "--dashboard-addr", "127.0.0.1:0")
	redisURL := waitFor(t, stdout, stderr, regexp.MustCompile(`Redis \(embedded\)\s+(redis://\S+)`), 10*time.Second)
	dash := waitFor(t, stdout, stderr, regexp.MustCompile(`dashboard\s+(http://\S+/)`), 10*time.Second)
	waitFor(t, stdout, stderr, regexp.MustCompile(`All done`), 30*time.Second)

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"kiemv", "--redis-url", redisURL, "list", "--state", "downloaded", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("list against the embedded Redis: exit %d: %s", code, errb.String())
	}
	if n := strings.Count(out.String(), `"state":"downloaded"`); n != 2 {
		t.Errorf("list through the embedded Redis found %d downloaded records, want 2:\n%s", n, out.String())
	}
	code, body, _ := httpDo(t, "GET", dash+"videos.json", nil)
	var recs []jobs.Record
	if err := json.Unmarshal([]byte(body), &recs); code != 200 || err != nil || len(recs) != 2 {
		t.Errorf("GET /videos.json: %d, %d records, %v: %.300s", code, len(recs), err, body)
	}
	code, body, _ = httpDo(t, "GET", dash+"metrics", nil)
	if v, _ := metricValue(body, "kiemv_records", map[string]string{"state": "downloaded"}); code != 200 || v != 2 {
		t.Errorf("GET /metrics: %d, kiemv_records{state=downloaded} = %v, want 2", code, v)
	}

	start := time.Now()
	if code := stop(); code != 0 {
		t.Errorf("dev exited %d on Ctrl-C, want 0; stderr %s", code, tail(stderr.String(), 1000))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("dev took %v to stop, want a few seconds", d)
	}
	c := &http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Get(dash + "videos"); err == nil {
		resp.Body.Close()
		t.Errorf("the dashboard still answers after dev stopped")
	}
}

// TestDevRealTracksTasks runs --real against a stand-in for KIE (the simulator on its own
// server, as the real API would be): a task created there is followed to a file, and the
// banner warns that the embedded Redis forgets everything.
func TestDevRealTracksTasks(t *testing.T) {
	sim := kiesim.New(kiesim.Config{APIKey: testAPIKey, ReadyAfter: time.Second, FileSize: 50_000})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	client, err := kie.New(kie.Config{BaseURL: srv.URL, APIKey: testAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	id, err := client.CreateVideo(context.Background(), kie.CreateRequest{TaskID: "music-real", AudioID: "audio-real"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"kiemv", "--download-dir", dir, "--kie-base-url", srv.URL, "--api-key", testAPIKey,
		"dev", "--real", "--track", id, "--exit-when-done", "--poll-interval", "1s", "--dashboard-addr", "127.0.0.1:0"}, &out, &errb)
	if code != 0 {
		t.Fatalf("dev --real exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), tail(errb.String(), 3000))
	}
	want, _ := sim.FileSHA256(id)
	if got := fileSHA256(t, filepath.Join(dir, id+".mp4")); got != want {
		t.Errorf("file sha256 %s, simulator %s", got, want)
	}
	if !strings.Contains(out.String(), "FORGOTTEN") || strings.Contains(out.String(), "KIE simulator") {
		t.Errorf("--real banner must warn that state is lost and start no simulator:\n%s", out.String())
	}
	if strings.Contains(out.String()+errb.String(), testAPIKey) {
		t.Errorf("the API key appears in dev's output")
	}
}

func TestDevUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"demo with real", []string{"dev", "--real", "--demo", "2"}, "--track"},
		{"track without real", []string{"dev", "--track", "mp4_x"}, "--real"},
		{"redis not loopback", []string{"dev", "--listen-redis", "0.0.0.0:0"}, "loopback"},
		{"dashboard not loopback", []string{"dev", "--dashboard-addr", "0.0.0.0:0"}, "loopback"},
		{"nothing to wait for", []string{"dev", "--demo", "0", "--exit-when-done"}, "--exit-when-done"},
		{"too many demos", []string{"dev", "--demo", "1000"}, "--demo"},
		{"bad track id", []string{"dev", "--real", "--track", "../x"}, "--track"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"kiemv"}, c.args...), &out, &errb)
			if code != exitUsage || !strings.Contains(errb.String(), c.want) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q", code, errb.String(), exitUsage, c.want)
			}
		})
	}
	t.Run("real without key", func(t *testing.T) {
		t.Setenv("KIE_API_KEY", "")
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"kiemv", "dev", "--real", "--dashboard-addr", "127.0.0.1:0"}, &out, &errb)
		if code != exitUsage || !strings.Contains(errb.String(), "KIE_API_KEY") {
			t.Errorf("exit %d, stderr %q; want 2 (missing configuration) naming KIE_API_KEY", code, errb.String())
		}
	})
}

// TestDevBiggerVideosShowProgress: --video-size makes the simulator serve the clip padded to
// that size (still playable), so that the live view and /videos show a download's progress;
// the banner says how to point another terminal at the stack.
func TestDevBiggerVideosShowProgress(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"kiemv", "--download-dir", dir, "dev", "--demo", "1", "--exit-when-done", "--video-size", "3000000",
		"--ready-after", "0s", "--poll-interval", "1s", "--dashboard-addr", "127.0.0.1:0"}, &out, &errb)
	if code != 0 {
		t.Fatalf("dev exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), tail(errb.String(), 3000))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.mp4"))
	if len(files) != 1 {
		t.Fatalf("download dir holds %v; want one video", files)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Size() != 3_000_000 {
		t.Errorf("video %v, %v; want 3,000,000 bytes", fi, err)
	}
	checkPlayable(t, files[0])
	if !regexp.MustCompile(`export REDIS_URL=redis://127\.0\.0\.1:\d+/0 KIE_BASE_URL=http://127\.0\.0\.1:\d+ KIE_API_KEY=kiemv-dev-simulator-key`).MatchString(out.String()) {
		t.Errorf("the banner has no line to paste in another terminal:\n%s", out.String())
	}
	var usage bytes.Buffer
	if code := run(ctx, []string{"kiemv", "dev", "--video-size", "2000000000"}, io.Discard, &usage); code != exitUsage || !strings.Contains(usage.String(), "--video-size") {
		t.Errorf("--video-size 2 GB: exit %d, %q; want 2 naming the flag", code, usage.String())
	}
}
