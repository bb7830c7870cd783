package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

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
	f, size, err := t.openPart()
	if err != nil {
		return result{}, err
	}
	defer f.Close() // Commit has synced and renamed it; a failed attempt resumes from its bytes
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	resp, err := t.get(ctx, size)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close() // nothing to report: the body was read as far as it matters
	total, err := t.accept(resp, f, &size)
	if err != nil {
		return result{}, err
	}
	if t.maxBytes > 0 && total > t.maxBytes {
		return result{}, &permanentError{&TooLargeError{ID: t.id, Size: total, Limit: t.maxBytes}}
	}
	h := sha256.New()
	// The idle watchdog guards the signature read too: a server may stall right after the headers.
	body := &watchdog{r: resp.Body, idle: t.idle, cancel: cancel}
	if size, err = t.begin(ctx, resp, body, h, f, size); err != nil {
		return result{}, err
	}
	got, err := t.receive(ctx, f, body, h, size)
	if err != nil {
		return result{}, err
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

// openPart opens the partial file and returns it with its size. Bytes left without a
// validator cannot be trusted to match the file any more: they are dropped.
func (t *transfer) openPart() (*os.File, int64, error) {
	f, size, err := t.files.OpenPart(t.id)
	if err != nil {
		return nil, 0, fmt.Errorf("open partial file for %s: %w", t.id, err)
	}
	if t.etag == "" && size > 0 {
		if err := restart(f); err != nil {
			return nil, 0, errors.Join(err, f.Close())
		}
		size = 0
	}
	return f, size, nil
}

// get sends the GET of the video URL, asking only for the bytes after size when there are
// some (and only if they still belong to the same file).
func (t *transfer) get(ctx context.Context, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return nil, permanent("video URL of %s: %v", t.id, err)
	}
	if size > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", size))
		req.Header.Set("If-Range", t.etag)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		var pe *permanentError
		if errors.As(err, &pe) {
			return nil, pe
		}
		return nil, fmt.Errorf("GET video of %s: %w", t.id, err)
	}
	return resp, nil
}

// begin feeds h what the file holds before the body's bytes: the bytes an earlier attempt
// left (re-checked), or, for a new file, the body's first bytes once they look like an MP4.
// It returns the size of the file so far.
func (t *transfer) begin(ctx context.Context, resp *http.Response, body io.Reader, h hash.Hash, f *os.File, size int64) (int64, error) {
	if size > 0 {
		return size, hashPrefix(f.Name(), size, h)
	}
	if err := t.checkSignature(ctx, resp, body, h, f); err != nil {
		return 0, err
	}
	return sigLen, nil
}

// receive streams the rest of body into f and h, no further than the size cap, and returns
// the size of the file.
func (t *transfer) receive(ctx context.Context, f *os.File, body io.Reader, h hash.Hash, size int64) (int64, error) {
	limit := t.maxBytes
	if limit <= 0 {
		limit = 1 << 62
	}
	n, err := t.copy(f, io.LimitReader(body, limit-size+1), h, size)
	got := size + n
	var de *diskError
	if errors.As(err, &de) {
		return got, fmt.Errorf("download of %s stopped after %d bytes: %w", t.id, got, err)
	}
	if err != nil {
		if c := context.Cause(ctx); c != nil && ctx.Err() != nil {
			err = c
		}
		return got, fmt.Errorf("download of %s cut after %d bytes: %w", t.id, got, err)
	}
	if got > limit {
		return got, &permanentError{&TooLargeError{ID: t.id, Limit: limit}}
	}
	return got, nil
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
		err := fmt.Errorf("video URL of %s refused Range bytes=%d-; starting over", t.id, *size)
		return 0, errors.Join(err, restart(f)) // if emptying failed, the next attempt retries it

	case http.StatusForbidden, http.StatusNotFound, http.StatusGone:
		return 0, fmt.Errorf("%w: HTTP %d for %s", errURLDead, resp.StatusCode, t.id)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500 {
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")) // absent or not seconds: no wait asked
		return 0, &httpStatusError{status: resp.StatusCode, retryAfter: time.Duration(ra) * time.Second}
	}
	return 0, permanent("video URL of %s answered HTTP %d", t.id, resp.StatusCode)
}

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
	h.Write(head) // a hash never fails to write
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
			h.Write(b) // a hash never fails to write
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
