package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// devStack is everything `kiemv dev` runs in its process: an embedded Redis served on a
// loopback TCP port (so that other kiemv commands and a stand-alone Asynqmon can use it),
// the KIE simulator, a worker and the dashboard.
type devStack struct {
	redis    *miniredis.Miniredis
	simURL   string // "" with --real
	dashURL  string
	bw       *builtWorker
	closeMon func() error
	stopWork context.CancelFunc // stops the worker
	stopHTTP context.CancelFunc // stops the HTTP servers
	work     sync.WaitGroup
	http     sync.WaitGroup
}

// startDevStack starts the stack and points g at it (Redis URL, and unless --real the
// simulator's URL and key). On error, whatever was started is stopped again.
func startDevStack(ctx context.Context, g *globals, o devOptions) (_ *devStack, err error) {
	// The stack outlives ctx: stop() tears it down in order once runDev is done with it.
	wctx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	hctx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	st := &devStack{stopWork: stopWork, stopHTTP: stopHTTP}
	defer func() {
		if err != nil {
			st.stop(g)
		}
	}()
	if o.Real && g.APIKey == "" {
		return nil, errors.New("--real needs your KIE API key: set KIE_API_KEY (or pass --api-key); get one at https://kie.ai/api-key")
	}
	st.redis = miniredis.NewMiniRedis()
	st.redis.ClockTTL(true) // keys expire in real time, as on a real Redis
	if err := st.redis.StartAddr(o.ListenRedis); err != nil {
		return nil, fmt.Errorf("embedded Redis: listen on %s: %w; pick another --listen-redis", o.ListenRedis, err)
	}
	g.RedisURL = "redis://" + st.redis.Addr() + "/0"
	if !o.Real {
		ready := o.ReadyAfter
		if ready == 0 {
			ready = -1 // kiesim: negative means at once (zero means its default)
		}
		sim := kiesim.New(kiesim.Config{Video: demoMP4, ReadyAfter: ready, APIKey: devAPIKey})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("KIE simulator: %w", err)
		}
		st.simURL = "http://" + ln.Addr().String()
		st.goServe(hctx, g, "KIE simulator", &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}, ln)
		g.KIEBaseURL, g.APIKey = st.simURL, devAPIKey
	}
	wo := o.workerOptions()
	if st.bw, err = buildWorker(wctx, g, wo); err != nil {
		return nil, err
	}
	st.work.Add(1)
	go func() {
		defer st.work.Done()
		if err := st.bw.run(wctx, g, wo); err != nil {
			g.Log.Error("worker stopped", "error", err)
		}
	}()
	h, closeMon := newDashboardHandler(g, st.bw.conn, dashboardOptions{}, func(mux *http.ServeMux) {
		mux.Handle("GET /metrics", st.bw.metrics.handler())
	})
	st.closeMon = closeMon
	ln, err := listenFallback(o.DashboardAddr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: listen on %s: %w; pick another --dashboard-addr", o.DashboardAddr, err)
	}
	st.dashURL = "http://" + ln.Addr().String() + "/"
	st.goServe(hctx, g, "dashboard", newDashboardServer(h), ln)
	return st, nil
}

// goServe serves srv on ln until the stack stops.
func (st *devStack) goServe(ctx context.Context, g *globals, name string, srv *http.Server, ln net.Listener) {
	st.http.Add(1)
	go func() {
		defer st.http.Done()
		if err := serveGrace(ctx, srv, ln, time.Second); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.Log.Error(name+" stopped", "error", err)
		}
	}()
}

// stop shuts the worker down (in-flight tasks get its short shutdown timeout, then go back
// to the queue), then the HTTP servers, then closes the connections and the embedded Redis.
// Its data is gone after this.
func (st *devStack) stop(g *globals) {
	st.stopWork()
	waitGroup(g, &st.work, "the worker", 5*time.Second)
	st.stopHTTP()
	waitGroup(g, &st.http, "the HTTP servers", 3*time.Second)
	if st.closeMon != nil {
		st.closeMon()
	}
	if st.bw != nil {
		st.bw.conn.Close()
	}
	if st.redis != nil {
		st.redis.Close()
	}
}

// banner says where everything is and how to use it from other terminals.
func (st *devStack) banner(w io.Writer, g *globals, o devOptions) {
	dir, _ := filepath.Abs(g.DownloadDir)
	fmt.Fprintf(w, "kiemv dev: everything runs in this process, on loopback only\n")
	fmt.Fprintf(w, "  Redis (embedded)  %s\n", g.RedisURL)
	if st.simURL != "" {
		fmt.Fprintf(w, "  KIE simulator     %s (ready after %v)\n", st.simURL, o.ReadyAfter)
	} else {
		fmt.Fprintf(w, "  KIE API           %s (real tasks, real credits)\n", g.KIEBaseURL)
	}
	fmt.Fprintf(w, "  dashboard         %s  (followed tasks: %svideos, metrics: %smetrics)\n", st.dashURL, st.dashURL, st.dashURL)
	fmt.Fprintf(w, "  videos            %s\n", dir)
	fmt.Fprintf(w, "  other terminals   REDIS_URL=%s kiemv list   (or point asynqmon --redis-url at it)\n", g.RedisURL)
	if o.Real {
		fmt.Fprintf(w, "  submit            REDIS_URL=%s kiemv submit --task-id T --audio-id A\n", g.RedisURL)
		fmt.Fprintf(w, "WARNING: the embedded Redis lives in this process's memory: every followed task is FORGOTTEN\n"+
			"when kiemv dev exits (the files already downloaded stay). For real work run redis-server with\n"+
			"`kiemv worker` (see the Procfile).\n")
	}
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
	fmt.Fprintln(w)
}

// waitGroup waits for wg, but no longer than limit.
func waitGroup(g *globals, wg *sync.WaitGroup, what string, limit time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		g.Log.Warn("kiemv dev: "+what+" did not stop in time; exiting anyway", "waited", limit)
	}
}
