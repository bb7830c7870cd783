package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
)

// WorkerConfig configures a worker process: two Asynq servers on one Redis, one for polls and
// one for downloads, so that large downloads never take the slots polls need.
type WorkerConfig struct {
	Redis               asynq.RedisConnOpt
	Queues              Queues
	PollConcurrency     int           // concurrent polls (default 50)
	DownloadConcurrency int           // concurrent downloads (default 4)
	PollInterval        time.Duration // used to pick how often due tasks are looked for
	ShutdownTimeout     time.Duration // how long in-flight tasks may finish on stop (default 10s)
	Backoff             Backoff
	Log                 *slog.Logger
	Songs               *SongPoller // handles song:poll tasks on the poll queue (nil: none)
}

// Worker runs the poll and download handlers, and the reconciler.
type Worker struct {
	poll, download *asynq.Server
	poller         *Poller
	songs          *SongPoller
	downloader     *Downloader
	reconciler     *Reconciler
	stopWithin     time.Duration // how long Run waits for the servers to stop
	log            *slog.Logger
}

// stopSlack is what Run allows past the shutdown timeout for the servers to hand their tasks
// back; past it (Redis unreachable: every write retries) Run returns anyway.
const stopSlack = 5 * time.Second

// NewWorker builds a worker; Run starts it. r may be nil (no reconciler).
func NewWorker(cfg WorkerConfig, p *Poller, d *Downloader, r *Reconciler) *Worker {
	if cfg.PollConcurrency <= 0 {
		cfg.PollConcurrency = 50
	}
	if cfg.DownloadConcurrency <= 0 {
		cfg.DownloadConcurrency = 4
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	log := ambientOf(cfg.Log, nil).log
	// How often scheduled and retry tasks are moved to pending bounds poll lateness: take a
	// tenth of the interval, between 50ms and 1s.
	check := min(max(cfg.PollInterval/10, 50*time.Millisecond), time.Second)
	base := asynq.Config{
		RetryDelayFunc:           cfg.Backoff.RetryDelay,
		IsFailure:                IsFailure,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		DelayedTaskCheckInterval: check,
		TaskCheckInterval:        min(check, 200*time.Millisecond),
		Logger:                   asynqLogger{log},
		LogLevel:                 asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			if IsFailure(err) {
				log.Warn("task attempt failed", "type", t.Type(), "payload", string(t.Payload()), "error", err)
			}
			switch {
			case !archives(ctx, err):
			case t.Type() == TypeSongPoll && cfg.Songs != nil:
				abandonSong(ctx, cfg.Songs.Songs, log, t, err)
			default:
				abandon(ctx, p.Store, log, t, err)
			}
		}),
	}
	pc, dc := base, base
	pc.Concurrency, pc.Queues = cfg.PollConcurrency, map[string]int{cfg.Queues.Poll: 1}
	dc.Concurrency, dc.Queues = cfg.DownloadConcurrency, map[string]int{cfg.Queues.Download: 1}
	return &Worker{poll: asynq.NewServer(cfg.Redis, pc), download: asynq.NewServer(cfg.Redis, dc), poller: p, songs: cfg.Songs, downloader: d, reconciler: r,
		stopWithin: cfg.ShutdownTimeout + stopSlack, log: log}
}

// Run serves until ctx ends, then stops taking tasks, lets in-flight ones finish within the
// shutdown timeout (or hands them back to the queue), and returns.
func (w *Worker) Run(ctx context.Context) error {
	pm := asynq.NewServeMux()
	pm.Handle(TypePoll, w.poller)
	if w.songs != nil {
		pm.Handle(TypeSongPoll, w.songs)
	}
	dm := asynq.NewServeMux()
	dm.Handle(TypeDownload, w.downloader)
	if err := w.poll.Start(pm); err != nil {
		return fmt.Errorf("start poll server: %w", err)
	}
	if err := w.download.Start(dm); err != nil {
		w.poll.Shutdown()
		return fmt.Errorf("start download server: %w", err)
	}
	reconciled, probed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(reconciled)
		if w.reconciler != nil {
			w.reconciler.Run(ctx)
		}
	}()
	go func() {
		defer close(probed)
		w.poller.Breaker.Run(ctx) // the downloader shares it, or has none of KIE's to probe
	}()
	<-ctx.Done()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-reconciled
		<-probed
		done := make(chan struct{})
		go func() { w.poll.Shutdown(); close(done) }()
		w.download.Shutdown()
		<-done
	}()
	select {
	case <-stopped:
	case <-time.After(w.stopWithin):
		// In-flight tasks whose end could not be written are recovered by Asynq's lease
		// expiry, and lost ones by the reconciler: nothing is lost by leaving now.
		w.log.Warn("workers did not stop in time (is Redis reachable?); exiting anyway", "waited", w.stopWithin)
	}
	return nil
}

// asynqLogger sends Asynq's own log lines to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
