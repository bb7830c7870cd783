package main

import (
	"fmt"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/dashboard"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/dev"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/urfave/cli/v2"
)

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
			&cli.Int64Flag{Name: "video-size", Usage: "simulator: bytes of each demo video (the clip padded, still playable; up to 1 GiB) so that download progress shows; 0: the 42 KiB clip"},
			&cli.DurationFlag{Name: "poll-interval", Value: 2 * time.Second, Usage: "time between polls of one task (asynq schedules in whole seconds; 30s with --real)"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := readGlobals(c)
			if err != nil {
				return err
			}
			o := dev.Options{Demo: c.Int("demo"), ExitWhenDone: c.Bool("exit-when-done"), Real: c.Bool("real"),
				Track: c.StringSlice("track"), ListenRedis: c.String("listen-redis"), DashboardAddr: c.String("dashboard-addr"),
				ReadyAfter: c.Duration("ready-after"), PollInterval: c.Duration("poll-interval"), LogFormat: c.String("log-format"),
				VideoSize: c.Int64("video-size")}
			if o.Real && !c.IsSet("demo") {
				o.Demo = 0
			}
			if o.Real && !c.IsSet("poll-interval") {
				o.PollInterval = 30 * time.Second // KIE's own rhythm: real tasks take minutes
			}
			if err := noArgs(c); err != nil {
				return err
			}
			if err := checkDev(o); err != nil {
				return err
			}
			if o.Real && cfg.APIKey == "" {
				return fmt.Errorf("--real follows real tasks: %w", kie.ErrNoAPIKey)
			}
			if c.IsSet("redis-url") {
				cfg.Log.Warn("kiemv dev runs its own embedded Redis; --redis-url / REDIS_URL is ignored")
			}
			return dev.Run(c.Context, cfg, o, c.App.Writer)
		},
	}
}

// checkDev validates the flags of `kiemv dev`.
func checkDev(o dev.Options) error {
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
	case o.VideoSize < 0 || o.VideoSize > 1<<30:
		return usagef("--video-size %d: use 0 (the 42 KiB clip) up to 1073741824 bytes (1 GiB)", o.VideoSize)
	case o.Real && o.VideoSize > 0:
		return usagef("--video-size sizes the simulator's videos; with --real, KIE's are what they are")
	case !dashboard.IsLoopback(o.ListenRedis):
		return usagef("--listen-redis %s: the embedded Redis has no password, so it only listens on loopback (127.0.0.1:PORT)", o.ListenRedis)
	case !dashboard.IsLoopback(o.DashboardAddr):
		return usagef("--dashboard-addr %s: kiemv dev serves its dashboard on loopback only; for a shared one run `kiemv dashboard --basic-auth`", o.DashboardAddr)
	}
	for _, id := range o.Track {
		if err := jobs.ValidateID("--track", id); err != nil {
			return usagef("%v", err)
		}
	}
	return nil
}
