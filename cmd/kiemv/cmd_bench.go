package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
)

// benchScenarios are the scenarios of `kiemv bench`, in the order they are reported.
var benchScenarios = []string{"capacity", "efficiency", "quota", "downloads", "baseline"}

// benchOptions are the flags of `kiemv bench`.
type benchOptions struct {
	Tasks           int
	Interval        time.Duration
	Duration        time.Duration
	Concurrency     int
	EfficiencyTasks int
	TimeScale       float64
	QuotaTasks      int
	QuotaLimit      int
	DownloadSize    int64
	Skip            map[string]bool
	JSON            bool
	CPUProfile      string
	SimProcess      bool
}

func benchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "tasks", Value: 10000, Usage: "capacity: followed tasks, never ready"},
		&cli.DurationFlag{Name: "interval", Value: 2 * time.Second, Usage: "poll interval of every scenario"},
		&cli.DurationFlag{Name: "duration", Value: 30 * time.Second, Usage: "capacity: measuring window, after a warm-up of interval + 2s"},
		&cli.IntFlag{Name: "concurrency", Value: 50, Usage: "polls handled at once by each worker (as `kiemv worker --concurrency`)"},
		&cli.IntFlag{Name: "efficiency-tasks", Value: 500, Usage: "efficiency and baseline: tasks"},
		&cli.Float64Flag{Name: "time-scale", Value: 0.25, Usage: "efficiency and baseline: time to ready is uniform in 5-60 s times this"},
		&cli.IntFlag{Name: "quota-tasks", Value: 2000, Usage: "quota: followed tasks"},
		&cli.IntFlag{Name: "quota-limit", Value: 100, Usage: "quota: record-info calls per second (kiemv's limit and the simulator's)"},
		&cli.Int64Flag{Name: "download-size", Value: 1 << 30, Usage: "downloads: size of the file in bytes"},
		&cli.StringFlag{Name: "skip", Usage: "comma-separated scenarios to skip: " + strings.Join(benchScenarios, ",")},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON object with every figure instead of the table"},
		&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the whole run to this file (use --skip to profile one scenario)"},
		&cli.BoolFlag{Name: "sim-process", Value: true, Usage: "capacity: run the simulator in a child process, so that worker CPU and RSS are its own"},
	}
}

func readBenchOptions(c *cli.Context) (benchOptions, error) {
	o := benchOptions{Tasks: c.Int("tasks"), Interval: c.Duration("interval"), Duration: c.Duration("duration"),
		Concurrency: c.Int("concurrency"), EfficiencyTasks: c.Int("efficiency-tasks"), TimeScale: c.Float64("time-scale"),
		QuotaTasks: c.Int("quota-tasks"), QuotaLimit: c.Int("quota-limit"), DownloadSize: c.Int64("download-size"),
		Skip: map[string]bool{}, JSON: c.Bool("json"), CPUProfile: c.String("cpuprofile"), SimProcess: c.Bool("sim-process")}
	for _, name := range strings.Split(c.String("skip"), ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if !slices.Contains(benchScenarios, name) {
			return o, usagef("--skip %q: the scenarios are %s", name, strings.Join(benchScenarios, ", "))
		}
		o.Skip[name] = true
	}
	switch {
	case c.NArg() > 0:
		return o, usagef("bench takes no arguments, got %q", c.Args().First())
	case o.Tasks < 1 || o.EfficiencyTasks < effSubmits || o.QuotaTasks < 1 || o.QuotaLimit < 1 || o.Concurrency < 1:
		return o, usagef("--tasks, --quota-tasks, --quota-limit and --concurrency must be at least 1, --efficiency-tasks at least %d", effSubmits)
	case o.Interval < time.Second:
		return o, usagef("--interval %v: the bench needs at least 1s (Asynq schedules in whole seconds)", o.Interval)
	case o.Duration < time.Second:
		return o, usagef("--duration %v: at least 1s", o.Duration)
	case o.TimeScale <= 0 || o.TimeScale > 10:
		return o, usagef("--time-scale %g: between 0 and 10", o.TimeScale)
	case o.DownloadSize < 1<<20:
		return o, usagef("--download-size %d: at least 1 MiB", o.DownloadSize)
	}
	return o, nil
}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure one worker against the KIE simulator: capacity, efficiency, quota, downloads, naive baseline",
		Description: "Runs the real worker (handlers, Asynq, store) against in-process simulators on the Redis named by\n" +
			"--redis-url, or else on a throwaway redis-server (or an embedded miniredis when there is none),\n" +
			"and prints one row per figure with its target. Defaults take under 2 minutes on 2 cores.",
		Flags: benchFlags(),
		Action: func(c *cli.Context) error {
			g, err := readGlobals(c)
			if err != nil {
				return err
			}
			o, err := readBenchOptions(c)
			if err != nil {
				return err
			}
			given := ""
			if c.IsSet("redis-url") {
				given = g.RedisURL
			}
			return runBench(c.Context, g, o, given, c.App.Writer)
		},
	}
}

// runBench runs every scenario not skipped and prints the report.
func runBench(ctx context.Context, g *globals, o benchOptions, redisURL string, out io.Writer) error {
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
	e := &benchEnv{redis: rd, o: o, tmp: tmp, stderr: g.Stderr,
		log: slog.New(slog.NewTextHandler(g.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	var mu sync.Mutex
	got := map[string]*scenario{}
	run := func(name string, f func() (*scenario, error)) error {
		if o.Skip[name] {
			return nil
		}
		if !o.JSON {
			fmt.Fprintf(g.Stderr, "bench: %s…\n", name)
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
	if err := run("capacity", func() (*scenario, error) { return e.capacity(ctx) }); err != nil {
		return err
	}
	if err := run("downloads", func() (*scenario, error) { return e.downloads(ctx) }); err != nil {
		return err
	}
	// Quota runs beside efficiency and then the baseline: each has its own simulator and
	// namespace, and none comes near the machine's capacity.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = run("quota", func() (*scenario, error) { return e.quota(ctx) })
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
	for _, name := range benchScenarios {
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
func benchCommandLine(o benchOptions) string {
	var skip []string
	for _, n := range benchScenarios {
		if o.Skip[n] {
			skip = append(skip, n)
		}
	}
	s := fmt.Sprintf("kiemv bench --tasks %d --interval %v --duration %v --concurrency %d --efficiency-tasks %d --time-scale %g --quota-tasks %d --quota-limit %d --download-size %d",
		o.Tasks, o.Interval, o.Duration, o.Concurrency, o.EfficiencyTasks, o.TimeScale, o.QuotaTasks, o.QuotaLimit, o.DownloadSize)
	if len(skip) > 0 {
		s += " --skip " + strings.Join(skip, ",")
	}
	return s
}

func benchConfig(o benchOptions) map[string]any {
	return map[string]any{"tasks": o.Tasks, "interval_s": o.Interval.Seconds(), "duration_s": o.Duration.Seconds(),
		"concurrency": o.Concurrency, "efficiency_tasks": o.EfficiencyTasks, "time_scale": o.TimeScale,
		"quota_tasks": o.QuotaTasks, "quota_limit": o.QuotaLimit, "download_size": o.DownloadSize,
		"sim_process": o.SimProcess}
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
