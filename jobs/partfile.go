package jobs

import (
	"context"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
)

// The partial file <id>.mp4.part and resuming it: the MP4 signature its first bytes must
// carry, emptying it, re-hashing what an earlier attempt left, and the Range and If-Range
// answers a resume relies on.

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
		// Neither the body's bytes nor the header's text are echoed: the reply is the file
		// host's, and the error is shown by status and the dashboard.
		return permanent("video URL of %s did not return an MP4 (HTTP %d, %s, %d bytes that do not start like one)", t.id, resp.StatusCode, mediaType(resp), n)
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

// restart empties a partial file whose bytes can no longer be trusted.
func restart(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("truncate %s: %w", f.Name(), err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s: %w", f.Name(), err)
	}
	return nil
}

// hashPrefix feeds the first size bytes of the file at path into h, checking that they start
// like an MP4.
func hashPrefix(path string, size int64, h hash.Hash) error {
	rf, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reopen %s: %w", path, err)
	}
	defer rf.Close() // read only
	head := make([]byte, sigLen)
	if size >= sigLen {
		if _, err := io.ReadFull(rf, head); err != nil || string(head[4:8]) != "ftyp" {
			return fmt.Errorf("partial file %s does not start like an MP4; remove it and `kiemv retry` the task", path)
		}
		h.Write(head) // a hash.Hash never fails to write
		size -= sigLen
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	if _, err := io.CopyBuffer(h, io.LimitReader(rf, size), *bp); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// parseContentRange reads "bytes START-END/TOTAL"; total is -1 for "*".
func parseContentRange(v string) (start, total int64, ok bool) {
	var end int64
	if n, _ := fmt.Sscanf(v, "bytes %d-%d/%d", &start, &end, &total); n == 3 {
		return start, total, true
	}
	if n, _ := fmt.Sscanf(v, "bytes %d-%d/*", &start, &end); n == 2 {
		return start, -1, true
	}
	return 0, 0, false
}

// strongETag returns etag if it can be used with If-Range (weak validators cannot).
func strongETag(etag string) string {
	if strings.HasPrefix(etag, "W/") {
		return ""
	}
	return etag
}

// partial checks a 206 answer and returns the full length of the file (-1 if unknown). It
// must continue the partial file exactly where it ends. When bytes are there (If-Range was
// sent), it must carry their strong ETag, and no other length than the one first declared,
// or it is a 206 of another version of the file (errOtherVersion). A length first learnt
// here is kept with the partial file.
func (t *transfer) partial(resp *http.Response, size int64) (int64, error) {
	cr := resp.Header.Get("Content-Range")
	start, total, ok := parseContentRange(cr)
	if !ok || start != size {
		return 0, fmt.Errorf("video URL of %s answered Range bytes=%d- with Content-Range %q", t.id, size, cr)
	}
	if etag := resp.Header.Get("ETag"); size > 0 && etag != t.etag { // t.etag is strong
		return 0, fmt.Errorf("%w: video URL of %s answered If-Range %s with bytes of ETag %q", errOtherVersion, t.id, t.etag, etag)
	}
	if t.total > 0 && (size > t.total || total >= 0 && total != t.total) {
		return 0, fmt.Errorf("%w: video URL of %s answered Content-Range %q for a file of %d bytes", errOtherVersion, t.id, cr, t.total)
	}
	switch {
	case total < 0 && t.total > 0:
		return t.total, nil
	case total >= 0 && t.total == 0:
		if err := t.savePart(t.etag, total); err != nil {
			return 0, err
		}
		t.total = total
	}
	return total, nil
}

// complete reports whether a 416 answers a resume of a partial file that already holds the
// whole file: it has the length first declared, which the 416's Content-Range ("bytes */N")
// and ETag confirm when it sends them.
func (t *transfer) complete(resp *http.Response, size int64) bool {
	if t.total <= 0 || size != t.total {
		return false
	}
	if cr := resp.Header.Get("Content-Range"); cr != "" {
		if n, ok := parseUnsatisfied(cr); !ok || n != t.total {
			return false
		}
	}
	etag := resp.Header.Get("ETag")
	return etag == "" || etag == t.etag
}

// parseUnsatisfied reads the "bytes */TOTAL" of a 416.
func parseUnsatisfied(v string) (total int64, ok bool) {
	var rest string
	if n, _ := fmt.Sscanf(v, "bytes */%d%s", &total, &rest); n == 1 && total >= 0 {
		return total, true
	}
	return 0, false
}

// mediaType is the reply's Content-Type reduced to its media type (no parameters), or
// "no readable Content-Type": the one part of the header worth telling, and never arbitrary text.
func mediaType(resp *http.Response) string {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt == "" {
		return "no readable Content-Type"
	}
	return "Content-Type " + mt
}
