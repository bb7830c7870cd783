package app

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/metrics"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/store"
)

// WorkerConfig is what `kiemv worker` lets a user tune.
type WorkerConfig struct {
	Concurrency         int
	DownloadConcurrency int
	PollInterval        time.Duration
	PollTimeout         time.Duration
	NotFoundGrace       time.Duration
	MaxVideoBytes       int64
	ShutdownTimeout     time.Duration
	MaxBackoff          time.Duration // cap on the delay between retries of a failing task
	MetricsAddr         string        // serve Prometheus metrics here ("" = off)
	ReconcileInterval   time.Duration // between the reconciler's sweeps (0: its default, 1m)
	// AllowPrivateVideoHosts lets downloads reach loopback, private and link-local addresses.
	// They may anyway when the KIE base URL is such an address (a local simulator).
	AllowPrivateVideoHosts bool
}

// WorkerOptions are what a caller adds to a production worker, passed in before it is built.
// `kiemv bench` probes the handlers with them.
type WorkerOptions struct {
	// WrapPollKIE, when set, wraps the legacy API client of the poll handler (around the
	// metrics), once; the jobs API client is not wrapped.
	WrapPollKIE func(jobs.Details) jobs.Details
	// Hooks, when set, observe both handlers after the metrics do.
	Hooks *jobs.Hooks
}

// Worker is a worker wired to its Redis, KIE client, download directory and metrics.
type Worker struct {
	Conn    *Conn
	Worker  *jobs.Worker
	Metrics *metrics.Metrics
	Queues  jobs.Queues
	cfg     Config
	wc      WorkerConfig
}

// BuildWorker connects and wires a worker; the caller closes w.Conn.
func BuildWorker(ctx context.Context, c Config, wc WorkerConfig, opt WorkerOptions) (*Worker, error) {
	client, err := c.KIEClient()
	if err != nil {
		return nil, err
	}
	dir, err := c.Files(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	lim, err := c.Limiter(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	q := jobs.QueuesFor(c.Namespace)
	recs := c.Records(conn)
	m := metrics.New(recs, asynq.NewInspectorFromRedisClient(conn.Redis))
	k, kj := m.KIE(client), m.KIE(client.Jobs())
	var pollKIE jobs.Details = k
	if opt.WrapPollKIE != nil {
		pollKIE = opt.WrapPollKIE(k)
	}
	hooks := joinHooks(joinHooks(m.Hooks(), hintHooks(c.Log, wc.MaxVideoBytes)), opt.Hooks)
	breaker := &jobs.Breaker{State: store.NewOutages(conn.Redis, c.Namespace), Log: c.Log, Hooks: hooks,
		ProbeKIEFunc: func(ctx context.Context) error {
			if _, err := k.Credits(ctx); err != nil && kie.IsTemporary(err) {
				return err
			}
			return nil // any answer but a transient error: KIE is back
		}}
	poller := &jobs.Poller{Breaker: breaker, KIE: pollKIE, JobsKIE: kj, Store: recs, Limiter: m.Limiter(lim), Enqueuer: conn.Client, Queues: q, Log: c.Log,
		Config: jobs.PollConfig{Interval: wc.PollInterval, Budget: wc.PollTimeout, NotFoundGrace: wc.NotFoundGrace}, Hooks: hooks}
	songs := c.Songs(conn)
	dl := &jobs.Downloader{Songs: songs, Breaker: breaker, KIE: k, JobsKIE: kj, Store: recs, Files: dir, Log: c.Log, HTTP: videoClient(c, wc),
		Config: jobs.DownloadConfig{MaxBytes: wc.MaxVideoBytes}, Hooks: hooks}
	svc, err := c.Service(conn, nil, ServiceOptions{})
	if err != nil {
		conn.Close()
		return nil, err
	}
	songSvc, err := c.Service(conn, k, ServiceOptions{}) // creates each take's MP4 (the metrics count them)
	if err != nil {
		conn.Close()
		return nil, err
	}
	songPoller := &jobs.SongPoller{Breaker: breaker, KIE: m.Music(client), Songs: songs, Service: songSvc, Limiter: m.Limiter(lim), Log: c.Log, MP4Credits: c.MP4Credits,
		Config: jobs.PollConfig{Interval: wc.PollInterval, Budget: wc.PollTimeout, NotFoundGrace: wc.NotFoundGrace}}
	rec := &jobs.Reconciler{Service: svc, Scanner: recs, Tasks: store.NewTasks(conn.Redis), Songs: songs,
		Lock: store.NewLock(conn.Redis, c.Namespace, "reconcile"), Files: dir, Log: c.Log, Hooks: hooks,
		Config: jobs.ReconcileConfig{Interval: wc.ReconcileInterval, PollBudget: wc.PollTimeout}}
	w := jobs.NewWorker(jobs.WorkerConfig{Redis: conn.Opt, Queues: q, PollConcurrency: wc.Concurrency,
		DownloadConcurrency: wc.DownloadConcurrency, PollInterval: wc.PollInterval, ShutdownTimeout: wc.ShutdownTimeout,
		Backoff: jobs.Backoff{Base: min(time.Second, wc.PollInterval), Max: wc.MaxBackoff}, Log: c.Log, Songs: songPoller}, poller, dl, rec)
	return &Worker{Conn: conn, Worker: w, Metrics: m, Queues: q, cfg: c, wc: wc}, nil
}

// Run serves metrics (with MetricsAddr) and the worker until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	c, wc := w.cfg, w.wc
	attrs := []any{"redis", RedactURL(c.RedisURL), "poll_queue", w.Queues.Poll, "download_queue", w.Queues.Download,
		"concurrency", wc.Concurrency, "download_concurrency", wc.DownloadConcurrency, "poll_interval", wc.PollInterval,
		"reconcile_interval", cmp.Or(wc.ReconcileInterval, time.Minute), "download_dir", c.Destination()}
	if wc.MetricsAddr != "" {
		addr, err := ServeMetrics(ctx, wc.MetricsAddr, w.Metrics, c.Log)
		if err != nil {
			return err
		}
		attrs = append(attrs, "metrics", "http://"+addr.String()+"/metrics")
	}
	c.Log.Info("worker started", attrs...)
	err := w.Worker.Run(ctx)
	c.Log.Info("worker stopped")
	return err
}

// videoClient is the HTTP client of downloads: one that refuses non-public addresses, unless
// they are allowed or KIE itself is on one (kiemv dev, kiemv sim, tests).
func videoClient(c Config, wc WorkerConfig) *http.Client {
	if wc.AllowPrivateVideoHosts || localURL(c.KIEBaseURL) {
		return jobs.NewHTTPClient()
	}
	return jobs.NewPublicHTTPClient()
}

// localURL reports whether raw names a loopback, private or link-local address (or localhost).
func localURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast())
}

// hintHooks log what an operator can do about a failure the handlers report in their own
// terms: a video over the size cap names the flag that raises it.
func hintHooks(log *slog.Logger, maxBytes int64) *jobs.Hooks {
	return &jobs.Hooks{DownloadFunc: func(_ int64, _ time.Duration, err error) {
		var tl *jobs.TooLargeError
		switch {
		case errors.As(err, &tl):
			log.Warn("video over the size cap; raise --max-video-bytes and `kiemv retry` it to fetch it",
				"task_id", tl.ID, "bytes", tl.Size, "max_video_bytes", maxBytes)
		case errors.Is(err, jobs.ErrPrivateAddress):
			log.Warn("a video URL led to a non-public address and was refused; if your file host is on your own network, run the worker with --allow-private-video-hosts", "error", err)
		}
	}}
}

// joinHooks calls a's functions, then b's; either may be nil.
func joinHooks(a, b *jobs.Hooks) *jobs.Hooks {
	if a == nil || b == nil {
		return cmp.Or(a, b)
	}
	return &jobs.Hooks{
		PollFunc: func(outcome string) {
			call(a.PollFunc, outcome)
			call(b.PollFunc, outcome)
		},
		StateFunc: func(id string, to jobs.State) {
			call2(a.StateFunc, id, to)
			call2(b.StateFunc, id, to)
		},
		DownloadFunc: func(n int64, d time.Duration, err error) {
			if a.DownloadFunc != nil {
				a.DownloadFunc(n, d, err)
			}
			if b.DownloadFunc != nil {
				b.DownloadFunc(n, d, err)
			}
		},
		ScheduledFunc: func(id string, due time.Time) {
			call2(a.ScheduledFunc, id, due)
			call2(b.ScheduledFunc, id, due)
		},
		ReconciledFunc: func(reason string) {
			call(a.ReconciledFunc, reason)
			call(b.ReconciledFunc, reason)
		},
		OutageFunc: func(dep string, up bool) {
			call2(a.OutageFunc, dep, up)
			call2(b.OutageFunc, dep, up)
		},
	}
}

func call[A any](f func(A), a A) {
	if f != nil {
		f(a)
	}
}

func call2[A, B any](f func(A, B), a A, b B) {
	if f != nil {
		f(a, b)
	}
}
