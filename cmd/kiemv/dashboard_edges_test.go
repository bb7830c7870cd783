package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
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
