package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/dashboard"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/metrics"
	"github.com/kiemv/kiemv/store"
	"github.com/urfave/cli/v2"
)

func dashboardCommand() *cli.Command {
	return &cli.Command{
		Name:  "dashboard",
		Usage: "serve Asynqmon (queues and tasks) and /videos (followed tasks); loopback by default",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", EnvVars: []string{"KIEMV_DASHBOARD_LISTEN"}, Value: "127.0.0.1:8080", Usage: "address to serve on; a non-loopback one needs --basic-auth"},
			&cli.BoolFlag{Name: "read-only", EnvVars: []string{"KIEMV_DASHBOARD_READ_ONLY"}, Usage: "refuse every change (pause, delete, run, archive…) made through Asynqmon"},
			&cli.StringFlag{Name: "basic-auth", EnvVars: []string{"KIEMV_DASHBOARD_AUTH"}, Usage: "require HTTP basic auth as `user:password`"},
			&cli.StringSliceFlag{Name: "allowed-host", EnvVars: []string{"KIEMV_DASHBOARD_ALLOWED_HOSTS"}, Usage: "without --basic-auth, also accept this Host header (a reverse proxy's name; repeatable); loopback names always are"},
			&cli.BoolFlag{Name: "metrics", Usage: "serve Prometheus metrics of the queues and records at /metrics (otherwise /metrics is 404)"},
			&cli.StringFlag{Name: "prometheus-url", EnvVars: []string{"KIEMV_PROMETHEUS_URL"}, Usage: "Prometheus server scraping the workers' --metrics-addr; Asynqmon draws its graphs from it"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := readGlobals(c)
			if err != nil {
				return err
			}
			if err := noArgs(c); err != nil {
				return err
			}
			o := dashboard.Options{Listen: c.String("listen"), ReadOnly: c.Bool("read-only"),
				BasicAuth: c.String("basic-auth"), PrometheusURL: c.String("prometheus-url"), AllowedHosts: c.StringSlice("allowed-host")}
			if err := o.Check(); err != nil {
				return &usageError{err}
			}
			return runDashboard(c.Context, cfg, o, c.Bool("metrics"), c.App.Writer)
		},
	}
}

// runDashboard serves the dashboard until ctx ends.
func runDashboard(ctx context.Context, cfg app.Config, o dashboard.Options, withMetrics bool, stdout io.Writer) error {
	conn, err := cfg.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if withMetrics {
		o.Metrics = metrics.QueuesHandler(cfg.Records(conn), asynq.NewInspectorFromRedisClient(conn.Redis))
	}
	if store.IsBucketURL(cfg.DownloadDir) { // the videos are in a bucket: stream them from it
		if o.Files, err = cfg.Files(ctx); err != nil {
			return err
		}
	} else if fi, err := os.Stat(cfg.DownloadDir); err == nil && fi.IsDir() { // this machine holds videos: link them
		if o.Files, err = store.NewDir(cfg.DownloadDir); err != nil {
			return err
		}
	}
	h, closeFunc := dashboard.New(conn.Opt, cfg.Records(conn), cfg.Log, o)
	defer closeFunc()
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("dashboard: listen on %s: %w; pick another --listen address", o.Listen, err)
	}
	fmt.Fprintf(stdout, "dashboard on http://%s/ (Asynqmon; followed tasks at /videos)\n", ln.Addr())
	cfg.Log.Info("dashboard started", "addr", ln.Addr().String(), "redis", app.RedactURL(cfg.RedisURL),
		"read_only", o.ReadOnly, "basic_auth", o.BasicAuth != "", "prometheus", o.PrometheusURL)
	return app.Serve(ctx, dashboard.NewServer(h), ln, 2*time.Second)
}
