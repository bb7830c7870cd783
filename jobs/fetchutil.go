package jobs

import (
	"context"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"
)

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
	defer rf.Close()
	head := make([]byte, 12)
	if size >= 12 {
		if _, err := io.ReadFull(rf, head); err != nil || string(head[4:8]) != "ftyp" {
			return fmt.Errorf("partial file %s does not start like an MP4; remove it and `kiemv retry` the task", path)
		}
		h.Write(head)
		size -= 12
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

// watchdog cancels the transfer when no byte arrives for idle.
type watchdog struct {
	r      io.Reader
	idle   time.Duration
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

func (w *watchdog) Read(p []byte) (int, error) {
	if w.idle > 0 {
		if w.timer == nil {
			w.timer = time.AfterFunc(w.idle, func() {
				w.cancel(fmt.Errorf("no bytes for %v (server stalled)", w.idle))
			})
		} else {
			w.timer.Reset(w.idle)
		}
	}
	n, err := w.r.Read(p)
	if err != nil && w.timer != nil {
		w.timer.Stop()
	}
	return n, err
}
