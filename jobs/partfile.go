package jobs

import (
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"sync"
)

// The partial file <id>.mp4.part and resuming it: emptying it, re-hashing what an earlier
// attempt left, and the Range and If-Range answers a resume relies on.

// sigLen is how many leading bytes checkSignature reads: an MP4 has "ftyp" at bytes 4–8.
const sigLen = 12

// bufPool holds the copy buffers of transfers, 256 KiB each.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

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
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
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
