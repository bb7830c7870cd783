package jobs_test

// Hostile file servers the other download tests do not cover: bodies that never end, servers
// that drip bytes just fast enough to beat the idle watchdog, redirect loops and redirects to
// schemes that are not http. Each is refused or cut, and never becomes an .mp4.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
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

// Downloads through the public client never reach loopback, private, link-local (cloud
// metadata) or other non-public addresses, and the record's error names no response bytes.
func TestPublicClientRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	var hits atomic.Int64
	srv := e.serve(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); w.Write(fakeMP4(1000, 1)) })
	e.readyAt("mp4_ssrf", srv.URL+"/v.mp4?sig=SECRET-TOKEN")
	d := e.downloader()
	d.HTTP = jobs.NewPublicHTTPClient()
	err := e.download(d, "mp4_ssrf")
	if !errors.Is(err, asynq.SkipRetry) || !errors.Is(err, jobs.ErrPrivateAddress) {
		t.Fatalf("err = %v; want a permanent ErrPrivateAddress", err)
	}
	rec := e.get("mp4_ssrf")
	if rec.State != jobs.StateFailed || !strings.Contains(rec.Error, "127.0.0.1") || strings.Contains(rec.Error, "SECRET-TOKEN") {
		t.Errorf("record %+v; want failed naming the address, never the signed URL", rec)
	}
	if hits.Load() != 0 {
		t.Errorf("the private server was reached %d times", hits.Load())
	}
}

func TestNonMP4ReplyIsNotEchoed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	srv := e.serve(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8\r\nX-Injected: <script>")
		io.WriteString(w, "<html>internal secret page: aws-key=AKIA...</html>")
	})
	e.readyAt("mp4_html", srv.URL+"/v.mp4")
	err := e.download(e.downloader(), "mp4_html")
	rec := e.get("mp4_html")
	if !errors.Is(err, asynq.SkipRetry) || rec.State != jobs.StateFailed {
		t.Fatalf("err %v, record %+v; want refused for good", err, rec)
	}
	for _, leak := range []string{"secret", "AKIA", "<html", "script"} {
		if strings.Contains(rec.Error, leak) {
			t.Errorf("record error %q echoes the reply (%q)", rec.Error, leak)
		}
	}
	if !strings.Contains(rec.Error, "did not return an MP4") {
		t.Errorf("record error %q; want it to say the reply was not an MP4", rec.Error)
	}
}
