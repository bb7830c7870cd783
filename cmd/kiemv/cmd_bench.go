package main

import (
	"slices"
	"strings"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/bench"
	"github.com/urfave/cli/v2"
)

func benchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "tasks", Value: 40000, Usage: "capacity and raw: followed tasks, never ready (the default asks ~13k polls/s: more than one worker serves)"},
		&cli.DurationFlag{Name: "interval", Value: 2 * time.Second, Usage: "poll interval of every scenario"},
		&cli.DurationFlag{Name: "duration", Value: 20 * time.Second, Usage: "capacity and raw: measuring window, after a warm-up of interval + 2s"},
		&cli.IntFlag{Name: "concurrency", Value: 50, Usage: "polls handled at once by each worker (as `kiemv worker --concurrency`)"},
		&cli.IntFlag{Name: "efficiency-tasks", Value: 500, Usage: "efficiency and baseline: tasks"},
		&cli.Float64Flag{Name: "time-scale", Value: 0.25, Usage: "efficiency and baseline: time to ready is uniform in 5-60 s times this"},
		&cli.IntFlag{Name: "quota-tasks", Value: 2000, Usage: "quota: followed tasks"},
		&cli.IntFlag{Name: "quota-limit", Value: 100, Usage: "quota: record-info calls per second (kiemv's limit and the simulator's)"},
		&cli.IntFlag{Name: "create-submits", Value: 100, Usage: "creates: submits at once, at kiemv's default 18 creates per 10 s"},
		&cli.Int64Flag{Name: "download-size", Value: 1 << 30, Usage: "downloads: size of the file in bytes"},
		&cli.IntFlag{Name: "download-rounds", Value: 3, Usage: "downloads: kiemv downloads of the file, curl -o before and after each (kiemv_vs_curl is the median of their ratios)"},
		&cli.StringFlag{Name: "skip", Usage: "comma-separated scenarios to skip: " + strings.Join(bench.Scenarios, ",")},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON object with every figure instead of the table"},
		&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the whole run to this file (use --skip to profile one scenario)"},
		&cli.IntFlag{Name: "pairs", Value: 3, Usage: "raw: rounds of one kiemv and one raw window in turn, for kiemv/raw ratios that hold on a busy machine (0: compare capacity's window with raw's)"},
		&cli.DurationFlag{Name: "pair-window", Value: 5 * time.Second, Usage: "raw: length of each paired window"},
		&cli.BoolFlag{Name: "sim-process", Value: true, Usage: "capacity: run the simulator in a child process, so that worker CPU and RSS are its own"},
	}
}

func readBenchOptions(c *cli.Context) (bench.Options, error) {
	o := bench.Options{Tasks: c.Int("tasks"), Interval: c.Duration("interval"), Duration: c.Duration("duration"),
		Concurrency: c.Int("concurrency"), EfficiencyTasks: c.Int("efficiency-tasks"), TimeScale: c.Float64("time-scale"),
		QuotaTasks: c.Int("quota-tasks"), QuotaLimit: c.Int("quota-limit"), CreateSubmits: c.Int("create-submits"), DownloadSize: c.Int64("download-size"), DownloadRounds: c.Int("download-rounds"),
		Skip: map[string]bool{}, JSON: c.Bool("json"), CPUProfile: c.String("cpuprofile"), SimProcess: c.Bool("sim-process"),
		Pairs: c.Int("pairs"), PairWindow: c.Duration("pair-window")}
	for _, name := range strings.Split(c.String("skip"), ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if !slices.Contains(bench.Scenarios, name) {
			return o, usagef("--skip %q: the scenarios are %s", name, strings.Join(bench.Scenarios, ", "))
		}
		o.Skip[name] = true
	}
	switch {
	case c.NArg() > 0:
		return o, usagef("bench takes no arguments, got %q", c.Args().First())
	case o.Tasks < 1 || o.EfficiencyTasks < bench.MinEfficiencyTasks || o.QuotaTasks < 1 || o.QuotaLimit < 1 || o.CreateSubmits < 1 || o.Concurrency < 1:
		return o, usagef("--tasks, --quota-tasks, --quota-limit, --create-submits and --concurrency must be at least 1, --efficiency-tasks at least %d", bench.MinEfficiencyTasks)
	case o.Interval < time.Second:
		return o, usagef("--interval %v: the bench needs at least 1s (Asynq schedules in whole seconds)", o.Interval)
	case o.Duration < time.Second:
		return o, usagef("--duration %v: at least 1s", o.Duration)
	case o.Pairs < 0 || o.PairWindow < time.Second:
		return o, usagef("--pairs %d, --pair-window %v: --pairs at least 0, --pair-window at least 1s", o.Pairs, o.PairWindow)
	case o.TimeScale <= 0 || o.TimeScale > 10:
		return o, usagef("--time-scale %g: between 0 and 10", o.TimeScale)
	case o.DownloadSize < 1<<20:
		return o, usagef("--download-size %d: at least 1 MiB", o.DownloadSize)
	case o.DownloadRounds < 1 || o.DownloadRounds > 20:
		return o, usagef("--download-rounds %d: between 1 and 20", o.DownloadRounds)
	}
	return o, nil
}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure one worker against the KIE simulator: capacity, efficiency, quota, downloads, naive baseline",
		Description: "Runs the real worker (handlers, Asynq, store) against in-process simulators on the Redis named by\n" +
			"--redis-url, or else on a throwaway redis-server (or an embedded miniredis when there is none),\n" +
			"and prints one row per figure with its target. Defaults take under 3 minutes on 2 cores.",
		Flags: benchFlags(),
		Action: func(c *cli.Context) error {
			cfg, err := readGlobals(c)
			if err != nil {
				return err
			}
			o, err := readBenchOptions(c)
			if err != nil {
				return err
			}
			given := ""
			if c.IsSet("redis-url") {
				given = cfg.RedisURL
			}
			return bench.Run(c.Context, o, given, c.App.ErrWriter, c.App.Writer)
		},
	}
}
