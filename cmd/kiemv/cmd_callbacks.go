package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/urfave/cli/v2"
)

// envWebhookKey names the environment variable holding KIE's webhookHmacKey.
const envWebhookKey = "KIEMV_WEBHOOK_HMAC_KEY"

// callbacksOptions are the flags of `kiemv callbacks`.
type callbacksOptions struct {
	Listen   string
	Path     string
	Key      string // never logged
	Insecure bool
}

func callbacksCommand() *cli.Command {
	return &cli.Command{
		Name:  "callbacks",
		Usage: "receive KIE's MP4 callbacks (verified with HMAC) and poll those tasks at once",
		Description: "Run it behind a reverse proxy that gives it a public HTTPS URL, and pass that URL to\n" +
			"`kiemv submit --callback-url`. A verified callback only wakes the task's poll: KIE's\n" +
			"record-info stays the source of truth, and polling stays on as the safety net.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", EnvVars: []string{"KIEMV_CALLBACKS_LISTEN"}, Value: "127.0.0.1:8081", Usage: "address to serve on"},
			&cli.StringFlag{Name: "path", Value: "/kie/mp4", Usage: "URL path of the callback endpoint"},
			&cli.StringFlag{Name: "hmac-key", EnvVars: []string{envWebhookKey}, Usage: "KIE's webhookHmacKey, to verify X-Webhook-Signature (never logged)"},
			&cli.BoolFlag{Name: "insecure-no-signature", Usage: "accept unsigned callbacks (only on a trusted network)"},
		},
		Action: func(c *cli.Context) error {
			g, err := readGlobals(c)
			if err != nil {
				return err
			}
			if c.NArg() > 0 {
				return usagef("callbacks takes no arguments, got %q", c.Args().First())
			}
			o := callbacksOptions{Listen: c.String("listen"), Path: c.String("path"), Key: c.String("hmac-key"),
				Insecure: c.Bool("insecure-no-signature")}
			return runCallbacks(c.Context, g, o, c.App.Writer)
		},
	}
}

// validate checks the options before anything is opened.
func (o callbacksOptions) validate() error {
	switch {
	case o.Key == "" && !o.Insecure:
		return usagef("callbacks needs KIE's webhook HMAC key to verify callbacks: set %s (or pass --hmac-key), or pass --insecure-no-signature on a trusted network", envWebhookKey)
	case o.Key != "" && o.Insecure:
		return usagef("--insecure-no-signature and an HMAC key (--hmac-key or %s) exclude each other", envWebhookKey)
	case !strings.HasPrefix(o.Path, "/") || o.Path == "/" || o.Path == healthzPath || strings.ContainsAny(o.Path, " ?#{}"):
		return usagef("--path %q: use an absolute URL path other than / and %s, such as /kie/mp4", o.Path, healthzPath)
	}
	return nil
}

// healthzPath answers GET with 200 while the server runs (for the proxy or an orchestrator).
const healthzPath = "/healthz"

// runCallbacks serves the callback endpoint until ctx ends (SIGINT/SIGTERM).
func runCallbacks(ctx context.Context, g *globals, o callbacksOptions, stdout io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	conn, svc, err := g.connectService(ctx, false) // waking only enqueues: no KIE key needed
	if err != nil {
		return err
	}
	defer conn.Close()
	hook := &jobs.Webhook{Waker: svc, Replay: store.NewReplayGuard(conn.rdb, g.Namespace), Log: g.Log}
	if o.Key != "" {
		hook.Key = []byte(o.Key)
	} else {
		g.Log.Warn("callback signatures are NOT verified (--insecure-no-signature): anyone who can reach this server can make kiemv poll tasks")
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("callbacks: listen on %s: %w; pick another --listen address", o.Listen, err)
	}
	srv := callbacksServer(callbacksMux(o.Path, hook))
	fmt.Fprintf(stdout, "kiemv callbacks on http://%s%s (health: http://%s%s)\n", ln.Addr(), o.Path, ln.Addr(), healthzPath)
	g.Log.Info("callbacks started", "listen", ln.Addr().String(), "path", o.Path, "verified", o.Key != "",
		"redis", redactURL(g.RedisURL), "poll_queue", svc.Queues.Poll)
	err = serveGrace(ctx, srv, ln, 5*time.Second)
	g.Log.Info("callbacks stopped")
	return err
}

// callbacksServer is the HTTP server of the callback endpoint. It faces the internet (through
// a proxy), so slow clients are cut off: headers within 5 s, the whole request within 10 s.
func callbacksServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
}

// callbacksMux routes the callback path to hook and GET /healthz to a liveness answer;
// anything else is 404.
func callbacksMux(path string, hook http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(path, hook)
	mux.HandleFunc(healthzPath, func(w http.ResponseWriter, r *http.Request) {
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
