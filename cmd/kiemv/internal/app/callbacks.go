package app

import (
	"io"
	"net/http"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
)

// HealthzPath answers GET with 200 while the callback receiver runs (for a proxy or an
// orchestrator).
const HealthzPath = "/healthz"

// CallbackReceiver is the handler of `kiemv callbacks`: KIE's POSTs to path are verified with
// key (nil: unsigned callbacks are accepted), deduplicated in Redis and wake the task's poll
// through svc; GET /healthz answers 200; anything else is 404.
func (c Config) CallbackReceiver(conn *Conn, svc *jobs.Service, path string, key []byte) http.Handler {
	hook := &jobs.Webhook{Waker: svc, Replay: store.NewReplayGuard(conn.Redis, c.Namespace), Log: c.Log, Key: key}
	mux := http.NewServeMux()
	mux.Handle(path, hook)
	mux.HandleFunc(HealthzPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// CallbackServer is the HTTP server of the callback receiver. It faces the internet (through
// a proxy), so slow clients are cut off: headers within 5 s, the whole request within 10 s.
func CallbackServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
}
