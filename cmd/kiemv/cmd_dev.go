package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/urfave/cli/v2"
)

// demoMP4 is the clip the simulator serves for every demo task in `kiemv dev`: 3 s of
// 320x180 H.264 test pattern with an AAC tone, faststart, small enough to embed.
//
//go:embed testdata/demo.mp4
var demoMP4 []byte

// devAPIKey is the key kiemv dev's simulator insists on (it never reaches the real KIE).
const devAPIKey = "kiemv-dev-simulator-key"

// devOptions are the flags of `kiemv dev`.
type devOptions struct {
	Demo          int
	ExitWhenDone  bool
	Real          bool
	Track         []string
	ListenRedis   string
	DashboardAddr string
	ReadyAfter    time.Duration
	PollInterval  time.Duration
}

func devCommand() *cli.Command {
	return &cli.Command{
		Name:  "dev",
		Usage: "embedded Redis + KIE simulator + worker + dashboard in one process: a complete demo with no setup",
		Description: "Starts everything on loopback, submits --demo videos through the same code path as `kiemv submit`,\n" +
			"shows their progress, and writes playable MP4s to --download-dir. With --real (and KIE_API_KEY)\n" +
			"it follows real tasks (--track) against the real API instead; its state is lost when it exits.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "demo", Value: 3, Usage: "demo videos to submit to the simulator (0-100)"},
			&cli.BoolFlag{Name: "exit-when-done", Usage: "exit once every demo/tracked task is terminal: 0 if all were downloaded, else 1"},
			&cli.BoolFlag{Name: "real", Usage: "use the real KIE API (needs KIE_API_KEY) instead of the simulator"},
			&cli.StringSliceFlag{Name: "track", Usage: "with --real: follow this existing MP4 task id (repeatable)"},
			&cli.StringFlag{Name: "listen-redis", Value: "127.0.0.1:0", Usage: "loopback address of the embedded Redis (port 0: any free port)"},
			&cli.StringFlag{Name: "dashboard-addr", Value: "127.0.0.1:8080", Usage: "loopback address of the dashboard (a free port is used if it is taken)"},
			&cli.DurationFlag{Name: "ready-after", Value: 8 * time.Second, Usage: "simulator: time from create to a ready video"},
			&cli.DurationFlag{Name: "poll-interval", Value: 2 * time.Second, Usage: "time between polls of one task (asynq schedules in whole seconds; 30s with --real)"},
		},
		Action: func(c *cli.Context) error {
			g, err := readGlobals(c)
			if err != nil {
				return err
			}
			o := devOptions{Demo: c.Int("demo"), ExitWhenDone: c.Bool("exit-when-done"), Real: c.Bool("real"),
				Track: c.StringSlice("track"), ListenRedis: c.String("listen-redis"), DashboardAddr: c.String("dashboard-addr"),
				ReadyAfter: c.Duration("ready-after"), PollInterval: c.Duration("poll-interval")}
			if o.Real && !c.IsSet("demo") {
				o.Demo = 0
			}
			if o.Real && !c.IsSet("poll-interval") {
				o.PollInterval = 30 * time.Second // KIE's own rhythm: real tasks take minutes
			}
			if c.NArg() > 0 {
				return usagef("dev takes no arguments, got %q", c.Args().First())
			}
			if err := o.check(); err != nil {
				return err
			}
			if c.IsSet("redis-url") {
				g.Log.Warn("kiemv dev runs its own embedded Redis; --redis-url / REDIS_URL is ignored")
			}
			return runDev(c.Context, g, o, c.App.Writer)
		},
	}
}

// check validates the options.
func (o devOptions) check() error {
	switch {
	case o.Demo < 0 || o.Demo > 100:
		return usagef("--demo %d: use 0 to 100", o.Demo)
	case o.Real && o.Demo > 0:
		return usagef("--demo submits to the simulator; with --real, follow real tasks with --track ID (or `kiemv submit` from another terminal)")
	case !o.Real && len(o.Track) > 0:
		return usagef("--track follows real KIE tasks: add --real (the simulator knows only the tasks it made)")
	case o.ExitWhenDone && o.Demo == 0 && len(o.Track) == 0:
		return usagef("--exit-when-done needs something to wait for: --demo N or --track ID")
	case o.PollInterval < 100*time.Millisecond:
		return usagef("--poll-interval %v is below the 100ms minimum", o.PollInterval)
	case o.ReadyAfter < 0:
		return usagef("--ready-after must not be negative")
	case !isLoopback(o.ListenRedis):
		return usagef("--listen-redis %s: the embedded Redis has no password, so it only listens on loopback (127.0.0.1:PORT)", o.ListenRedis)
	case !isLoopback(o.DashboardAddr):
		return usagef("--dashboard-addr %s: kiemv dev serves its dashboard on loopback only; for a shared one run `kiemv dashboard --basic-auth`", o.DashboardAddr)
	}
	for _, id := range o.Track {
		if err := jobs.ValidateID("--track", id); err != nil {
			return usagef("%v", err)
		}
	}
	return nil
}

// workerOptions are those of `kiemv worker` with its defaults, tuned for a demo.
func (o devOptions) workerOptions() workerOptions {
	return workerOptions{Concurrency: 20, DownloadConcurrency: 4, PollInterval: o.PollInterval,
		PollTimeout: 2 * time.Hour, NotFoundGrace: 2 * time.Minute, MaxVideoBytes: 4 << 30,
		ShutdownTimeout: 2 * time.Second}
}

// runDev starts the stack, submits or tracks the tasks, follows them on stdout and stops
// everything when ctx ends (or, with --exit-when-done, when they are all terminal).
func runDev(ctx context.Context, g *globals, o devOptions, stdout io.Writer) error {
	view := newProgressView(stdout, g.LogFormat)
	if view.tty { // the live view owns the terminal: log lines are shown inside it, short
		g.Log = slog.New(slog.NewTextHandler(view.logs, &slog.HandlerOptions{ReplaceAttr: shortTime}))
	}
	st, err := startDevStack(ctx, g, o)
	if err != nil {
		return err
	}
	defer st.stop(g)
	st.banner(stdout, g, o)

	watch, err := devFollow(ctx, g, o)
	if err != nil {
		return err
	}
	if len(watch) > 0 {
		g.Log.Info("following", "tasks", strings.Join(watch, " "))
	}
	ok, err := followProgress(ctx, g, st, view, watch, o.ExitWhenDone)
	if err != nil {
		return err
	}
	if o.ExitWhenDone && !ok {
		return cli.Exit("kiemv dev: not every task was downloaded (see the table above)", exitFailure)
	}
	return nil
}

// devFollow submits the demo videos (through runSubmit, exactly like `kiemv submit`) or
// tracks the given real tasks (like `kiemv track`), and returns the ids to watch.
func devFollow(ctx context.Context, g *globals, o devOptions) ([]string, error) {
	var ids []string
	for i := 1; i <= o.Demo; i++ {
		var out bytes.Buffer
		so := submitOptions{FirstPoll: o.PollInterval, Req: jobs.SubmitRequest{
			MusicTaskID: "demo-music", AudioID: fmt.Sprintf("demo-%d", i), Author: "kiemv dev"}}
		if err := runSubmit(ctx, g, so, &out); err != nil {
			return nil, fmt.Errorf("submit demo video %d: %w", i, err)
		}
		ids = append(ids, strings.TrimSpace(out.String()))
	}
	if len(o.Track) > 0 {
		if err := runTrack(ctx, g, o.Track, io.Discard); err != nil {
			return nil, err
		}
		ids = append(ids, o.Track...)
	}
	return ids, nil
}

// shortTime prints log times as 15:04:05 in the live view.
func shortTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		return slog.String(slog.TimeKey, a.Value.Time().Format("15:04:05"))
	}
	return a
}
