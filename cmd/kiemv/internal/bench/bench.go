// Package bench is `kiemv bench`: it runs the real worker, built by internal/app, against
// in-process KIE simulators, one file per scenario (capacity, the raw Asynq baseline, efficiency,
// quota, creates, downloads and a naive baseline), and reports each figure with its target, the
// machine and the command.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"
)

// Scenarios are the scenarios of `kiemv bench`, in the order they are reported.
var Scenarios = []string{"capacity", "raw", "efficiency", "quota", "creates", "downloads", "baseline"}

// MinEfficiencyTasks is the least Options.EfficiencyTasks: that many are created through submit.
const MinEfficiencyTasks = effSubmits

// Options are the flags of `kiemv bench`.
type Options struct {
	Tasks           int
	Interval        time.Duration
	Duration        time.Duration
	Concurrency     int
	EfficiencyTasks int
	TimeScale       float64
	QuotaTasks      int
	QuotaLimit      int
	CreateSubmits   int
	DownloadSize    int64
	DownloadRounds  int // downloads: kiemv downloads, curl -o before and after each
	Skip            map[string]bool
	JSON            bool
	CPUProfile      string
	SimProcess      bool
	Pairs           int           // raw: rounds of paired kiemv and raw windows (0: none)
	PairWindow      time.Duration // raw: length of each paired window
}

// Run runs every scenario not skipped on the Redis at redisURL ("": a throwaway one it
// starts), prints progress on stderr and the report on out.
func Run(ctx context.Context, o Options, redisURL string, stderr, out io.Writer) error {
	start := time.Now()
	rd, err := startBenchRedis(ctx, redisURL)
	if err != nil {
		return err
	}
	defer rd.Close()
	tmp, err := os.MkdirTemp("", "kiemv-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	e := &benchEnv{redis: rd, o: o, tmp: tmp, stderr: stderr,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	var mu sync.Mutex
	got := map[string]*scenario{}
	run := func(name string, f func() (*scenario, error)) error {
		if o.Skip[name] {
			return nil
		}
		if !o.JSON {
			fmt.Fprintf(stderr, "bench: %s…\n", name)
		}
		s, err := f()
		if err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
		mu.Lock()
		got[name] = s
		mu.Unlock()
		return nil
	}
	var capr *capResult
	if err := run("capacity", func() (*scenario, error) {
		s, r, err := e.capacity(ctx)
		capr = r
		return s, err
	}); err != nil {
		return err
	}
	// raw runs alone right after capacity, on the same Redis, so that their ratios compare
	// like with like.
	if err := run("raw", func() (*scenario, error) { return e.raw(ctx, capr) }); err != nil {
		return err
	}
	if err := run("downloads", func() (*scenario, error) { return e.downloads(ctx) }); err != nil {
		return err
	}
	// Quota and creates run beside efficiency and then the baseline: each has its own simulator and
	// namespace, and none comes near the machine's capacity.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = run("quota", func() (*scenario, error) { return e.quota(ctx) })
		if errs[0] == nil {
			errs[0] = run("creates", func() (*scenario, error) { return e.creates(ctx) })
		}
	}()
	go func() {
		defer wg.Done()
		var eff *effResult
		errs[1] = run("efficiency", func() (*scenario, error) {
			s, r, err := e.efficiency(ctx)
			eff = r
			return s, err
		})
		if errs[1] == nil {
			errs[1] = run("baseline", func() (*scenario, error) { return e.baseline(ctx, eff) })
		}
	}()
	wg.Wait()
	if err := firstErr(errs[0], errs[1]); err != nil {
		return err
	}
	r := &report{Command: benchCommandLine(o), Machine: describeMachine(), Redis: rd.Desc, Config: benchConfig(o)}
	for _, name := range Scenarios {
		if s := got[name]; s != nil {
			r.Scenarios = append(r.Scenarios, s)
		}
	}
	r.Elapsed = time.Since(start).Seconds()
	if o.JSON {
		return r.writeJSON(out)
	}
	return r.writeTable(out)
}

// benchCommandLine is the command that reproduces the run.
func benchCommandLine(o Options) string {
	var skip []string
	for _, n := range Scenarios {
		if o.Skip[n] {
			skip = append(skip, n)
		}
	}
	s := fmt.Sprintf("kiemv bench --tasks %d --interval %v --duration %v --concurrency %d --efficiency-tasks %d --time-scale %g --quota-tasks %d --quota-limit %d --create-submits %d --download-size %d --download-rounds %d",
		o.Tasks, o.Interval, o.Duration, o.Concurrency, o.EfficiencyTasks, o.TimeScale, o.QuotaTasks, o.QuotaLimit, o.CreateSubmits, o.DownloadSize, o.DownloadRounds)
	if len(skip) > 0 {
		s += " --skip " + strings.Join(skip, ",")
	}
	return s
}

func benchConfig(o Options) map[string]any {
	return map[string]any{"tasks": o.Tasks, "interval_s": o.Interval.Seconds(), "duration_s": o.Duration.Seconds(),
		"concurrency": o.Concurrency, "efficiency_tasks": o.EfficiencyTasks, "time_scale": o.TimeScale,
		"quota_tasks": o.QuotaTasks, "quota_limit": o.QuotaLimit, "create_submits": o.CreateSubmits, "download_size": o.DownloadSize,
		"download_rounds": o.DownloadRounds, "sim_process": o.SimProcess}
}
