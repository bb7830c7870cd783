// Package dev is `kiemv dev`: the zero-setup stack (embedded Redis, KIE simulator, worker and
// dashboard in one process), its live terminal display and its closing summary.
package dev

import (
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/jobs"
)

// demoMP4 is the clip the simulator serves for every demo task: 3 s of 320x180 H.264 test
// pattern with an AAC tone, faststart, small enough to embed.
//
//go:embed demo.mp4
var demoMP4 []byte

// APIKey is the key the dev stack's simulator insists on (it never reaches the real KIE).
const APIKey = "kiemv-dev-simulator-key"

// ErrNotAllDownloaded is Run's error with ExitWhenDone when a task ended without a file.
var ErrNotAllDownloaded = errors.New("kiemv dev: not every task was downloaded (see the table above)")

// Options are the flags of `kiemv dev`, validated by the CLI.
type Options struct {
	Demo          int      // demo videos to submit to the simulator
	ExitWhenDone  bool     // return once every demo or tracked task is terminal
	Real          bool     // the real KIE API instead of the simulator
	Track         []string // with Real: existing MP4 task ids to follow
	ListenRedis   string   // loopback address of the embedded Redis
	DashboardAddr string   // loopback address of the dashboard (another port if taken)
	ReadyAfter    time.Duration
	PollInterval  time.Duration
	VideoSize     int64  // bytes of each demo video (0: the 42 KiB clip as it is)
	LogFormat     string // text or json: a terminal in text gets the live view
}

// workerConfig is `kiemv worker`'s defaults, tuned for a demo.
func (o Options) workerConfig() app.WorkerConfig {
	return app.WorkerConfig{Concurrency: 20, DownloadConcurrency: 4, PollInterval: o.PollInterval,
		PollTimeout: 2 * time.Hour, NotFoundGrace: 2 * time.Minute, MaxVideoBytes: 4 << 30,
		ShutdownTimeout: 2 * time.Second, MaxBackoff: 5 * time.Minute}
}

// Run starts the stack, submits or tracks the tasks, follows them on stdout and stops
// everything when ctx ends (or, with ExitWhenDone, when they are all terminal). cfg's Redis
// URL is replaced by the embedded one and, unless Real, its KIE URL and key by the simulator's.
func Run(ctx context.Context, cfg app.Config, o Options, stdout io.Writer) error {
	view := newProgressView(stdout, o.LogFormat)
	if view.tty { // the live view owns the terminal: log lines are shown inside it, short
		cfg.Log = slog.New(slog.NewTextHandler(view.logs, &slog.HandlerOptions{ReplaceAttr: shortTime}))
	}
	st, err := startStack(ctx, cfg, o)
	if err != nil {
		return err
	}
	defer st.stop()
	st.out = stdout
	st.banner(stdout, o)

	watch, err := st.follow(ctx, o)
	if err != nil {
		return err
	}
	if len(watch) > 0 {
		st.cfg.Log.Info("following", "tasks", strings.Join(watch, " "))
	}
	ok, err := followProgress(ctx, st.cfg.Log, st, view, watch, o.ExitWhenDone)
	if err != nil {
		return err
	}
	if o.ExitWhenDone && !ok {
		return ErrNotAllDownloaded
	}
	return nil
}

// follow submits the demo videos (through the Service, exactly like `kiemv submit`) or
// tracks the given real tasks (like `kiemv track`), and returns the ids to watch.
func (st *stack) follow(ctx context.Context, o Options) ([]string, error) {
	conn, svc, err := st.cfg.ConnectService(ctx, app.ServiceOptions{NeedKIE: true, FirstPoll: o.PollInterval})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var ids []string
	var submitted atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	if o.Demo > 0 {
		go st.sayProgress(stop, &submitted, o.Demo)
	}
	for i := 1; i <= o.Demo; i++ {
		req := jobs.SubmitRequest{MusicTaskID: "demo-music", AudioID: fmt.Sprintf("demo-%d", i), Author: "kiemv dev"}
		rec, _, err := svc.Submit(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("submit demo video %d: %w", i, err)
		}
		submitted.Add(1)
		ids = append(ids, rec.TaskID)
	}
	for _, id := range o.Track {
		if _, _, err := svc.Track(ctx, id, 0); err != nil {
			return nil, fmt.Errorf("track %s: %w", id, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// sayProgress prints, every 2 s until stop, how far submitting the demo videos has got: the
// creates wait for slots (KIE allows 20 per 10 s), so 40 of them take a while.
func (st *stack) sayProgress(stop <-chan struct{}, submitted *atomic.Int64, n int) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fmt.Fprintf(st.out, "submitting %d/%d (waiting for a create slot: KIE allows %d per 10 s)\n", submitted.Load()+1, n, st.cfg.CreateLimit)
		}
	}
}

// DemoVideo returns the demo clip, padded to size bytes (when size exceeds it) with an MP4
// "free" box at its end, which players skip: a larger video that still plays, so that a
// download's progress can be watched.
func DemoVideo(size int64) []byte {
	if size <= int64(len(demoMP4))+8 {
		return demoMP4
	}
	pad := size - int64(len(demoMP4))
	v := make([]byte, size)
	copy(v, demoMP4)
	box := v[len(demoMP4):]
	binary.BigEndian.PutUint32(box, uint32(pad))
	copy(box[4:], "free")
	return v
}

// shortTime prints log times as 15:04:05 in the live view.
func shortTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		return slog.String(slog.TimeKey, a.Value.Time().Format("15:04:05"))
	}
	return a
}
