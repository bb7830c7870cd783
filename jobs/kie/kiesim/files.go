package kiesim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// serveFile serves GET/HEAD /files/<taskId>.mp4[?sig=...] with Range and If-Range support.
// The file exists once the task has a video. A sig must be one issued by download-url and
// not expired (else 403); without a sig an ExpireURL task answers 404.
func (s *Sim) serveFile(w http.ResponseWriter, r *http.Request) {
	id, found := fileIDFromPath(r.URL.Path)
	if !found {
		writeJSON(w, http.StatusNotFound, 404, "not found", nil)
		return
	}
	sig, signed := r.URL.Query()["sig"]
	now := s.now()

	s.mu.Lock()
	t := s.tasks[id]
	if t != nil && r.Method == http.MethodGet {
		s.stats.Downloads[id]++
	}
	switch {
	case t == nil || !t.hasVideo(now):
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, 404, "not found", nil)
		return
	case signed && !t.validSig(sig[0], now):
		s.mu.Unlock()
		writeJSON(w, http.StatusForbidden, 403, "signature invalid or expired", nil)
		return
	case !signed && t.fate.ExpireURL:
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, 404, "not found", nil)
		return
	}
	var cut int64
	if r.Method == http.MethodGet && !t.transferred {
		t.transferred = true
		cut = t.fate.CutAt
	}
	size, modTime := t.size, t.readyAt
	s.mu.Unlock()

	h := w.Header()
	h.Set("Content-Type", "video/mp4")
	h.Set("ETag", s.etag(id, size))
	cw := &countingWriter{ResponseWriter: w, cut: cut}
	defer func() { // also runs when the cut panics
		if cw.n > 0 {
			s.mu.Lock()
			s.stats.BytesServed[id] += cw.n
			s.mu.Unlock()
		}
	}()
	http.ServeContent(s.paced(cw, r), r, id+".mp4", modTime, s.content(id, size))
}

// etag is the strong validator of a task's video: it changes with the id, size and content.
func (s *Sim) etag(id string, size int64) string {
	sum := sha256.Sum256([]byte(id + "\x00" + strconv.FormatInt(size, 10) + "\x00" + s.videoSHA))
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// content returns a reader over the video of task id.
func (s *Sim) content(id string, size int64) io.ReadSeeker {
	if s.cfg.Video != nil {
		return bytes.NewReader(s.cfg.Video)
	}
	return newStream(id, size)
}

// countingWriter counts body bytes and, if cut > 0, aborts the connection after cut bytes.
type countingWriter struct {
	http.ResponseWriter
	n   int64
	cut int64
}

// Write implements io.Writer, stopping the transfer at the cut.
func (c *countingWriter) Write(p []byte) (int, error) {
	if c.cut > 0 && c.n+int64(len(p)) >= c.cut {
		m, _ := c.ResponseWriter.Write(p[:c.cut-c.n])
		c.n += int64(m)
		_ = http.NewResponseController(c.ResponseWriter).Flush()
		panic(http.ErrAbortHandler) // net/http closes the connection without logging
	}
	m, err := c.ResponseWriter.Write(p)
	c.n += int64(m)
	return m, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// FileSHA256 returns the hex sha256 of the whole video of taskID, streamed in O(1) memory.
func (s *Sim) FileSHA256(taskID string) (string, error) {
	s.mu.Lock()
	t := s.tasks[taskID]
	s.mu.Unlock()
	switch {
	case t == nil:
		return "", fmt.Errorf("kiesim: unknown task %q", taskID)
	case s.cfg.Video != nil:
		return s.videoSHA, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, newStream(taskID, t.size)); err != nil {
		return "", fmt.Errorf("kiesim: hashing task %q: %w", taskID, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FileSize returns the size in bytes of the video of taskID (0 if the task is unknown).
func (s *Sim) FileSize(taskID string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tasks[taskID]; t != nil {
		return t.size
	}
	return 0
}

// ReadyAt returns when taskID leaves (or left) PENDING, whatever its outcome; false if the
// task is unknown or stays PENDING forever.
func (s *Sim) ReadyAt(taskID string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tasks[taskID]
	if t == nil || t.readyAt.IsZero() {
		return time.Time{}, false
	}
	return t.readyAt, true
}
