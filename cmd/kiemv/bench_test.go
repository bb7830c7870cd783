package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kiemv/kiemv/store/storetest"
)

// benchJSON runs `kiemv bench --json` with args in a tiny configuration and decodes its
// output. On a real Redis (KIEMV_TEST_REDIS_URL) it passes --redis-url; otherwise the bench
// starts its own redis-server, or miniredis when there is none.
func benchJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	argv := []string{"kiemv"}
	if url := os.Getenv(storetest.EnvURL); url != "" {
		argv = append(argv, "--redis-url", url)
	}
	argv = append(append(argv, "bench", "--json", "--interval", "1s"), args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	if code := run(ctx, argv, &out, &errb); code != 0 {
		t.Fatalf("kiemv bench exited %d: %s", code, tail(errb.String(), 3000))
	}
	var r map[string]any
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("bench --json printed no JSON object (%v): %s", err, tail(out.String(), 2000))
	}
	if m, _ := r["machine"].(map[string]any); m == nil || m["cpus"].(float64) < 1 {
		t.Errorf("machine = %v", r["machine"])
	}
	if s, _ := r["redis"].(string); s == "" {
		t.Error("no redis description")
	}
	if c, _ := r["command"].(string); !strings.HasPrefix(c, "kiemv bench ") {
		t.Errorf("command = %q", c)
	}
	return r
}

// figures returns results[scenario], failing when it is missing.
func figures(t *testing.T, r map[string]any, scenario string) map[string]any {
	t.Helper()
	res, _ := r["results"].(map[string]any)
	s, _ := res[scenario].(map[string]any)
	if s == nil {
		t.Fatalf("no results for %s in %v", scenario, res)
	}
	return s
}

// num checks that figure name is a number in [lo, hi] (nullable: may be null, e.g. a
// Redis memory figure on miniredis) and returns it.
func num(t *testing.T, s map[string]any, name string, lo, hi float64, nullable bool) float64 {
	t.Helper()
	v, present := s[name]
	if !present {
		t.Errorf("figure %s missing", name)
		return 0
	}
	if v == nil {
		if !nullable {
			t.Errorf("figure %s is null", name)
		}
		return 0
	}
	f, ok := v.(float64)
	if !ok || f < lo || f > hi {
		t.Errorf("figure %s = %v; want a number in [%g, %g]", name, v, lo, hi)
	}
	return f
}

func TestBenchCapacityAndDownloads(t *testing.T) {
	t.Parallel()
	r := benchJSON(t, "--skip", "efficiency,quota,creates,baseline", "--tasks", "200", "--duration", "2s",
		"--download-size", "8388608", "--download-rounds", "2", "--pairs", "2", "--pair-window", "1s")
	c := figures(t, r, "capacity")
	num(t, c, "tasks", 200, 200, false)
	num(t, c, "polls_per_s", 20, 1e6, false)
	num(t, c, "mean_poll_interval_s", 0.5, 10, false)
	num(t, c, "worker_cpu_s_per_1000_polls", 0, 100, false)
	num(t, c, "redis_cpu_s_per_1000_polls", 0, 100, true)
	num(t, c, "lateness_p50_s", -0.5, 10, false)
	num(t, c, "lateness_p99_s", -0.5, 10, false)
	num(t, c, "lateness_rounded_p99_s", -0.5, 10, false)
	num(t, c, "lateness_samples", 1, 1e9, false)
	num(t, c, "worker_peak_rss_mb", 1, 4096, true)
	num(t, c, "redis_bytes_per_task", -1e6, 1e6, true)
	num(t, c, "redis_key_bytes_per_task", 50, 1e5, true)

	rw := figures(t, r, "raw")
	num(t, rw, "tasks", 200, 200, false)
	num(t, rw, "polls_per_s", 20, 1e6, false)
	num(t, rw, "worker_cpu_s_per_1000_polls", 0, 100, false)
	num(t, rw, "redis_cpu_s_per_1000_polls", 0, 100, true)
	num(t, rw, "poll_faults", 0, 0, false)
	// A ratio of two 1 s-window rates on a shared machine (20.5 seen when the raw side
	// stalled): checked for presence and sign, not bounded.
	num(t, rw, "kiemv_vs_raw_polls_per_s", 0.01, 1e4, false)
	num(t, rw, "kiemv_vs_raw_cpu_per_1000_polls", 0.01, 100, false)
	num(t, rw, "kiemv_vs_raw_worker_cpu_per_1000_polls", 0.01, 100, false)
	// Both sides of the paired windows were measured (1 s windows of 200 tasks on a busy
	// machine: their rates vary, 6–117/s seen for raw, so only their presence is checked).
	num(t, rw, "paired_kiemv_polls_per_s", 1, 1e6, false)
	num(t, rw, "paired_raw_polls_per_s", 1, 1e6, false)
	num(t, rw, "seq_kiemv_vs_raw_polls_per_s", 0.01, 1e4, false)
	num(t, rw, "seq_kiemv_vs_raw_worker_cpu_per_1000_polls", 0.01, 100, false)

	d := figures(t, r, "downloads")
	num(t, d, "size_mb", 8, 8, false)
	num(t, d, "kiemv_mb_per_s", 1, 1e6, false)
	num(t, d, "curl_mb_per_s", 1, 1e6, !onPath("curl"))
	num(t, d, "disk_durable_mb_per_s", 1, 1e6, false)
	num(t, d, "sha256_mb_per_s", 1, 1e6, false)
	num(t, d, "kiemv_vs_curl", 0.01, 1e4, !onPath("curl"))
	num(t, d, "kiemv_peak_rss_mb", 1, 4096, true)
	num(t, d, "resume_refetched_bytes", 0, 0, false)
	num(t, d, "resume_requests", 2, 2, false)
	num(t, d, "resume_sha256_ok", 1, 1, false)

	checks, _ := r["checks"].([]any)
	if len(checks) < 4 {
		t.Errorf("checks = %v; want one per target", checks)
	}
	for _, s := range []string{"efficiency", "quota", "creates", "baseline"} {
		if _, ok := r["results"].(map[string]any)[s]; ok {
			t.Errorf("skipped scenario %s was run", s)
		}
	}
}

func TestBenchEfficiencyQuotaBaseline(t *testing.T) {
	t.Parallel()
	r := benchJSON(t, "--skip", "capacity,raw,downloads", "--efficiency-tasks", "20", "--time-scale", "0.05",
		"--quota-tasks", "40", "--quota-limit", "20", "--create-submits", "8")
	e := figures(t, r, "efficiency")
	num(t, e, "tasks", 20, 20, false)
	num(t, e, "downloaded", 20, 20, false)
	calls := num(t, e, "calls_per_task", 1, 20, false)
	num(t, e, "min_calls_per_task", 1, 20, false)
	num(t, e, "calls_over_min_plus_faults", 0, 0, false)
	num(t, e, "detection_p50_s", -0.1, 5, false)
	num(t, e, "detection_p99_s", -0.1, 10, false)
	num(t, e, "file_p99_s", -0.1, 10, false)
	num(t, e, "duplicate_creates", 0, 0, false)
	num(t, e, "duplicate_polls", 0, 0, false)
	num(t, e, "duplicate_downloads", 0, 0, false)
	num(t, e, "redis_bytes_per_task", 0, 1e5, true)

	q := figures(t, r, "quota")
	num(t, q, "tasks", 40, 40, false)
	num(t, q, "detected", 10, 10, false)
	num(t, q, "calls_over_limit", 0, 0, false)
	num(t, q, "calls_over_limit_3_workers", 0, 0, false)
	num(t, q, "max_record_info_per_s", 1, 20, false)
	num(t, q, "max_record_info_per_s_3_workers", 1, 20, false)
	num(t, q, "max_gap_s", 0.1, 30, false)
	num(t, q, "mean_detection_s", -0.1, 30, false)
	num(t, q, "polls_per_s", 1, 20, false)

	c := figures(t, r, "creates")
	num(t, c, "submits", 8, 8, false)
	num(t, c, "slowest_s", 3.5, 1.1*8/1.8, false)
	num(t, c, "creates_later_than_fair", 0, 0, false)
	num(t, c, "creates_overtaken", 0, 0, false)
	num(t, c, "creates_refused_by_kie", 0, 0, false)

	b := figures(t, r, "baseline")
	num(t, b, "downloaded", 20, 20, false)
	naive := num(t, b, "calls_per_task", 1, 20, false)
	num(t, b, "memory_per_task_b", 0, 1e7, false)
	if got := num(t, b, "kiemv_vs_naive_calls", 0.1, 10, false); naive > 0 && (got < calls/naive*0.99 || got > calls/naive*1.01) {
		t.Errorf("kiemv_vs_naive_calls = %v; want %v / %v", got, calls, naive)
	}
	num(t, b, "kiemv_vs_naive_detection_p50", 0, 1e3, true)
	num(t, b, "kiemv_vs_naive_memory", 0, 1e6, true)
}

func TestBenchUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--skip", "nope"}, {"--interval", "200ms"}, {"--tasks", "0"}, {"extra"},
		{"--pairs", "-1"}, {"--pair-window", "100ms"}, {"--download-rounds", "0"}, {"--download-size", "1000"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append([]string{"kiemv", "bench"}, args...), &out, &errb); code != exitUsage {
			t.Errorf("bench %v: exit %d, want %d (%s)", args, code, exitUsage, errb.String())
		}
	}
}

// onPath reports whether a program is installed.
func onPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}
