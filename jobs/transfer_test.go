package jobs_test

// Download cases the simulator cannot produce, served by small custom servers.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// seen is what a custom server saw of one request.
type seen struct{ rng, ifRange string }

// log records requests, safely for the server's goroutines.
type reqLog struct {
	mu   sync.Mutex
	reqs []seen
}

func (l *reqLog) add(r *http.Request) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, seen{r.Header.Get("Range"), r.Header.Get("If-Range")})
	return len(l.reqs)
}

func (l *reqLog) get() []seen {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]seen(nil), l.reqs...)
}

// cutAfter sends the first n bytes of body as a whole-file 200 reply, then drops the connection.
func cutAfter(w http.ResponseWriter, etag string, body []byte, n int) {
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body[:n])
	http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// readyAt stores a ready record whose video URL is url.
func (e *env) readyAt(id, url string) {
	e.record(id, jobs.StateReady, time.Time{}, url)
}

func TestDownloadIfRangeMismatchRestarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	v1, v2 := fakeMP4(50_000, 1), fakeMP4(60_000, 2)
	var log reqLog
	srv := e.serve(func(w http.ResponseWriter, r *http.Request) {
		if log.add(r) == 1 {
			cutAfter(w, `"v1"`, v1, 20_000)
		}
		w.Header().Set("ETag", `"v2"`) // the file changed meanwhile: If-Range "v1" no longer holds
		http.ServeContent(w, r, "v.mp4", time.Time{}, bytes.NewReader(v2))
	})
	e.readyAt("mp4_changed", srv.URL+"/v.mp4")
	d := e.downloader()
	e.wantTransient("mp4_changed", e.download(d, "mp4_changed"))
	if err := e.download(d, "mp4_changed"); err != nil {
		t.Fatal(err)
	}
	e.wantDownloaded("mp4_changed", sha(v2), int64(len(v2)))
	if r := log.get(); len(r) != 2 || r[1] != (seen{"bytes=20000-", `"v1"`}) {
		t.Errorf("requests %+v; want the second to resume with Range and If-Range", r)
	}
}

func TestDownloadServerIgnoringRangeRestarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	body := fakeMP4(70_001, 3)
	var log reqLog
	srv := e.serve(func(w http.ResponseWriter, r *http.Request) {
		if log.add(r) == 1 {
			cutAfter(w, `"same"`, body, 30_000)
		}
		w.Header().Set("ETag", `"same"`)
		w.Write(body) // 200 with the whole file, whatever Range says
	})
	e.readyAt("mp4_norange", srv.URL)
	d := e.downloader()
	e.wantTransient("mp4_norange", e.download(d, "mp4_norange"))
	if err := e.download(d, "mp4_norange"); err != nil {
		t.Fatal(err)
	}
	e.wantDownloaded("mp4_norange", sha(body), int64(len(body)))
	if r := log.get(); len(r) != 2 || r[1].rng != "bytes=30000-" {
		t.Errorf("requests %+v", r)
	}
}

func TestDownloadRefusesHTMLPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	srv := e.serve(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!doctype html><html><body>Please log in</body></html>")
	})
	for _, p := range []string{"/login", "/tiny"} {
		id := "mp4_html" + strings.TrimPrefix(p, "/")
		url := srv.URL + p
		if p == "/tiny" { // a complete body shorter than an MP4 signature
			url = e.serve(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("oops")) }).URL
		}
		e.readyAt(id, url)
		e.wantRefused(id, e.download(e.downloader(), id), "did not return an MP4")
	}
}

func TestDownloadShortBodyIsTransient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	body := fakeMP4(50_000, 4)
	var log reqLog
	srv := e.serve(func(w http.ResponseWriter, r *http.Request) {
		if log.add(r) == 1 { // promise 50000 bytes, send 30000, end the handler
			w.Header().Set("ETag", `"e"`)
			w.Header().Set("Content-Length", "50000")
			w.Write(body[:30_000])
			return
		}
		w.Header().Set("ETag", `"e"`)
		http.ServeContent(w, r, "v.mp4", time.Time{}, bytes.NewReader(body))
	})
	e.readyAt("mp4_short", srv.URL)
	d := e.downloader()
	e.wantTransient("mp4_short", e.download(d, "mp4_short"))
	if st, err := os.Stat(e.partPath("mp4_short")); err != nil || st.Size() != 30_000 {
		t.Fatalf("part file %v, %v; want the 30000 bytes kept", st, err)
	}
	if err := e.download(d, "mp4_short"); err != nil {
		t.Fatal(err)
	}
	e.wantDownloaded("mp4_short", sha(body), int64(len(body)))
}

func TestDownloadLengthCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	body := fakeMP4(50_000, 8)
	var log reqLog
	srv := e.serve(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"e"`)
		switch log.add(r) {
		case 1:
			cutAfter(w, `"e"`, body, 20_000)
		case 2: // a well-formed reply that ends early: bytes 20000-29999 of 50000
			w.Header().Set("Content-Range", "bytes 20000-29999/50000")
			w.Header().Set("Content-Length", "10000")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(body[20_000:30_000])
			return
		}
		http.ServeContent(w, r, "v.mp4", time.Time{}, bytes.NewReader(body))
	})
	e.readyAt("mp4_len", srv.URL)
	d := e.downloader()
	e.wantTransient("mp4_len", e.download(d, "mp4_len"))
	err := e.download(d, "mp4_len")
	e.wantTransient("mp4_len", err)
	if !strings.Contains(err.Error(), "ended at 30000 of 50000 bytes") {
		t.Errorf("err = %v; want the length check to say where it ended", err)
	}
	if err := e.download(d, "mp4_len"); err != nil {
		t.Fatal(err)
	}
	e.wantDownloaded("mp4_len", sha(body), int64(len(body)))
	if r := log.get(); len(r) != 3 || r[2].rng != "bytes=30000-" {
		t.Errorf("requests %+v; want the third to resume at 30000", r)
	}
}

func TestDownloadRedirects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	body := fakeMP4(10_000, 5)
	srv := e.serve(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ftp" {
			http.Redirect(w, r, "ftp://example.invalid/v.mp4", http.StatusFound)
			return
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
		if n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusFound)
			return
		}
		w.Write(body)
	})
	e.readyAt("mp4_five", srv.URL+"/r/5") // five redirects are allowed
	if err := e.download(e.downloader(), "mp4_five"); err != nil {
		t.Fatal(err)
	}
	e.wantDownloaded("mp4_five", sha(body), int64(len(body)))
	e.readyAt("mp4_six", srv.URL+"/r/6")
	e.wantRefused("mp4_six", e.download(e.downloader(), "mp4_six"), "redirected more than 5 times")
	e.readyAt("mp4_ftp", srv.URL+"/ftp")
	e.wantRefused("mp4_ftp", e.download(e.downloader(), "mp4_ftp"), `redirected to a "ftp" URL`)
}

func TestDownloadIdleWatchdog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	body := fakeMP4(50_000, 6)
	stall := func(n int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Header().Set("ETag", `"s"`)
			w.Write(body[:n])
			http.NewResponseController(w).Flush()
			<-r.Context().Done() // send nothing more until the client gives up
		}
	}
	for _, n := range []int{0, 20_000} { // stall right after the headers, and mid-body
		id := fmt.Sprintf("mp4_stall%d", n)
		e.readyAt(id, e.serve(stall(n)).URL)
		d := e.downloader()
		d.Config.IdleTimeout = 300 * time.Millisecond
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		start := time.Now()
		err := d.ProcessTask(ctx, jobs.NewDownloadTask(id, 1, e.q, time.Minute))
		cancel()
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("stall after %d bytes: cut after %v, want about 300ms", n, took)
		}
		if err == nil || !strings.Contains(err.Error(), "stalled") {
			t.Errorf("stall after %d bytes: err = %v; want it to say the server stalled", n, err)
		}
		e.wantTransient(id, err)
	}
}

func TestDownloadStreamOverCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	body := fakeMP4(300_000, 7)
	srv := e.serve(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < len(body); i += 10_000 { // chunked: no Content-Length to judge by
			w.Write(body[i : i+10_000])
			http.NewResponseController(w).Flush()
		}
	})
	e.readyAt("mp4_endless", srv.URL)
	d := e.downloader()
	d.Config.MaxBytes = 100_000
	err := e.download(d, "mp4_endless")
	e.wantRefused("mp4_endless", err, "larger than the 100000-byte cap")
	var tl *jobs.TooLargeError
	if !errors.As(err, &tl) || tl.ID != "mp4_endless" || tl.Limit != 100_000 || tl.Size != 0 {
		t.Errorf("error %v; want a *jobs.TooLargeError of mp4_endless with Limit 100000, got %+v", err, tl)
	}
}

func TestDownloadAnnouncedOverCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	body := fakeMP4(300_000, 9)
	srv := e.serve(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	e.readyAt("mp4_big", srv.URL)
	d := e.downloader()
	d.Config.MaxBytes = 100_000
	err := e.download(d, "mp4_big")
	e.wantRefused("mp4_big", err, "is 300000 bytes, over the 100000-byte cap")
	var tl *jobs.TooLargeError
	if !errors.As(err, &tl) || tl.ID != "mp4_big" || tl.Size != 300_000 || tl.Limit != 100_000 {
		t.Errorf("error %v; want a *jobs.TooLargeError of mp4_big, 300000 bytes, Limit 100000, got %+v", err, tl)
	}
}

func TestDownloadHTTPStatuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	srv := e.serve(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(code)
	})
	e.readyAt("mp4_503", srv.URL+"/503")
	err := e.download(e.downloader(), "mp4_503")
	e.wantTransient("mp4_503", err)
	if d := (jobs.Backoff{}).RetryDelay(0, err, nil); d < 2*time.Minute {
		t.Errorf("retry in %v; want the server's Retry-After of 2m", d)
	}
	e.readyAt("mp4_400", srv.URL+"/400")
	e.wantRefused("mp4_400", e.download(e.downloader(), "mp4_400"), "HTTP 400")
}
