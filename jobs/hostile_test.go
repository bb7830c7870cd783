package jobs_test

// Hostile file servers the other download tests do not cover: bodies that never end, servers
// that drip bytes just fast enough to beat the idle watchdog, redirect loops and redirects to
// schemes that are not http. Each is refused or cut, and never becomes an .mp4.

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// endless writes an MP4 signature and then zeros, chunked, until the client goes.
func endless(delay time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Write(fakeMP4(12, 9))
		chunk := make([]byte, 32<<10)
		if delay > 0 {
			chunk = chunk[:1]
		}
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
			time.Sleep(delay)
		}
	}
}

func TestDownloadEndlessBodyHitsTheCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	e.readyAt("mp4_endless_body", e.serve(endless(0)).URL)
	d := e.downloader()
	d.Config.MaxBytes = 1 << 20
	start := time.Now()
	e.wantRefused("mp4_endless_body", e.download(d, "mp4_endless_body"), "larger than the 1048576-byte cap")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("an endless body took %v to refuse", took)
	}
}

// A server that sends a byte every 50ms never trips the idle watchdog; the attempt's deadline
// (Asynq's task timeout, DownloadTimeout) is what frees the worker slot.
func TestDownloadDripEndsAtTheTaskDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	e.readyAt("mp4_drip", e.serve(endless(50*time.Millisecond)).URL)
	d := e.downloader()
	d.Config.IdleTimeout = time.Second
	ctx, cancel := context.WithTimeout(e.ctx, 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := d.ProcessTask(ctx, jobs.NewDownloadTask("mp4_drip", 1, e.q, time.Minute))
	if took := time.Since(start); err == nil || took > 5*time.Second {
		t.Fatalf("err = %v after %v; want the attempt cut at its 1.5s deadline", err, took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, asynq.SkipRetry) {
		t.Errorf("err = %v; want the deadline, retried", err)
	}
	if rec := e.get("mp4_drip"); rec.State != jobs.StateDownloading || exists(e.dir.FinalPath("mp4_drip")) {
		t.Errorf("record %s, final file %v; want downloading and no final file", rec.State, exists(e.dir.FinalPath("mp4_drip")))
	}
}

func TestDownloadRedirectLoopAndSchemes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	srv := e.serve(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusMovedPermanently)
		case "/data":
			http.Redirect(w, r, "data:video/mp4;base64,AAAAGGZ0eXBpc29t", http.StatusTemporaryRedirect)
		case "/js":
			http.Redirect(w, r, "javascript:alert(1)", http.StatusPermanentRedirect)
		}
	})
	e.readyAt("mp4_loop", srv.URL+"/loop")
	e.wantRefused("mp4_loop", e.download(e.downloader(), "mp4_loop"), "redirected more than 5 times")
	for path, scheme := range map[string]string{"/file": "file", "/data": "data", "/js": "javascript"} {
		id := "mp4_to_" + scheme
		e.readyAt(id, srv.URL+path)
		e.wantRefused(id, e.download(e.downloader(), id), `redirected to a "`+scheme+`" URL`)
	}
}

// readOnlyParts is a download directory whose partial files cannot be written, as on a disk
// that went read-only (the reliability suite fills a real tmpfs for ENOSPC).
type readOnlyParts struct{ jobs.Files }

func (d readOnlyParts) OpenPart(id string) (*os.File, int64, error) {
	f, size, err := d.Files.OpenPart(id)
	if err != nil {
		return nil, 0, err
	}
	name := f.Name()
	f.Close()
	f, err = os.Open(name)
	return f, size, err
}

func TestDownloadWriteErrorNamesThePath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_rodisk", kiesim.Fate{})
	e.record(id, jobs.StateReady, time.Time{}, e.fileURL(id))
	d := e.downloader()
	d.Files = readOnlyParts{e.dir}
	err := e.download(d, id)
	e.wantTransient(id, err)
	if rec := e.get(id); !strings.Contains(rec.Error, e.partPath(id)) || !strings.Contains(rec.Error, "cannot write the partial file") {
		t.Errorf("record error %q; want it to say the partial file %s cannot be written", rec.Error, e.partPath(id))
	}
	if exists(e.dir.FinalPath(id)) {
		t.Error("a failed write left a final file")
	}
}
