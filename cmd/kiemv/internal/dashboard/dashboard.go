// Package dashboard is kiemv's web UI: Asynqmon for queues and tasks, /videos for the followed
// records, and optionally /metrics, behind an optional password, a read-only switch and a
// cross-origin guard.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
)

// Options are the settings of a dashboard (the flags of `kiemv dashboard`).
type Options struct {
	Listen        string
	ReadOnly      bool
	BasicAuth     string       // "user:password", "" for none
	PrometheusURL string       // a Prometheus server that scrapes the workers' --metrics-addr
	Metrics       http.Handler // served at /metrics when set (kiemv dev serves its worker's); else 404
	AllowedHosts  []string     // Host names accepted besides loopback ones, without BasicAuth (a reverse proxy's)
	Files         jobs.Files   // the download destination (this machine's directory, or a bucket): /videos links and serves its files
}

// Timeout bounds every request: with Redis down, a page answers 503 within it instead of
// hanging while Redis's clients retry.
const Timeout = 3 * time.Second

// Check validates the options: a well-formed user:password, a Prometheus http(s) URL, and
// no address reachable from other machines without a password.
func (o Options) Check() error {
	if o.BasicAuth != "" {
		if u, p, ok := strings.Cut(o.BasicAuth, ":"); !ok || u == "" || p == "" {
			return errors.New("--basic-auth (or KIEMV_DASHBOARD_AUTH) must be user:password with both parts non-empty")
		}
	}
	if o.PrometheusURL != "" {
		if u, err := url.Parse(o.PrometheusURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--prometheus-url %q must be an http(s) URL such as http://127.0.0.1:9090", o.PrometheusURL)
		}
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return fmt.Errorf("--listen %q is not host:port: %v", o.Listen, err)
	}
	if !IsLoopback(o.Listen) && o.BasicAuth == "" {
		return fmt.Errorf("--listen %s is reachable from other machines: set --basic-auth user:password (or KIEMV_DASHBOARD_AUTH), or listen on 127.0.0.1", o.Listen)
	}
	return nil
}

// IsLoopback reports whether addr (host:port) only accepts connections from this machine.
func IsLoopback(addr string) bool {
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

// New mounts Asynqmon at / and the followed-tasks pages at /videos and /videos.json (and
// /metrics when o.Metrics is set), behind basic auth when configured and a cross-origin (CSRF)
// guard. Asynqmon reads the queues through redis; closeFunc releases its Redis clients.
func New(redis asynq.RedisConnOpt, recs *store.Records, log *slog.Logger, o Options) (h http.Handler, closeFunc func() error) {
	mon := asynqmon.New(asynqmon.Options{RootPath: "/", RedisConnOpt: redis, ReadOnly: o.ReadOnly,
		PayloadFormatter: asynqmon.PayloadFormatterFunc(formatPayload), PrometheusAddress: o.PrometheusURL})
	v := &videosPage{recs: recs, files: o.Files, log: log}
	mux := http.NewServeMux()
	mux.Handle("/", mon)
	mux.HandleFunc("GET /videos", v.serveHTML)
	mux.HandleFunc("GET /videos.json", v.serveJSON)
	mux.HandleFunc("GET /videos/file/{file}", v.serveFile)
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	} else {
		mux.Handle("/metrics", http.NotFoundHandler()) // not Asynqmon's page: a scraper must see the truth
	}
	h = http.TimeoutHandler(mux, Timeout, "kiemv dashboard: Redis did not answer within 3 s; is it running? (see the dashboard's log)")
	h = http.NewCrossOriginProtection().Handler(h)
	if o.BasicAuth != "" {
		h = basicAuth(h, o.BasicAuth)
	} else {
		h = hostCheck(h, o.Listen, o.AllowedHosts)
	}
	return h, mon.Close
}

// NewServer returns an http.Server with timeouts suitable for the dashboard.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
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

// ListenFallback listens on addr or, when that port is taken, on any free port of the same
// host (kiemv dev must start even when 8080 is busy).
func ListenFallback(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		return ln, err
	}
	host, _, _ := net.SplitHostPort(addr)
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}

// HumanBytes formats n as B, KiB, MiB or GiB.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 2 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMG"[i])
}
