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
	"net/url"
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
	total    int64  // length the partial file must reach, as first declared; 0 unknown
	maxBytes int64
	idle     time.Duration
	savePart func(etag string, total int64) error // persists validator and length before new bytes are written
	progress func(n int64)                        // called about once a second with the bytes on disk
}

// result is what a finished transfer verified.
type result struct {
	size   int64
	sha256 string
}

// run fetches the rest of the file (Range + If-Range when part of it is already there),
// checks its signature and length, and returns its sha256. Memory use is one buffer. The
// length is the one the first full reply declared, kept with the partial file: a resume
// whose reply leaves it unknown ("*") is held to it, and a part that already has it (a 416)
// is checked and committed as it is.
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
	resp, total, err := t.fetch(ctx, f, &size)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close() // nothing to report: the body was read as far as it matters
	if t.maxBytes > 0 && total > t.maxBytes {
		return result{}, &permanentError{&TooLargeError{ID: t.id, Size: total, Limit: t.maxBytes}}
	}
	h := sha256.New()
	// The idle watchdog guards the signature read too: a server may stall right after the headers.
	var body io.Reader = &watchdog{r: resp.Body, idle: t.idle, cancel: cancel}
	if total >= 0 { // one byte past the length is enough to refuse the file
		body = io.LimitReader(body, total-size+1)
	}
	if size, err = t.begin(ctx, resp, body, h, f, size); err != nil {
		return result{}, err
	}
	got, err := t.receive(ctx, f, body, h, size)
	if err != nil {
		return result{}, err
	}
	if err := t.checkLength(got, total); err != nil {
		return result{}, err
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
	if size == 0 { // the next reply declares the file's validator and length anew
		t.etag, t.total = "", 0
	}
	return f, size, nil
}

// fetch sends the GET and checks its answer. A 206 of another version of the file than the
// bytes already there (a server that honours Range but ignores If-Range) is never spliced
// onto them: the partial file is emptied and the whole file asked for, once.
func (t *transfer) fetch(ctx context.Context, f *os.File, size *int64) (*http.Response, int64, error) {
	resp, total, err := t.ask(ctx, f, size)
	if errors.Is(err, errOtherVersion) {
		if err := restart(f); err != nil {
			return nil, 0, err
		}
		*size, t.etag, t.total = 0, "", 0
		resp, total, err = t.ask(ctx, f, size) // no Range now: it cannot answer another version
	}
	return resp, total, err
}

// ask is one GET and the check of its answer; the response is returned only if accepted.
func (t *transfer) ask(ctx context.Context, f *os.File, size *int64) (*http.Response, int64, error) {
	resp, err := t.get(ctx, *size)
	if err != nil {
		return nil, 0, err
	}
	total, err := t.accept(resp, f, size)
	if err != nil {
		resp.Body.Close() // nothing to report: the answer was refused
		return nil, 0, err
	}
	return resp, total, nil
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
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text holds the whole URL, signature and all: name the host instead
		}
		return nil, fmt.Errorf("GET video of %s from %s: %w", t.id, req.URL.Host, err)
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

// checkLength holds the file to the length declared for it: short of it is a transient
// error (the next attempt resumes), past it is refused.
func (t *transfer) checkLength(got, total int64) error {
	switch {
	case total < 0 || got == total:
		return nil
	case got < total:
		return fmt.Errorf("download of %s ended at %d of %d bytes", t.id, got, total)
	}
	return permanent("video URL of %s sent more than the %d bytes declared for the file", t.id, total)
}

// accept checks the response status and returns the full length of the file (-1 if unknown).
// When the server sends the whole file instead of the asked range, the part is emptied, and
// the file's validator and length are kept with it.
func (t *transfer) accept(resp *http.Response, f *os.File, size *int64) (int64, error) {
	switch resp.StatusCode {
	case http.StatusPartialContent:
		return t.partial(resp, *size)
	case http.StatusOK:
		if *size > 0 {
			if err := restart(f); err != nil {
				return 0, err
			}
			*size = 0
		}
		t.etag, t.total = strongETag(resp.Header.Get("ETag")), max(resp.ContentLength, 0)
		if err := t.savePart(t.etag, resp.ContentLength); err != nil {
			return 0, err
		}
		return resp.ContentLength, nil
	case http.StatusRequestedRangeNotSatisfiable:
		if t.complete(resp, *size) { // verified and committed like any other; its body is no file
			resp.Body.Close() // nothing to report: an error page
			resp.Body = http.NoBody
			return *size, nil
		}
		// The part is longer than the file, or not the file's declared length: start over.
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
