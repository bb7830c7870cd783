package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynqmon"
	"github.com/urfave/cli/v2"
)

// dashboardOptions are the flags of `kiemv dashboard`.
type dashboardOptions struct {
	Listen        string
	ReadOnly      bool
	BasicAuth     string // "user:password", "" for none
	PrometheusURL string // a Prometheus server that scrapes the workers' --metrics-addr
}

func dashboardCommand() *cli.Command {
	return &cli.Command{
		Name:  "dashboard",
		Usage: "serve Asynqmon (queues and tasks) and /videos (followed tasks); loopback by default",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", EnvVars: []string{"KIEMV_DASHBOARD_LISTEN"}, Value: "127.0.0.1:8080", Usage: "address to serve on; a non-loopback one needs --basic-auth"},
			&cli.BoolFlag{Name: "read-only", EnvVars: []string{"KIEMV_DASHBOARD_READ_ONLY"}, Usage: "refuse every change (pause, delete, run, archive…) made through Asynqmon"},
			&cli.StringFlag{Name: "basic-auth", EnvVars: []string{"KIEMV_DASHBOARD_AUTH"}, Usage: "require HTTP basic auth as `user:password`"},
			&cli.StringFlag{Name: "prometheus-url", EnvVars: []string{"KIEMV_PROMETHEUS_URL"}, Usage: "Prometheus server scraping the workers' --metrics-addr; Asynqmon draws its graphs from it"},
		},
		Action: func(c *cli.Context) error {
			g, err := readGlobals(c)
			if err != nil {
				return err
			}
			if c.NArg() > 0 {
				return usagef("dashboard takes no arguments, got %q", c.Args().First())
			}
			o := dashboardOptions{Listen: c.String("listen"), ReadOnly: c.Bool("read-only"),
				BasicAuth: c.String("basic-auth"), PrometheusURL: c.String("prometheus-url")}
			return runDashboard(c.Context, g, o, c.App.Writer)
		},
	}
}

// check validates the options: a well-formed user:password, a Prometheus http(s) URL, and
// no address reachable from other machines without a password.
func (o dashboardOptions) check() error {
	if o.BasicAuth != "" {
		if u, p, ok := strings.Cut(o.BasicAuth, ":"); !ok || u == "" || p == "" {
			return usagef("--basic-auth (or KIEMV_DASHBOARD_AUTH) must be user:password with both parts non-empty")
		}
	}
	if o.PrometheusURL != "" {
		if u, err := url.Parse(o.PrometheusURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--prometheus-url %q must be an http(s) URL such as http://127.0.0.1:9090", o.PrometheusURL)
		}
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return usagef("--listen %q is not host:port: %v", o.Listen, err)
	}
	if !isLoopback(o.Listen) && o.BasicAuth == "" {
		return usagef("--listen %s is reachable from other machines: set --basic-auth user:password (or KIEMV_DASHBOARD_AUTH), or listen on 127.0.0.1", o.Listen)
	}
	return nil
}

// isLoopback reports whether addr (host:port) only accepts connections from this machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// runDashboard serves the dashboard until ctx ends.
func runDashboard(ctx context.Context, g *globals, o dashboardOptions, stdout io.Writer) error {
	if err := o.check(); err != nil {
		return err
	}
	conn, err := g.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	h, closeFunc := newDashboardHandler(g, conn, o, nil)
	defer closeFunc()
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("dashboard: listen on %s: %w; pick another --listen address", o.Listen, err)
	}
	fmt.Fprintf(stdout, "dashboard on http://%s/ (Asynqmon; followed tasks at /videos)\n", ln.Addr())
	g.Log.Info("dashboard started", "addr", ln.Addr().String(), "redis", redactURL(g.RedisURL),
		"read_only", o.ReadOnly, "basic_auth", o.BasicAuth != "", "prometheus", o.PrometheusURL)
	return serveGrace(ctx, newDashboardServer(h), ln, 2*time.Second)
}

// serveGrace runs srv on ln until ctx ends, then gives requests in flight grace to finish and
// closes every connection (a browser's pre-opened, still unused connections would otherwise
// hold a graceful shutdown for five seconds).
func serveGrace(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	return nil
}

// newDashboardServer returns an http.Server with timeouts suitable for the dashboard.
func newDashboardServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}

// newDashboardHandler mounts Asynqmon at / and the followed-tasks pages at /videos and
// /videos.json, plus whatever extra adds (kiemv dev adds /metrics), behind basic auth when
// configured and a cross-origin (CSRF) guard. closeFunc releases Asynqmon's Redis clients.
func newDashboardHandler(g *globals, conn *redisConn, o dashboardOptions, extra func(*http.ServeMux)) (h http.Handler, closeFunc func() error) {
	mon := asynqmon.New(asynqmon.Options{RootPath: "/", RedisConnOpt: conn.opt, ReadOnly: o.ReadOnly,
		PayloadFormatter: asynqmon.PayloadFormatterFunc(formatPayload), PrometheusAddress: o.PrometheusURL})
	v := &videosPage{recs: g.records(conn), log: g.Log}
	mux := http.NewServeMux()
	mux.Handle("/", mon)
	mux.HandleFunc("GET /videos", v.serveHTML)
	mux.HandleFunc("GET /videos.json", v.serveJSON)
	if extra != nil {
		extra(mux)
	}
	h = http.NewCrossOriginProtection().Handler(mux)
	if o.BasicAuth != "" {
		h = basicAuth(h, o.BasicAuth)
	}
	return h, mon.Close
}

// formatPayload pretty-prints JSON payloads for Asynqmon (kiemv's payloads hold only the MP4
// task id: no secrets).
func formatPayload(taskType string, payload []byte) string {
	var b bytes.Buffer
	if json.Indent(&b, payload, "", "  ") == nil {
		return b.String()
	}
	return asynqmon.DefaultPayloadFormatter.FormatPayload(taskType, payload)
}

// basicAuth requires the user:password in creds on every request. Both parts are compared
// in constant time (over their hashes, so that lengths leak nothing either).
func basicAuth(next http.Handler, creds string) http.Handler {
	wantUser, wantPass, _ := strings.Cut(creds, ":")
	wu, wp := sha256.Sum256([]byte(wantUser)), sha256.Sum256([]byte(wantPass))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		gu, gp := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
		userOK := subtle.ConstantTimeCompare(gu[:], wu[:])
		passOK := subtle.ConstantTimeCompare(gp[:], wp[:])
		if !ok || userOK&passOK != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="kiemv dashboard", charset="UTF-8"`)
			http.Error(w, "kiemv dashboard: authentication required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// listenFallback listens on addr or, when that port is taken, on any free port of the same
// host (kiemv dev must start even when 8080 is busy).
func listenFallback(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		return ln, err
	}
	host, _, _ := net.SplitHostPort(addr)
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}
