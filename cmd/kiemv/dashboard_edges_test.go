package main

import (
	"context"
	"fmt"
	imagepng "image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/redis/go-redis/v9"
)

// TestDashboardRefusesRebindingHosts: without a password, a request whose Host is not a
// loopback name (a web page that rebinds its own name to 127.0.0.1) is refused before it can
// read or change anything; --allowed-host admits a proxy's name; a password lifts the check.
func TestDashboardRefusesRebindingHosts(t *testing.T) {
	f := newDashFixture(t)
	base := f.start(t, "--allowed-host", "kiemv.internal.example")
	for _, c := range []struct {
		method, path, host string
		want               int
	}{
		{"GET", "videos.json", "rebind.evil.example:8080", http.StatusMisdirectedRequest},
		{"POST", "api/queues/" + f.q.Download + ":pause", "rebind.evil.example:8080", http.StatusMisdirectedRequest},
		{"DELETE", "api/queues/" + f.q.Poll + "/scheduled_tasks:delete_all", "rebind.evil.example", http.StatusMisdirectedRequest},
		{"GET", "videos.json", "localhost:8080", 200},
		{"GET", "videos.json", "[::1]:8080", 200},
		{"GET", "videos.json", "kiemv.internal.example", 200},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		req.Host = c.host
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s /%s with Host %s: %d, want %d", c.method, c.path, c.host, resp.StatusCode, c.want)
		}
	}
	if f.paused(t, f.q.Download) {
		t.Error("a rebinding page paused the download queue")
	}
	if info, err := f.insp.GetQueueInfo(f.q.Poll); err != nil || info.Scheduled != 1 {
		t.Errorf("scheduled polls after a rebinding delete_all: %+v, %v; want the one kept", info, err)
	}
	authed := f.start(t, "--basic-auth", "ops:pw")
	req, _ := http.NewRequest("GET", authed+"videos.json", nil)
	req.Host = "dashboard.example.org"
	req.SetBasicAuth("ops", "pw")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("with a password, any Host: %v, %v; want 200", resp.StatusCode, err)
	}
}

// TestDashboardMetricsOnlyWhenAsked: /metrics is 404 (not Asynqmon's page with 200) unless
// --metrics, which serves the records and queue metrics.
func TestDashboardMetricsOnlyWhenAsked(t *testing.T) {
	f := newDashFixture(t)
	if code, body, _ := httpDo(t, "GET", f.start(t)+"metrics", nil); code != 404 || strings.Contains(body, "<html") {
		t.Errorf("/metrics without --metrics: %d %.80q; want 404", code, body)
	}
	code, body, _ := httpDo(t, "GET", f.start(t, "--metrics")+"metrics", nil)
	if v, ok := metricValue(body, "kiemv_records", map[string]string{"state": "pending"}); code != 200 || !ok || v != 1 {
		t.Errorf("/metrics with --metrics: %d, kiemv_records{pending} = %v (%v); want 200 and 1", code, v, ok)
	}
	if _, ok := metricValue(body, "asynq_queue_size", map[string]string{"queue": f.q.Poll}); !ok {
		t.Error("/metrics lacks Asynq's queue metrics")
	}
}

// TestDashboardAnswersWhenRedisIsDown: every page answers 503 within about 3 s instead of
// hanging while Redis's clients retry.
func TestDashboardAnswersWhenRedisIsDown(t *testing.T) {
	mr := miniredis.RunT(t)
	stdout, stderr, _ := background(t, "kiemv", "--redis-url", "redis://"+mr.Addr()+"/0", "dashboard", "--listen", "127.0.0.1:0")
	base := waitFor(t, stdout, stderr, regexp.MustCompile(`dashboard on (http://\S+/)`), 10*time.Second)
	mr.Close()
	for _, path := range []string{"videos", "videos.json", "api/queues"} {
		start := time.Now()
		code, body, _ := httpDo(t, "GET", base+path, nil)
		if took := time.Since(start); code != http.StatusServiceUnavailable || took > 4500*time.Millisecond || !strings.Contains(body, "Redis") {
			t.Errorf("GET /%s with Redis down: %d after %v (%.80q); want 503 naming Redis within ~3 s", path, code, took.Round(100*time.Millisecond), body)
		}
	}
}

// TestVideosPage: totals by state, progress of a download under way, the audio and music
// ids, and a link that serves a downloaded file through the dashboard.
func TestVideosPage(t *testing.T) {
	f := newDashFixture(t)
	dir := t.TempDir()
	video := []byte("\x00\x00\x00\x18ftypmp42 a small test video")
	if err := os.WriteFile(filepath.Join(dir, "mp4_dash3.mp4"), video, 0o644); err != nil {
		t.Fatal(err)
	}
	opt, _ := redis.ParseURL(f.url)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	recs := store.NewRecords(rdb, f.ns)
	ctx := context.Background()
	if _, err := recs.Create(ctx, &jobs.Record{TaskID: "mp4_dash5", AudioID: "audio_dash5", MusicTaskID: "music_dash",
		State: jobs.StateReady, CreatedAt: time.Now().Add(-30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []jobs.Change{{To: jobs.StateDownloading}, {Bytes: 450_000, PartTotal: 1_000_000}} {
		if _, err := recs.Update(ctx, "mp4_dash5", ch); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, _ := background(t, "kiemv", "--redis-url", f.url, "--namespace", f.ns, "--download-dir", dir,
		"dashboard", "--listen", "127.0.0.1:0")
	base := waitFor(t, stdout, stderr, regexp.MustCompile(`dashboard on (http://\S+/)`), 10*time.Second)
	code, body, _ := httpDo(t, "GET", base+"videos", nil)
	for _, want := range []string{"<b>5</b> followed", "<b>1</b> pending", "<b>1</b> downloading", "45%", "439.5 KiB of 976.6 KiB",
		`href="/videos/file/mp4_dash3.mp4"`, "audio <code>audio_dash5</code>", "music <code>music_dash</code>"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/videos lacks %q (status %d)", want, code)
		}
	}
	code, got, hdr := httpDo(t, "GET", base+"videos/file/mp4_dash3.mp4", nil)
	if code != 200 || got != string(video) || hdr.Get("Content-Type") != "video/mp4" {
		t.Errorf("file link: %d %q %q; want the file as video/mp4", code, got, hdr.Get("Content-Type"))
	}
	for _, path := range []string{"videos/file/mp4_dash2.mp4", "videos/file/mp4_none.mp4", "videos/file/..%2f..%2fetc%2fpasswd.mp4"} {
		if code, _, _ := httpDo(t, "GET", base+path, nil); code != 404 {
			t.Errorf("GET /%s: %d; want 404", path, code)
		}
	}
	screenshot(t, base+"videos", 800)
}

// screenshot renders url in headless Chromium at width px and checks the PNG. The picture is
// kept in $KIEMV_TEST_ARTIFACTS when set (CI keeps it), else in the test's temporary dir. Without
// Chromium the check is skipped, unless KIEMV_TEST_REQUIRE_BROWSER is set (.ci/run sets it).
func screenshot(t *testing.T, url string, width int) {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("KIEMV_TEST_REQUIRE_BROWSER") != "" {
			t.Fatal("no headless Chromium on PATH (apt-get install chromium)")
		}
		t.Skip("no Chromium on PATH: the page is not rendered (apt-get install chromium)")
	}
	dir := os.Getenv("KIEMV_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(dir, fmt.Sprintf("videos-%dpx.png", width))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir="+t.TempDir(), fmt.Sprintf("--window-size=%d,900", width), "--screenshot="+png, url).CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(png)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, out)
	}
	defer f.Close()
	cfg, err := imagepng.DecodeConfig(f)
	if err != nil || cfg.Width != width {
		t.Fatalf("screenshot %s: %+v, %v; want a PNG %d px wide", png, cfg, err, width)
	}
	t.Logf("rendered %s at %d px: %s", url, width, png)
}
