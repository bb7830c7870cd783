package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
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
			cfg, err := readGlobals(c)
			if err != nil {
				return err
			}
			if err := noArgs(c); err != nil {
				return err
			}
			o := callbacksOptions{Listen: c.String("listen"), Path: c.String("path"), Key: c.String("hmac-key"),
				Insecure: c.Bool("insecure-no-signature")}
			if err := o.validate(); err != nil {
				return err
			}
			return runCallbacks(c.Context, cfg, o, c.App.Writer)
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
	case !strings.HasPrefix(o.Path, "/") || o.Path == "/" || o.Path == app.HealthzPath || strings.ContainsAny(o.Path, " ?#{}"):
		return usagef("--path %q: use an absolute URL path other than / and %s, such as /kie/mp4", o.Path, app.HealthzPath)
	}
	return nil
}

// runCallbacks serves the callback endpoint until ctx ends (SIGINT/SIGTERM).
func runCallbacks(ctx context.Context, cfg app.Config, o callbacksOptions, stdout io.Writer) error {
	conn, svc, err := cfg.ConnectService(ctx, app.ServiceOptions{}) // waking only enqueues: no KIE key needed
	if err != nil {
		return err
	}
	defer conn.Close()
	var key []byte
	if o.Key != "" {
		key = []byte(o.Key)
	} else {
		cfg.Log.Warn("callback signatures are NOT verified (--insecure-no-signature): anyone who can reach this server can make kiemv poll tasks")
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("callbacks: listen on %s: %w; pick another --listen address", o.Listen, err)
	}
	srv := app.CallbackServer(cfg.CallbackReceiver(conn, svc, o.Path, key))
	fmt.Fprintf(stdout, "kiemv callbacks on http://%s%s (health: http://%s%s)\n", ln.Addr(), o.Path, ln.Addr(), app.HealthzPath)
	cfg.Log.Info("callbacks started", "listen", ln.Addr().String(), "path", o.Path, "verified", o.Key != "",
		"redis", app.RedactURL(cfg.RedisURL), "poll_queue", svc.Queues.Poll)
	err = app.Serve(ctx, srv, ln, 5*time.Second)
	cfg.Log.Info("callbacks stopped")
	return err
}
