package dev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/dashboard"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
)

// stack is everything `kiemv dev` runs in its process: an embedded Redis served on a
// loopback TCP port (so that other kiemv commands and a stand-alone Asynqmon can use it),
// the KIE simulator, a worker and the dashboard.
type stack struct {
	cfg      app.Config // pointed at the embedded Redis and, unless --real, the simulator
	out      io.Writer  // stdout: the banner and progress lines
	redis    *miniredis.Miniredis
	simURL   string // "" with --real
	dashURL  string
	worker   *app.Worker
	recs     *store.Records
	closeMon func() error
	stopWork context.CancelFunc // stops the worker
	stopHTTP context.CancelFunc // stops the HTTP servers
	work     sync.WaitGroup
	http     sync.WaitGroup
}

// startStack starts the stack for cfg. On error, whatever was started is stopped again.
func startStack(ctx context.Context, cfg app.Config, o Options) (_ *stack, err error) {
	// The stack outlives ctx: stop() tears it down in order once Run is done with it.
	wctx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	hctx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	st := &stack{stopWork: stopWork, stopHTTP: stopHTTP}
	defer func() {
		if err != nil {
			st.stop()
		}
	}()
	st.redis = miniredis.NewMiniRedis()
	st.redis.ClockTTL(true) // keys expire in real time, as on a real Redis
	if err := st.redis.StartAddr(o.ListenRedis); err != nil {
		return nil, fmt.Errorf("embedded Redis: listen on %s: %w; pick another --listen-redis", o.ListenRedis, err)
	}
	cfg.RedisURL = "redis://" + st.redis.Addr() + "/0"
	if !o.Real {
		ready := o.ReadyAfter
		if ready == 0 {
			ready = -1 // kiesim: negative means at once (zero means its default)
		}
		sim := kiesim.New(kiesim.Config{Video: DemoVideo(o.VideoSize), ReadyAfter: ready, APIKey: APIKey})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("KIE simulator: %w", err)
		}
		st.simURL = "http://" + ln.Addr().String()
		st.goServe(hctx, cfg.Log, "KIE simulator", &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}, ln)
		cfg.KIEBaseURL, cfg.APIKey = st.simURL, APIKey
	}
	st.cfg = cfg
	if st.worker, err = app.BuildWorker(wctx, cfg, o.workerConfig(), app.WorkerOptions{}); err != nil {
		return nil, err
	}
	st.recs = cfg.Records(st.worker.Conn)
	st.work.Add(1)
	go func() {
		defer st.work.Done()
		if err := st.worker.Run(wctx); err != nil {
			cfg.Log.Error("worker stopped", "error", err)
		}
	}()
	files, err := cfg.Files(wctx) // a directory, or a bucket URL like the worker's
	if err != nil {
		return nil, err
	}
	h, closeMon := dashboard.New(st.worker.Conn.Opt, st.recs, cfg.Log, dashboard.Options{Metrics: st.worker.Metrics.Handler(), Files: files})
	st.closeMon = closeMon
	ln, err := dashboard.ListenFallback(o.DashboardAddr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: listen on %s: %w; pick another --dashboard-addr", o.DashboardAddr, err)
	}
	st.dashURL = "http://" + ln.Addr().String() + "/"
	st.goServe(hctx, cfg.Log, "dashboard", dashboard.NewServer(h), ln)
	return st, nil
}

// goServe serves srv on ln until the stack stops.
func (st *stack) goServe(ctx context.Context, log *slog.Logger, name string, srv *http.Server, ln net.Listener) {
	st.http.Add(1)
	go func() {
		defer st.http.Done()
		if err := app.Serve(ctx, srv, ln, time.Second); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(name+" stopped", "error", err)
		}
	}()
}

// stop shuts the worker down (in-flight tasks get its short shutdown timeout, then go back
// to the queue), then the HTTP servers, then closes the connections and the embedded Redis.
// Its data is gone after this.
func (st *stack) stop() {
	st.stopWork()
	st.waitGroup(&st.work, "the worker", 5*time.Second)
	st.stopHTTP()
	st.waitGroup(&st.http, "the HTTP servers", 3*time.Second)
	if st.closeMon != nil {
		st.closeMon()
	}
	if st.worker != nil {
		st.worker.Conn.Close()
	}
	if st.redis != nil {
		st.redis.Close()
	}
}

// banner says where everything is and how to use it from other terminals.
func (st *stack) banner(w io.Writer, o Options) {
	cfg := st.cfg
	dir, _ := filepath.Abs(cfg.DownloadDir)
	if store.IsBucketURL(cfg.DownloadDir) {
		dir = cfg.Destination()
	}
	fmt.Fprintf(w, "kiemv dev: everything runs in this process, on loopback only\n")
	fmt.Fprintf(w, "  Redis (embedded)  %s\n", cfg.RedisURL)
	if st.simURL != "" {
		fmt.Fprintf(w, "  KIE simulator     %s (ready after %v)\n", st.simURL, o.ReadyAfter)
	} else {
		fmt.Fprintf(w, "  KIE API           %s (real tasks, real credits)\n", cfg.KIEBaseURL)
	}
	fmt.Fprintf(w, "  dashboard         %s  (followed tasks: %svideos, metrics: %smetrics)\n", st.dashURL, st.dashURL, st.dashURL)
	fmt.Fprintf(w, "  videos            %s\n", dir)
	fmt.Fprintf(w, "  other terminals   REDIS_URL=%s kiemv list   (or point asynqmon --redis-url at it)\n", cfg.RedisURL)
	if st.simURL != "" {
		fmt.Fprintf(w, "  paste there       export REDIS_URL=%s KIE_BASE_URL=%s KIE_API_KEY=%s\n", cfg.RedisURL, st.simURL, APIKey)
	} else {
		fmt.Fprintf(w, "  paste there       export REDIS_URL=%s   (and your KIE_API_KEY)\n", cfg.RedisURL)
	}
	if o.Real {
		fmt.Fprintf(w, "  submit            REDIS_URL=%s kiemv submit --task-id T --audio-id A\n", cfg.RedisURL)
		fmt.Fprintf(w, "WARNING: the embedded Redis lives in this process's memory: every followed task is FORGOTTEN\n"+
			"when kiemv dev exits (the files already downloaded stay). For real work run redis-server with\n"+
			"`kiemv worker` (see the Procfile).\n")
	}
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
	fmt.Fprintln(w)
}

// waitGroup waits for wg, but no longer than limit.
func (st *stack) waitGroup(wg *sync.WaitGroup, what string, limit time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		st.cfg.Log.Warn("kiemv dev: "+what+" did not stop in time; exiting anyway", "waited", limit)
	}
}
