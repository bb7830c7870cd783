package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
)

// benchKey is the API key the bench's KIE client sends; the simulators accept any key.
const benchKey = "kiemv-bench-key"

// benchEnv is what the scenarios share.
type benchEnv struct {
	redis  *benchRedis
	o      Options
	log    *slog.Logger // the workers' logs: warnings and errors only
	tmp    string       // scratch directory for downloads
	stderr io.Writer
}

// benchWorker is a real worker, built by app.BuildWorker exactly as `kiemv worker` builds its
// own, on one scenario's namespace, with its poll handler's KIE client wrapped in a probe.
type benchWorker struct {
	cfg       app.Config
	w         *app.Worker
	svc       *jobs.Service
	recs      *store.Records
	dir       *store.Dir
	probe     *probe
	downloads chan downloadDone // each download attempt's result, when the spec asks for them
	stop      context.CancelFunc
	done      chan struct{}
	ns        string
	closed    bool
}

// workerSpec is what differs between the scenarios' workers.
type workerSpec struct {
	ns          string
	simURL      string
	dir         string // download directory
	recordLimit int    // record-info calls per second, shared limit
	maxBytes    int64
	downloads   int  // download concurrency
	report      bool // send each download attempt's result to benchWorker.downloads
}

// newWorker builds (but does not start) a worker for spec.
func (e *benchEnv) newWorker(ctx context.Context, spec workerSpec) (*benchWorker, error) {
	cfg := app.Config{RedisURL: e.redis.URL, KIEBaseURL: spec.simURL, APIKey: benchKey, DownloadDir: spec.dir,
		Namespace: spec.ns, KIETimeout: 20 * time.Second, CreateLimit: 18, RecordLimit: spec.recordLimit, Log: e.log}
	dir, err := store.NewDir(spec.dir)
	if err != nil {
		return nil, err
	}
	b := &benchWorker{cfg: cfg, dir: dir, ns: spec.ns}
	hooks := &jobs.Hooks{ScheduledFunc: func(id string, due time.Time) { b.probe.scheduled(id, due) }}
	if spec.report {
		b.downloads = make(chan downloadDone, 8)
		hooks.DownloadFunc = func(n int64, d time.Duration, err error) { b.downloads <- downloadDone{n, d, err} }
	}
	opt := app.WorkerOptions{Hooks: hooks, WrapPollKIE: func(k jobs.Details) jobs.Details {
		b.probe = newProbe(k)
		return b.probe
	}}
	if b.w, err = app.BuildWorker(ctx, cfg, e.workerConfig(spec), opt); err != nil {
		return nil, err
	}
	client, err := cfg.KIEClient()
	if err != nil {
		b.w.Conn.Close()
		return nil, err
	}
	if b.svc, err = cfg.Service(b.w.Conn, client, app.ServiceOptions{}); err != nil {
		b.w.Conn.Close()
		return nil, err
	}
	b.recs = cfg.Records(b.w.Conn)
	return b, nil
}

func (e *benchEnv) workerConfig(spec workerSpec) app.WorkerConfig {
	return app.WorkerConfig{Concurrency: e.o.Concurrency, DownloadConcurrency: max(spec.downloads, 1),
		PollInterval: e.o.Interval, PollTimeout: 2 * time.Hour, NotFoundGrace: 2 * time.Minute,
		MaxVideoBytes: max(spec.maxBytes, 4<<30), ShutdownTimeout: 5 * time.Second, MaxBackoff: 5 * time.Minute}
}

// start runs the worker until Close.
func (w *benchWorker) start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.stop, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		if err := w.w.Worker.Run(ctx); err != nil {
			w.cfg.Log.Error("bench worker stopped", "error", err)
		}
	}()
}

// Close stops the worker (if started), deletes the namespace's keys and disconnects.
func (w *benchWorker) Close(e *benchEnv) {
	if w.closed {
		return
	}
	w.closed = true
	if w.stop != nil {
		w.stop()
		<-w.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.redis.clean(ctx, w.ns)
	w.w.Conn.Close()
}

// halt stops the worker (if started) and disconnects, leaving its namespace's keys for the
// next worker on them (the paired windows start a fresh one each time).
func (w *benchWorker) halt() {
	if w.closed {
		return
	}
	w.closed = true
	if w.stop != nil {
		w.stop()
		<-w.done
	}
	w.w.Conn.Close()
}

// trackAll follows every id (as `kiemv track` does) from 16 goroutines, the first poll of
// the i-th id due after delay(i), and tells the probe when each was followed.
func (w *benchWorker) trackAll(ctx context.Context, ids []string, delay func(i int) time.Duration) error {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d := delay(i)
				w.probe.follow(ids[i], time.Now().Add(d))
				if _, _, err := w.svc.Track(ctx, ids[i], d); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("bench: track: %w", err)
	default:
		return nil
	}
}

// waitTerminal waits until none of the namespace's records is pending, ready or downloading,
// or until limit; it reports whether they all ended.
func (w *benchWorker) waitTerminal(ctx context.Context, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		counts, err := w.recs.Counts(ctx)
		if err == nil && counts[jobs.StatePending]+counts[jobs.StateReady]+counts[jobs.StateDownloading] == 0 {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}
