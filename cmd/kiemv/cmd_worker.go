package main

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/urfave/cli/v2"
)

// workerOptions are the flags of `kiemv worker`.
type workerOptions struct {
	Concurrency         int
	DownloadConcurrency int
	PollInterval        time.Duration
	PollTimeout         time.Duration
	NotFoundGrace       time.Duration
	MaxVideoBytes       int64
	ShutdownTimeout     time.Duration
	MaxBackoff          time.Duration // cap on the delay between retries of a failing task
	MetricsAddr         string        // serve Prometheus metrics here ("" = off)
}

func workerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "concurrency", EnvVars: []string{"KIEMV_CONCURRENCY"}, Value: 50, Usage: "polls handled at once"},
		&cli.IntFlag{Name: "download-concurrency", EnvVars: []string{"KIEMV_DOWNLOAD_CONCURRENCY"}, Value: 4, Usage: "downloads handled at once"},
		&cli.DurationFlag{Name: "poll-interval", EnvVars: []string{"KIEMV_POLL_INTERVAL"}, Value: 30 * time.Second, Usage: "time between polls of one task (±10% jitter), at least 100ms"},
		&cli.DurationFlag{Name: "poll-timeout", EnvVars: []string{"KIEMV_POLL_TIMEOUT"}, Value: 2 * time.Hour, Usage: "poll budget: a task still pending after this is timed_out"},
		&cli.DurationFlag{Name: "not-found-grace", Value: 2 * time.Minute, Usage: "how long KIE may not know a task before it is failed"},
		&cli.Int64Flag{Name: "max-video-bytes", Value: 4 << 30, Usage: "largest video accepted"},
		&cli.DurationFlag{Name: "shutdown-timeout", Value: 10 * time.Second, Usage: "how long in-flight tasks may finish on SIGTERM"},
		&cli.DurationFlag{Name: "max-backoff", Value: 5 * time.Minute, Usage: "longest wait between retries of a failing poll or download (e.g. during a KIE outage)"},
		&cli.StringFlag{Name: "metrics-addr", EnvVars: []string{"KIEMV_METRICS_ADDR"}, Usage: "serve Prometheus metrics on this address, e.g. 127.0.0.1:9464 (default: off)"},
	}
}

func readWorkerOptions(c *cli.Context) (workerOptions, error) {
	o := workerOptions{Concurrency: c.Int("concurrency"), DownloadConcurrency: c.Int("download-concurrency"),
		PollInterval: c.Duration("poll-interval"), PollTimeout: c.Duration("poll-timeout"),
		NotFoundGrace: c.Duration("not-found-grace"), MaxVideoBytes: c.Int64("max-video-bytes"),
		ShutdownTimeout: c.Duration("shutdown-timeout"), MaxBackoff: c.Duration("max-backoff"), MetricsAddr: c.String("metrics-addr")}
	switch {
	case o.Concurrency < 1 || o.DownloadConcurrency < 1:
		return o, usagef("--concurrency and --download-concurrency must be at least 1")
	case o.PollInterval < 100*time.Millisecond:
		return o, usagef("--poll-interval %v is below the 100ms minimum", o.PollInterval)
	case o.PollTimeout <= 0 || o.NotFoundGrace <= 0 || o.ShutdownTimeout <= 0 || o.MaxBackoff <= 0:
		return o, usagef("--poll-timeout, --not-found-grace, --shutdown-timeout and --max-backoff must be positive")
	case o.MaxVideoBytes < 1:
		return o, usagef("--max-video-bytes must be positive")
	}
	return o, nil
}

func workerCommand() *cli.Command {
	return &cli.Command{
		Name:  "worker",
		Usage: "run the Asynq servers that poll KIE and download videos",
		Flags: workerFlags(),
		Action: func(c *cli.Context) error {
			g, err := readGlobals(c)
			if err != nil {
				return err
			}
			o, err := readWorkerOptions(c)
			if err != nil {
				return err
			}
			return runWorker(c.Context, g, o)
		},
	}
}

// runWorker serves polls and downloads until ctx ends (SIGINT/SIGTERM).
func runWorker(ctx context.Context, g *globals, o workerOptions) error {
	bw, err := buildWorker(ctx, g, o)
	if err != nil {
		return err
	}
	defer bw.conn.Close()
	return bw.run(ctx, g, o)
}

// builtWorker is a worker wired to its Redis, KIE client, download directory and metrics;
// `kiemv worker` and `kiemv dev` both build theirs with buildWorker.
type builtWorker struct {
	conn    *redisConn
	worker  *jobs.Worker
	metrics *metrics
	queues  jobs.Queues
	// poller and downloader are the handlers the worker runs; `kiemv bench` instruments them
	// (their KIE client and Hooks) before run.
	poller     *jobs.Poller
	downloader *jobs.Downloader
}

// buildWorker connects and wires a worker; the caller closes bw.conn.
func buildWorker(ctx context.Context, g *globals, o workerOptions) (*builtWorker, error) {
	client, err := g.kieClient()
	if err != nil {
		return nil, err
	}
	dir, err := store.NewDir(g.DownloadDir)
	if err != nil {
		return nil, err
	}
	conn, err := g.connect(ctx)
	if err != nil {
		return nil, err
	}
	lim, err := g.limiter(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	q := jobs.QueuesFor(g.Namespace)
	recs := g.records(conn)
	m := newMetrics(recs, asynq.NewInspectorFromRedisClient(conn.rdb))
	k := m.kie(client)
	poller := &jobs.Poller{KIE: k, Store: recs, Limiter: m.limiter(lim), Enqueuer: conn.pool, Queues: q, Log: g.Log,
		Config: jobs.PollConfig{Interval: o.PollInterval, Budget: o.PollTimeout, NotFoundGrace: o.NotFoundGrace}, Hooks: m.hooks()}
	dl := &jobs.Downloader{KIE: k, Store: recs, Files: dir, Log: g.Log,
		Config: jobs.DownloadConfig{MaxBytes: o.MaxVideoBytes}, Hooks: m.hooks()}
	w := jobs.NewWorker(jobs.WorkerConfig{Redis: conn.opt, Queues: q, PollConcurrency: o.Concurrency,
		DownloadConcurrency: o.DownloadConcurrency, PollInterval: o.PollInterval, ShutdownTimeout: o.ShutdownTimeout,
		Backoff: jobs.Backoff{Base: min(time.Second, o.PollInterval), Max: o.MaxBackoff}, Log: g.Log}, poller, dl)
	return &builtWorker{conn: conn, worker: w, metrics: m, queues: q, poller: poller, downloader: dl}, nil
}

// run serves metrics (with o.MetricsAddr) and the worker until ctx ends.
func (bw *builtWorker) run(ctx context.Context, g *globals, o workerOptions) error {
	attrs := []any{"redis", redactURL(g.RedisURL), "poll_queue", bw.queues.Poll, "download_queue", bw.queues.Download,
		"concurrency", o.Concurrency, "download_concurrency", o.DownloadConcurrency, "poll_interval", o.PollInterval, "download_dir", g.DownloadDir}
	if o.MetricsAddr != "" {
		addr, err := serveMetrics(ctx, o.MetricsAddr, bw.metrics, g.Log)
		if err != nil {
			return err
		}
		attrs = append(attrs, "metrics", "http://"+addr.String()+"/metrics")
	}
	g.Log.Info("worker started", attrs...)
	err := bw.worker.Run(ctx)
	g.Log.Info("worker stopped")
	return err
}
