package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/redis/go-redis/v9"
)

// TestMetricsAfterEndToEndRun scrapes a worker's --metrics-addr after it took two tasks from
// submit to file.
func TestMetricsAfterEndToEndRun(t *testing.T) {
	const size = 100_000
	e := newEnv(t, kiesim.Config{ReadyAfter: 1500 * time.Millisecond, FileSize: size})
	opt, _ := redis.ParseURL(e.url)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	forgetQueues(t, rdb, e.ns)
	addr := freeAddr(t)
	e.worker("--poll-interval", "1s", "--metrics-addr", addr)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ids []string
	for i := range 2 {
		out, stderr, code := e.kiemv(ctx, "submit", "--task-id", "music-metrics", "--audio-id", fmt.Sprintf("metrics-%d", i), "--first-poll", "0s")
		if code != 0 {
			t.Fatalf("submit: exit %d: %s", code, stderr)
		}
		ids = append(ids, strings.TrimSpace(out))
	}
	if _, stderr, code := e.kiemv(ctx, append([]string{"wait", "--timeout", "30s"}, ids...)...); code != 0 {
		t.Fatalf("wait: exit %d: %s", code, tail(stderr, 1000))
	}

	code, body, _ := httpDo(t, "GET", "http://"+addr+"/metrics", nil)
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	q := jobs.QueuesFor(e.ns)
	checks := []struct {
		name   string
		labels map[string]string
		ok     func(float64) bool
		want   string
	}{
		{"kiemv_kie_calls_total", map[string]string{"endpoint": "record-info", "code": "ok"}, func(v float64) bool { return v >= 4 }, ">= 4 (2 tasks, pending then ready)"},
		{"kiemv_kie_call_duration_seconds_count", map[string]string{"endpoint": "record-info"}, func(v float64) bool { return v >= 4 }, ">= 4"},
		{"kiemv_polls_total", map[string]string{"outcome": "ready"}, func(v float64) bool { return v == 2 }, "2"},
		{"kiemv_polls_total", map[string]string{"outcome": "pending"}, func(v float64) bool { return v >= 2 }, ">= 2"},
		{"kiemv_state_changes_total", map[string]string{"state": "downloaded"}, func(v float64) bool { return v == 2 }, "2"},
		{"kiemv_download_bytes_total", nil, func(v float64) bool { return v == 2*size }, fmt.Sprint(2 * size)},
		{"kiemv_download_duration_seconds_count", map[string]string{"result": "ok"}, func(v float64) bool { return v == 2 }, "2"},
		{"kiemv_records", map[string]string{"state": "downloaded"}, func(v float64) bool { return v == 2 }, "2"},
		{"kiemv_records", map[string]string{"state": "pending"}, func(v float64) bool { return v == 0 }, "0"},
		{"asynq_queue_size", map[string]string{"queue": q.Poll}, func(float64) bool { return true }, "present"},
		{"asynq_tasks_processed_total", map[string]string{"queue": q.Download}, func(v float64) bool { return v >= 2 }, ">= 2"},
		{"go_goroutines", nil, func(v float64) bool { return v > 0 }, "> 0"},
	}
	for _, c := range checks {
		v, found := metricValue(body, c.name, c.labels)
		if !found || !c.ok(v) {
			t.Errorf("%s%v = %v (found %v), want %s", c.name, c.labels, v, found, c.want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}
