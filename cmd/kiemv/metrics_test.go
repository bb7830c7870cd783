package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
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

func TestResultCode(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{&kie.APIError{Op: "record-info", HTTPStatus: 200, Code: 422, Msg: "recordInfo is null"}, "422"},
		{&kie.APIError{Op: "create", HTTPStatus: 429, Code: 429}, "429"},
		{&kie.APIError{Op: "create", HTTPStatus: 502, Msg: "<html>"}, "502"},
		{&kie.APIError{Op: "record-info", HTTPStatus: 200, Msg: "not JSON"}, "bad_reply"},
		{&kie.APIError{Op: "record-info", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, "network"},
		{&kie.APIError{Op: "record-info", Err: context.DeadlineExceeded}, "timeout"},
		{&kie.APIError{Op: "record-info", Err: context.Canceled}, "canceled"},
		{fmt.Errorf("wrapped: %w", &kie.APIError{Code: 430}), "430"},
		{kie.ErrInvalidRequest, "invalid"},
	}
	for _, c := range cases {
		if got := resultCode(c.err); got != c.want {
			t.Errorf("resultCode(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// fixedLimiter asks every caller to wait d.
type fixedLimiter struct{ d time.Duration }

func (l fixedLimiter) Allow(context.Context, string) (time.Duration, error) { return l.d, nil }

func TestLimiterWaitsAreCounted(t *testing.T) {
	rdb, _ := storetest.Redis(t)
	m := newMetrics(store.NewRecords(rdb, storetest.Namespace(t)), asynq.NewInspectorFromRedisClient(rdb))
	lim := m.limiter(fixedLimiter{d: 1500 * time.Millisecond})
	for range 2 {
		lim.Allow(context.Background(), jobs.LimitRecordInfo)
	}
	m.limiter(fixedLimiter{}).Allow(context.Background(), jobs.LimitCreate)
	mf, err := m.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	got := map[string]float64{}
	for _, f := range mf {
		for _, s := range f.GetMetric() {
			if len(s.GetLabel()) == 1 && s.GetCounter() != nil {
				got[f.GetName()+"/"+s.GetLabel()[0].GetValue()] = s.GetCounter().GetValue()
			}
		}
	}
	if got["kiemv_limiter_waits_total/record-info"] != 2 || got["kiemv_limiter_wait_seconds_total/record-info"] != 3 {
		t.Errorf("limiter metrics %v; want 2 waits and 3 s for record-info", got)
	}
	if _, ok := got["kiemv_limiter_waits_total/create"]; ok {
		t.Errorf("a call let through at once was counted as a wait")
	}
}
