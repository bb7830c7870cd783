package main

import (
	"context"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/urfave/cli/v2"
)

func workerCommand() *cli.Command {
	return &cli.Command{
		Name:  "worker",
		Usage: "run the Asynq servers that poll KIE and download videos",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "concurrency", EnvVars: []string{"KIEMV_CONCURRENCY"}, Value: 50, Usage: "polls handled at once"},
			&cli.IntFlag{Name: "download-concurrency", EnvVars: []string{"KIEMV_DOWNLOAD_CONCURRENCY"}, Value: 4, Usage: "downloads handled at once"},
			&cli.DurationFlag{Name: "poll-interval", EnvVars: []string{"KIEMV_POLL_INTERVAL"}, Value: 30 * time.Second, Usage: "time between polls of one task (±10% jitter), at least 100ms"},
			&cli.DurationFlag{Name: "poll-timeout", EnvVars: []string{"KIEMV_POLL_TIMEOUT"}, Value: 2 * time.Hour, Usage: "poll budget: a task still pending after this is timed_out"},
			&cli.DurationFlag{Name: "not-found-grace", Value: 2 * time.Minute, Usage: "how long KIE may not know a task before it is failed"},
			&cli.Int64Flag{Name: "max-video-bytes", Value: 4 << 30, Usage: "largest video accepted"},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: 10 * time.Second, Usage: "how long in-flight tasks may finish on SIGTERM"},
			&cli.DurationFlag{Name: "max-backoff", Value: 5 * time.Minute, Usage: "longest wait between retries of a failing poll or download (e.g. during a KIE outage)"},
			&cli.DurationFlag{Name: "reconcile-interval", EnvVars: []string{"KIEMV_RECONCILE_INTERVAL"}, Value: time.Minute, Usage: "how often lost tasks are looked for and queued again (one worker at a time), at least 1s"},
			&cli.BoolFlag{Name: "allow-private-video-hosts", EnvVars: []string{"KIEMV_ALLOW_PRIVATE_VIDEO_HOSTS"}, Usage: "let downloads reach loopback, private and link-local addresses (refused unless the KIE base URL is one)"},
			&cli.StringFlag{Name: "metrics-addr", EnvVars: []string{"KIEMV_METRICS_ADDR"}, Usage: "serve Prometheus metrics on this address, e.g. 127.0.0.1:9464 (default: off)"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := readGlobals(c)
			if err != nil {
				return err
			}
			wc := app.WorkerConfig{Concurrency: c.Int("concurrency"), DownloadConcurrency: c.Int("download-concurrency"),
				PollInterval: c.Duration("poll-interval"), PollTimeout: c.Duration("poll-timeout"),
				NotFoundGrace: c.Duration("not-found-grace"), MaxVideoBytes: c.Int64("max-video-bytes"),
				ShutdownTimeout: c.Duration("shutdown-timeout"), MaxBackoff: c.Duration("max-backoff"), MetricsAddr: c.String("metrics-addr"),
				ReconcileInterval: c.Duration("reconcile-interval"), AllowPrivateVideoHosts: c.Bool("allow-private-video-hosts")}
			if err := checkWorker(wc); err != nil {
				return err
			}
			return runWorker(c.Context, cfg, wc)
		},
	}
}

// checkWorker validates the worker's flags.
func checkWorker(wc app.WorkerConfig) error {
	switch {
	case wc.Concurrency < 1 || wc.DownloadConcurrency < 1:
		return usagef("--concurrency and --download-concurrency must be at least 1")
	case wc.PollInterval < 100*time.Millisecond:
		return usagef("--poll-interval %v is below the 100ms minimum", wc.PollInterval)
	case wc.PollTimeout <= 0 || wc.NotFoundGrace <= 0 || wc.ShutdownTimeout <= 0 || wc.MaxBackoff <= 0:
		return usagef("--poll-timeout, --not-found-grace, --shutdown-timeout and --max-backoff must be positive")
	case wc.MaxVideoBytes < 1:
		return usagef("--max-video-bytes must be positive")
	case wc.ReconcileInterval < time.Second:
		return usagef("--reconcile-interval %v is below the 1s minimum", wc.ReconcileInterval)
	}
	return nil
}

// runWorker serves polls and downloads until ctx ends (SIGINT/SIGTERM).
func runWorker(ctx context.Context, cfg app.Config, wc app.WorkerConfig) error {
	w, err := app.BuildWorker(ctx, cfg, wc, app.WorkerOptions{})
	if err != nil {
		return err
	}
	defer w.Conn.Close()
	return w.Run(ctx)
}
