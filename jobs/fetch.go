package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Errors of one transfer. errURLDead asks for a fresh URL; permanentError ends the record.
var errURLDead = errors.New("video URL is gone")

// permanentError marks a download failure that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(format string, a ...any) error {
	return &permanentError{err: fmt.Errorf(format, a...)}
}

// httpStatusError is a transient non-2xx answer from the file server.
type httpStatusError struct {
	status     int
	retryAfter time.Duration
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("video URL answered HTTP %d", e.status) }

// RetryAfter is honoured by Backoff.RetryDelay.
func (e *httpStatusError) RetryAfter() time.Duration { return e.retryAfter }

// diskError is a failure to write the partial file (a full disk, say): the server is not to
// blame, and the attempt is retried like any transient error.
type diskError struct{ err error } // err is the *os.PathError, which names the file

func (e *diskError) Error() string {
	hint := "check that the download directory is writable"
	if errors.Is(e.err, syscall.ENOSPC) || errors.Is(e.err, syscall.EDQUOT) {
		hint = "free space in the download directory"
	}
	return fmt.Sprintf("cannot write the partial file (%v); %s, and the download resumes on its next retry", e.err, hint)
}
func (e *diskError) Unwrap() error { return e.err }

// maxRedirects is how many redirects a video URL may take.
const maxRedirects = 5

// NewHTTPClient returns the client downloads use: no overall timeout (files are large; an
// idle watchdog cuts stalled bodies instead), bounded dial/TLS/header waits, at most five
// redirects, and only to http or https.
func NewHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = 30 * time.Second
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: tr, CheckRedirect: checkRedirect}
}

// defaultHTTPClient is the client of Downloaders that set none. It is shared so that its
// Transport reuses connections: a Transport per attempt would leave an idle keep-alive
// connection (and its goroutines) behind every download.
var defaultHTTPClient = sync.OnceValue(NewHTTPClient)

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects { // via holds one request per redirect followed so far, plus the first
		return permanent("video URL redirected more than %d times", maxRedirects)
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return permanent("video URL redirected to a %q URL; only http and https are fetched", s)
	}
	return nil
}

// checkURL refuses anything but an absolute http(s) URL.
func checkURL(raw string) error {
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		return permanent("video URL %.80q is not an http or https URL", raw)
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// transfer is one attempt at bringing a video URL's bytes into the partial file.
type transfer struct {
	files    Files
	client   *http.Client
	id       string
	url      string
	etag     string // validator of the bytes already in the partial file
	maxBytes int64
	idle     time.Duration
	saveETag func(etag string) error // persists the validator before new bytes are written
	progress func(n int64)           // called about once a second with the bytes on disk
}

// result is what a finished transfer verified.
type result struct {
	size   int64
	sha256 string
}

// run fetches the rest of the file (Range + If-Range when part of it is already there),
// checks its signature and length, and returns its sha256. Memory use is one buffer.
func (t *transfer) run(ctx context.Context) (result, error) {
	if err := checkURL(t.url); err != nil {
		return result{}, err
	}
	f, size, err := t.files.OpenPart(t.id)
	if err != nil {
		return result{}, fmt.Errorf("open partial file for %s: %w", t.id, err)
	}
	defer f.Close()
	if t.etag == "" && size > 0 { // no validator: the bytes cannot be trusted to match
		if err := restart(f); err != nil {
			return result{}, err
		}
		size = 0
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return result{}, permanent("video URL of %s: %v", t.id, err)
	}
	if size > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", size))
		req.Header.Set("If-Range", t.etag)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		var pe *permanentError
		if errors.As(err, &pe) {
			return result{}, pe
		}
		return result{}, fmt.Errorf("GET video of %s: %w", t.id, err)
	}
	defer resp.Body.Close()
	total, err := t.accept(resp, f, &size)
	if err != nil {
		return result{}, err
	}
	if t.maxBytes > 0 && total > t.maxBytes {
		return result{}, permanent("video of %s is %d bytes, over the %d-byte cap (--max-video-bytes)", t.id, total, t.maxBytes)
	}
	h := sha256.New()
	// The idle watchdog guards the signature read too: a server may stall right after the headers.
	body := &watchdog{r: resp.Body, idle: t.idle, cancel: cancel}
	if size > 0 { // hash (and re-check) the bytes a previous attempt left
		if err := hashPrefix(f.Name(), size, h); err != nil {
			return result{}, err
		}
	} else {
		if err := t.checkSignature(ctx, resp, body, h, f); err != nil {
			return result{}, err
		}
		size = sigLen
	}
	limit := t.maxBytes
	if limit <= 0 {
		limit = 1 << 62
	}
	n, err := t.copy(f, io.LimitReader(body, limit-size+1), h, size)
	got := size + n
	var de *diskError
	if errors.As(err, &de) {
		return result{}, fmt.Errorf("download of %s stopped after %d bytes: %w", t.id, got, err)
	}
	if err != nil {
		if c := context.Cause(ctx); c != nil && ctx.Err() != nil {
			err = c
		}
		return result{}, fmt.Errorf("download of %s cut after %d bytes: %w", t.id, got, err)
	}
	if got > limit {
		return result{}, permanent("video of %s is larger than the %d-byte cap (--max-video-bytes)", t.id, limit)
	}
	if total >= 0 && got != total {
		return result{}, fmt.Errorf("download of %s ended at %d of %d bytes", t.id, got, total)
	}
	// Commit while the partial file is still open and locked, so no other worker can touch it
	// between the last byte and the rename.
	if _, err := t.files.Commit(t.id); err != nil {
		return result{}, fmt.Errorf("commit the file of %s: %w", t.id, err)
	}
	return result{size: got, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

// accept checks the response status and returns the full length of the file (-1 if unknown).
// When the server sends the whole file instead of the asked range, the part is emptied.
func (t *transfer) accept(resp *http.Response, f *os.File, size *int64) (int64, error) {
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != *size {
			return 0, fmt.Errorf("video URL of %s answered Range bytes=%d- with Content-Range %q", t.id, *size, resp.Header.Get("Content-Range"))
		}
		return total, nil
	case http.StatusOK:
		if *size > 0 {
			if err := restart(f); err != nil {
				return 0, err
			}
			*size = 0
		}
		if err := t.saveETag(strongETag(resp.Header.Get("ETag"))); err != nil {
			return 0, err
		}
		return resp.ContentLength, nil
	case http.StatusRequestedRangeNotSatisfiable: // the part is longer than the file: start over
		restart(f)
		return 0, fmt.Errorf("video URL of %s refused Range bytes=%d-; starting over", t.id, *size)
	case http.StatusForbidden, http.StatusNotFound, http.StatusGone:
		return 0, fmt.Errorf("%w: HTTP %d for %s", errURLDead, resp.StatusCode, t.id)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500 {
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return 0, &httpStatusError{status: resp.StatusCode, retryAfter: time.Duration(ra) * time.Second}
	}
	return 0, permanent("video URL of %s answered HTTP %d", t.id, resp.StatusCode)
}

// sigLen is how many leading bytes checkSignature reads: an MP4 has "ftyp" at bytes 4–8.
const sigLen = 12

// checkSignature reads the first 12 bytes of body and refuses anything that is not an MP4
// (ftyp). A body that is cut or stalls before 12 bytes says nothing about the content: that
// is a transient error, and only a body that ends cleanly that short is refused.
func (t *transfer) checkSignature(ctx context.Context, resp *http.Response, body io.Reader, h io.Writer, f *os.File) error {
	head := make([]byte, sigLen)
	n, err := 0, error(nil)
	for n < sigLen && err == nil { // not io.ReadFull: it hides whether the body ended or broke
		var m int
		m, err = body.Read(head[n:])
		n += m
	}
	switch {
	case n >= 8 && string(head[4:8]) != "ftyp", n < sigLen && err == io.EOF:
		return permanent("video URL of %s did not return an MP4 (Content-Type %q, first bytes %q)", t.id, resp.Header.Get("Content-Type"), head[:n])
	case n < sigLen:
		if c := context.Cause(ctx); c != nil && ctx.Err() != nil {
			err = c
		}
		return fmt.Errorf("download of %s cut after %d bytes: %w", t.id, n, err)
	}
	if _, err := f.Write(head); err != nil {
		return fmt.Errorf("download of %s: %w", t.id, &diskError{err})
	}
	h.Write(head)
	return nil
}

// copy streams body into f and h, reporting progress about once a second.
//
// The hash runs on a goroutine of its own, one buffer behind the reads and writes, so that a
// large file costs about the longer of hashing and I/O instead of their sum (SHA-256 alone
// runs at about 2 GB/s); memory stays two buffers.
func (t *transfer) copy(f *os.File, body io.Reader, h io.Writer, start int64) (int64, error) {
	bufs := [2]*[]byte{bufPool.Get().(*[]byte), bufPool.Get().(*[]byte)}
	todo, hashed := make(chan []byte, 2), make(chan struct{}, 2)
	go func() {
		for b := range todo {
			h.Write(b)
			hashed <- struct{}{}
		}
	}()
	inFlight, cur := 0, 0 // buffers handed to the hasher and not hashed yet; the one to read into
	defer func() {
		close(todo)
		for ; inFlight > 0; inFlight-- {
			<-hashed
		}
		bufPool.Put(bufs[0])
		bufPool.Put(bufs[1])
	}()
	var n int64
	last := time.Now()
	for {
		if inFlight == 2 { // the hasher still reads bufs[cur]: the older of the two
			<-hashed
			inFlight--
		}
		buf := *bufs[cur]
		m, rerr := body.Read(buf)
		if m > 0 {
			if _, err := f.Write(buf[:m]); err != nil {
				return n, &diskError{err}
			}
			todo <- buf[:m]
			inFlight, cur = inFlight+1, cur^1
			n += int64(m)
			if t.progress != nil && time.Since(last) >= time.Second {
				last = time.Now()
				t.progress(start + n)
			}
		}
		if rerr == io.EOF {
			return n, nil
		} else if rerr != nil {
			return n, rerr
		}
	}
}
