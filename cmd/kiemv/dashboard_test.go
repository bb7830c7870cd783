package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

// dashFixture is a Redis namespace holding followed tasks: mp4_dash1 pending with its poll
// scheduled, mp4_dash2 ready with its download pending, mp4_dash3 downloaded, and mp4_dash4
// failed with an error that tries to inject HTML.
type dashFixture struct {
	url, ns string
	q       jobs.Queues
	insp    *asynq.Inspector
}

func newDashFixture(t *testing.T) *dashFixture {
	t.Helper()
	rdb, url := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	forgetQueues(t, rdb, ns)
	ctx := context.Background()
	recs := store.NewRecords(rdb, ns)
	at := time.Now().Add(-time.Minute)
	for i, r := range []*jobs.Record{
		{TaskID: "mp4_dash1", State: jobs.StatePending, Polls: 3},
		{TaskID: "mp4_dash2", State: jobs.StateReady, Polls: 5, VideoURL: "https://example.com/v.mp4"},
		{TaskID: "mp4_dash3", State: jobs.StateDownloaded, Polls: 4, File: "/videos/mp4_dash3.mp4", Bytes: 123456, SHA256: strings.Repeat("ab", 32)},
		{TaskID: "mp4_dash4", State: jobs.StateFailed, Polls: 2, Error: "<script>alert(1)</script>"},
	} {
		r.CreatedAt = at.Add(time.Duration(i) * time.Second)
		if ok, err := recs.Create(ctx, r); err != nil || !ok {
			t.Fatalf("create %s: %v %v", r.TaskID, ok, err)
		}
	}
	q := jobs.QueuesFor(ns)
	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.Enqueue(jobs.NewPollTask("mp4_dash1", 1, q, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(jobs.NewDownloadTask("mp4_dash2", 1, q, time.Hour)); err != nil {
		t.Fatal(err)
	}
	return &dashFixture{url: url, ns: ns, q: q, insp: asynq.NewInspectorFromRedisClient(rdb)}
}

// start runs `kiemv dashboard --listen 127.0.0.1:0 args...` and returns its base URL.
func (f *dashFixture) start(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, _ := background(t, append([]string{"kiemv", "--redis-url", f.url, "--namespace", f.ns,
		"dashboard", "--listen", "127.0.0.1:0"}, args...)...)
	return waitFor(t, stdout, stderr, regexp.MustCompile(`dashboard on (http://\S+/)`), 10*time.Second)
}

func (f *dashFixture) paused(t *testing.T, q string) bool {
	t.Helper()
	info, err := f.insp.GetQueueInfo(q)
	if err != nil {
		t.Fatalf("queue %s: %v", q, err)
	}
	return info.Paused
}

func TestDashboard(t *testing.T) {
	f := newDashFixture(t)
	base := f.start(t)

	code, body, _ := httpDo(t, "GET", base+"api/queues", nil)
	var ql struct {
		Queues []struct {
			Queue string `json:"queue"`
			Size  int    `json:"size"`
		} `json:"queues"`
	}
	if err := json.Unmarshal([]byte(body), &ql); code != 200 || err != nil {
		t.Fatalf("GET /api/queues: %d %v: %.300s", code, err, body)
	}
	sizes := map[string]int{}
	for _, q := range ql.Queues {
		sizes[q.Queue] = q.Size
	}
	if sizes[f.q.Poll] != 1 || sizes[f.q.Download] != 1 {
		t.Errorf("Asynqmon lists queues %v; want %s and %s with one task each", sizes, f.q.Poll, f.q.Download)
	}
	code, body, _ = httpDo(t, "GET", base+"api/queues/"+f.q.Poll+"/scheduled_tasks", nil)
	if code != 200 || !strings.Contains(body, `{\n  \"id\": \"mp4_dash1\"\n}`) {
		t.Errorf("scheduled poll task payload is not pretty-printed JSON: %d %.400s", code, body)
	}
	if code, body, _ = httpDo(t, "GET", base, nil); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("GET / (Asynqmon UI): %d %.200s", code, body)
	}

	code, body, hdr := httpDo(t, "GET", base+"videos", nil)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /videos: %d %s", code, hdr.Get("Content-Type"))
	}
	order := []int{strings.Index(body, "mp4_dash4"), strings.Index(body, "mp4_dash3"), strings.Index(body, "mp4_dash2"), strings.Index(body, "mp4_dash1")}
	for i := 1; i < len(order); i++ {
		if order[i-1] < 0 || order[i] <= order[i-1] {
			t.Errorf("/videos does not list the four records newest first (positions %v)", order)
			break
		}
	}
	if strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("/videos does not escape the error text")
	}
	for _, w := range []string{"120.6 KiB", "/videos/mp4_dash3.mp4", ">5<"} {
		if !strings.Contains(body, w) {
			t.Errorf("/videos lacks %q", w)
		}
	}
	_, body, _ = httpDo(t, "GET", base+"videos?state=downloaded", nil)
	if !strings.Contains(body, "mp4_dash3") || strings.Contains(body, "mp4_dash1") {
		t.Errorf("/videos?state=downloaded must list mp4_dash3 only")
	}
	if code, _, _ = httpDo(t, "GET", base+"videos?state=done", nil); code != http.StatusBadRequest {
		t.Errorf("/videos?state=done: %d, want 400", code)
	}
	code, body, _ = httpDo(t, "GET", base+"videos.json?state=pending", nil)
	var recs []jobs.Record
	if err := json.Unmarshal([]byte(body), &recs); code != 200 || err != nil || len(recs) != 1 || recs[0].TaskID != "mp4_dash1" || recs[0].Polls != 3 {
		t.Errorf("/videos.json?state=pending: %d %v %+v", code, err, recs)
	}

	// Writes work without --read-only; a cross-site one is refused.
	cross := http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
	if code, _, _ = httpDo(t, "POST", base+"api/queues/"+f.q.Poll+":pause", cross); code != http.StatusForbidden || f.paused(t, f.q.Poll) {
		t.Errorf("cross-site pause: %d, want 403 and the queue running", code)
	}
	if code, _, _ = httpDo(t, "POST", base+"api/queues/"+f.q.Poll+":pause", nil); code/100 != 2 || !f.paused(t, f.q.Poll) {
		t.Errorf("pause without --read-only: %d, want 2xx and the queue paused", code)
	}
	httpDo(t, "POST", base+"api/queues/"+f.q.Poll+":resume", nil)
}

func TestDashboardReadOnly(t *testing.T) {
	f := newDashFixture(t)
	base := f.start(t, "--read-only")
	if code, _, _ := httpDo(t, "GET", base+"api/queues", nil); code != 200 {
		t.Errorf("GET /api/queues in read-only mode: %d, want 200", code)
	}
	code, body, _ := httpDo(t, "POST", base+"api/queues/"+f.q.Poll+":pause", nil)
	if code/100 == 2 || f.paused(t, f.q.Poll) {
		t.Errorf("pause in read-only mode: %d %q, and paused=%v; want it refused", code, body, f.paused(t, f.q.Poll))
	}
	code, _, _ = httpDo(t, "DELETE", base+"api/queues/"+f.q.Download+"/pending_tasks/"+jobs.DownloadTaskID("mp4_dash2", 1), nil)
	if _, err := f.insp.GetTaskInfo(f.q.Download, jobs.DownloadTaskID("mp4_dash2", 1)); code/100 == 2 || err != nil {
		t.Errorf("delete in read-only mode: %d (task lookup after: %v); want it refused and the task kept", code, err)
	}
}

func TestDashboardBasicAuth(t *testing.T) {
	f := newDashFixture(t)
	check := func(t *testing.T, base, user, pass string) {
		for _, path := range []string{"api/queues", "videos", ""} {
			code, _, hdr := httpDo(t, "GET", base+path, nil)
			if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("GET /%s without credentials: %d, want 401 with a Basic challenge", path, code)
			}
		}
		req, _ := http.NewRequest("GET", base+"api/queues", nil)
		req.SetBasicAuth(user, pass+"x")
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("wrong password: %v %v, want 401", resp.StatusCode, err)
		}
		req.SetBasicAuth(user, pass)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
			t.Errorf("right credentials: %v %v, want 200", resp.StatusCode, err)
		}
	}
	t.Run("flag", func(t *testing.T) {
		check(t, f.start(t, "--basic-auth", "admin:s3cret:with:colons"), "admin", "s3cret:with:colons")
	})
	t.Run("env", func(t *testing.T) {
		t.Setenv("KIEMV_DASHBOARD_AUTH", "ops:pw")
		check(t, f.start(t), "ops", "pw")
	})
}

func TestDashboardRefusesOpenAddressWithoutAuth(t *testing.T) {
	for _, args := range [][]string{
		{"dashboard", "--listen", "0.0.0.0:0"},
		{"dashboard", "--listen", ":8080"},
		{"dashboard", "--listen", "127.0.0.1:0", "--basic-auth", "nopassword"},
		{"dashboard", "--prometheus-url", "localhost:9090"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"kiemv", "--redis-url", "redis://127.0.0.1:1/0"}, args...), &out, &errb)
		if code != exitUsage || !strings.Contains(errb.String(), "--") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming the fix", args, code, errb.String())
		}
	}
}
