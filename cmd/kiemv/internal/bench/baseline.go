package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// baseline runs the efficiency plan through a naive poller — one goroutine per task that
// sleeps the interval, GETs record-info with the same KIE client, and downloads with net/http
// once ready — and sets kiemv's figures (eff, when the efficiency scenario ran) beside it.
func (e *benchEnv) baseline(ctx context.Context, eff *effResult) (*scenario, error) {
	s := &scenario{Name: "baseline"}
	o := e.o
	plan := effPlan(o.EfficiencyTasks, o.TimeScale)
	sim, err := startSim(kiesim.Config{})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	client, err := kie.New(kie.Config{BaseURL: sim.URL, APIKey: benchKey})
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(e.tmp, "naive")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	type outcome struct{ detected, onDisk time.Time }
	out := make([]outcome, len(plan))
	var wg sync.WaitGroup
	mem0 := goMemory()
	var longest time.Duration
	for i, t := range plan {
		longest = max(longest, t.fate.ReadyAfter)
		sim.Sim.AddTask(t.id, t.audio, t.fate)
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].detected, out[i].onDisk = naivePoll(ctx, client, t.id, dir, o.Interval)
		}()
	}
	// Memory while every goroutine waits for its next poll.
	if err := jobs.Sleep(ctx, min(o.Interval/2, time.Second)); err != nil {
		return nil, err
	}
	memPer := float64(max(goMemory()-mem0, 0)) / float64(len(plan))
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	st := sim.Sim.Stats()
	var calls, downloaded int
	var detect, file []float64
	for i, t := range plan {
		calls += st.Polls[t.id]
		readyAt, _ := sim.Sim.ReadyAt(t.id)
		if !out[i].detected.IsZero() {
			detect = append(detect, out[i].detected.Sub(readyAt).Seconds())
		}
		if !out[i].onDisk.IsZero() {
			downloaded++
			file = append(file, out[i].onDisk.Sub(readyAt).Seconds())
		}
	}
	n := float64(len(plan))
	callsPer, p50, p99 := float64(calls)/n, quantile(detect, 0.5), quantile(detect, 0.99)
	s.add("tasks", n, "")
	s.add("downloaded", float64(downloaded), "")
	s.add("calls_per_task", callsPer, "")
	s.add("detection_p50_s", p50, "s")
	s.add("detection_p99_s", p99, "s")
	s.add("file_p50_s", quantile(file, 0.5), "s")
	s.add("file_p99_s", quantile(file, 0.99), "s")
	s.add("memory_per_task_b", memPer, "B")
	if eff != nil {
		s.add("kiemv_vs_naive_calls", ratio(eff.callsPerTask, callsPer), "x")
		s.add("kiemv_vs_naive_detection_p50", ratio(eff.detectP50, p50), "x")
		s.add("kiemv_vs_naive_detection_p99", ratio(eff.detectP99, p99), "x")
		s.add("kiemv_vs_naive_memory", ratio(eff.memPerTask, memPer), "x")
		s.note("memory per task: kiemv = its Redis keys (MEMORY USAGE) + this process's Go heap and stacks, per task; naive = Go heap and stacks per goroutine; the naive poller keeps nothing durable: a restart forgets every task")
	} else {
		s.note("efficiency was skipped: no kiemv figures to compare with")
	}
	s.note("the naive poller sleeps exactly --interval (no jitter, no whole-second rounding), retries errors after the interval, and runs the same plan on its own simulator")
	return s, nil
}

// naivePoll polls one task until it is ready (or failed), then downloads its file.
func naivePoll(ctx context.Context, client *kie.Client, id, dir string, interval time.Duration) (detected, onDisk time.Time) {
	for ctx.Err() == nil {
		vr, err := client.VideoDetails(ctx, id)
		if err == nil && vr.Ready() {
			detected = time.Now()
			if naiveDownload(ctx, vr.VideoURL, filepath.Join(dir, id+".mp4")) == nil {
				onDisk = time.Now()
			}
			return detected, onDisk
		}
		if err == nil && vr.Status.Failed() {
			return
		}
		if jobs.Sleep(ctx, interval) != nil {
			return
		}
	}
	return
}

func naiveDownload(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
