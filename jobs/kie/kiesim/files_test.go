package kiesim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestFileServing(t *testing.T) {
	const size = 300_000 // not a multiple of the block size
	clk := newClock()
	h := newHarness(t, Config{FileSize: size, ReadyAfter: time.Second, Now: clk.Now})
	h.sim.AddTask("mp4_track", "trk", Fate{})
	url := h.srv.URL + fileURLPath("mp4_track")
	if resp, _, _ := h.get(url, nil); resp.StatusCode != 404 {
		t.Fatalf("pending file: HTTP %d", resp.StatusCode)
	}
	clk.Advance(time.Second)

	resp, full, err := h.get(url, nil)
	if err != nil || resp.StatusCode != 200 || len(full) != size {
		t.Fatalf("GET: %v %v len %d", resp, err, len(full))
	}
	etag := resp.Header.Get("ETag")
	for k, want := range map[string]string{"Content-Type": "video/mp4", "Accept-Ranges": "bytes",
		"Content-Length": strconv.Itoa(size)} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if len(etag) < 3 || etag[0] != '"' || string(full[4:8]) != "ftyp" || !bytes.Equal(full[:24], mp4Header[:]) {
		t.Errorf("ETag %q, header % x", etag, full[:24])
	}
	if want, _ := h.sim.FileSHA256("mp4_track"); sha(full) != want || h.sim.FileSize("mp4_track") != size {
		t.Errorf("FileSHA256 %s, body %s", want, sha(full))
	}

	ranges := []struct {
		rng, ifRange string
		status       int
		from, to     int // expected body full[from:to]
	}{
		{"bytes=100-199", "", 206, 100, 200},
		{"bytes=65530-65545", "", 206, 65530, 65546}, // across a block boundary
		{"bytes=299990-", "", 206, 299990, size},
		{"bytes=1000-", etag, 206, 1000, size},
		{"bytes=1000-", `"other"`, 200, 0, size},
	}
	for _, c := range ranges {
		hdr := map[string]string{"Range": c.rng}
		if c.ifRange != "" {
			hdr["If-Range"] = c.ifRange
		}
		resp, body, err := h.get(url, hdr)
		if err != nil || resp.StatusCode != c.status || !bytes.Equal(body, full[c.from:c.to]) {
			t.Errorf("%s If-Range %s: HTTP %v %v, %d bytes", c.rng, c.ifRange, resp.StatusCode, err, len(body))
			continue
		}
		wantCR := fmt.Sprintf("bytes %d-%d/%d", c.from, c.to-1, size)
		if c.status == 206 && resp.Header.Get("Content-Range") != wantCR {
			t.Errorf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), wantCR)
		}
	}
	if resp, _, _ := h.get(url, map[string]string{"Range": "bytes=400000-"}); resp.StatusCode != 416 {
		t.Errorf("unsatisfiable range: HTTP %d", resp.StatusCode)
	}

	head, err := h.srv.Client().Head(url)
	if err != nil || head.StatusCode != 200 || head.ContentLength != size {
		t.Errorf("HEAD: %v %v", head, err)
	}
	st := h.sim.Stats()
	if st.Downloads["mp4_track"] != 8 || st.BytesServed["mp4_track"] < 2*size {
		t.Errorf("downloads %d bytes %d", st.Downloads["mp4_track"], st.BytesServed["mp4_track"])
	}
}

func TestCutAndResume(t *testing.T) {
	h := newHarness(t, Config{FileSize: 1 << 20, ReadyAfter: -1})
	id := h.mustCreate("cut-1")
	_, rec := h.record(id)
	url := rec["response"].(map[string]any)["videoUrl"].(string)

	resp, part, err := h.get(url, nil)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("first transfer: want unexpected EOF, got %v (HTTP %v)", err, resp.StatusCode)
	}
	if len(part) != 1<<19 {
		t.Fatalf("first transfer gave %d bytes, want %d", len(part), 1<<19)
	}
	etag := resp.Header.Get("ETag")
	resp, rest, err := h.get(url, map[string]string{
		"Range": fmt.Sprintf("bytes=%d-", len(part)), "If-Range": etag})
	if err != nil || resp.StatusCode != 206 {
		t.Fatalf("resume: %v %v", resp, err)
	}
	want, _ := h.sim.FileSHA256(id)
	if got := sha(append(part, rest...)); got != want {
		t.Errorf("resumed sha %s, want %s", got, want)
	}
	st := h.sim.Stats()
	if st.Downloads[id] != 2 || st.BytesServed[id] != 1<<20 {
		t.Errorf("downloads %d bytes %d", st.Downloads[id], st.BytesServed[id])
	}
}

func TestExpireURL(t *testing.T) {
	clk := newClock()
	h := newHarness(t, Config{ReadyAfter: -1, Now: clk.Now})
	id := h.mustCreate("expire-1")
	_, rec := h.record(id)
	url := rec["response"].(map[string]any)["videoUrl"].(string)
	if resp, _, _ := h.get(url, nil); resp.StatusCode != 404 {
		t.Fatalf("expired URL: HTTP %d", resp.StatusCode)
	}
	r := h.do("POST", PathDownloadURL, map[string]string{"url": url})
	var signed string
	if r.Code != 200 || json.Unmarshal(r.Data, &signed) != nil {
		t.Fatalf("download-url: %s", r.Raw)
	}
	resp, body, err := h.get(signed, nil)
	if want, _ := h.sim.FileSHA256(id); err != nil || resp.StatusCode != 200 || sha(body) != want {
		t.Fatalf("signed URL: %v %v", resp, err)
	}
	if resp, _, _ := h.get(url+"?sig=forged", nil); resp.StatusCode != 403 {
		t.Errorf("forged sig: HTTP %d", resp.StatusCode)
	}
	clk.Advance(21 * time.Minute)
	if resp, _, _ := h.get(signed, nil); resp.StatusCode != 403 {
		t.Errorf("signed URL after 21 min: HTTP %d", resp.StatusCode)
	}
	for _, bad := range []string{"https://example.com/v/x.mp4", h.srv.URL + "/files/mp4_none.mp4", "::"} {
		if r := h.do("POST", PathDownloadURL, map[string]string{"url": bad}); r.Code != 422 ||
			r.Msg != "url is not a kie-generated file" {
			t.Errorf("%s: %s", bad, r.Raw)
		}
	}
	if n := h.sim.Stats().DownloadURLCalls; n != 4 {
		t.Errorf("DownloadURLCalls %d", n)
	}
}

func TestConfigVideo(t *testing.T) {
	video := append(append([]byte{}, mp4Header[:]...), []byte("a small but real movie")...)
	h := newHarness(t, Config{Video: video, ReadyAfter: -1})
	id := h.mustCreate("v")
	resp, body, err := h.get(h.srv.URL+fileURLPath(id), nil)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, video) {
		t.Fatalf("GET: %v %v %q", resp, err, body)
	}
	if got, _ := h.sim.FileSHA256(id); got != sha(video) || h.sim.FileSize(id) != int64(len(video)) {
		t.Errorf("sha %s size %d", got, h.sim.FileSize(id))
	}
	if _, err := h.sim.FileSHA256("mp4_unknown"); err == nil {
		t.Error("FileSHA256 of an unknown task did not fail")
	}
}

func TestStreamRandomAccess(t *testing.T) {
	const size = 3*blockSize + 123
	full, err := io.ReadAll(newStream("mp4_a", size))
	if err != nil || len(full) != size {
		t.Fatal(len(full), err)
	}
	other, _ := io.ReadAll(newStream("mp4_b", size))
	if bytes.Equal(full[24:1024], other[24:1024]) {
		t.Error("different tasks share content")
	}
	var buf bytes.Buffer
	if _, err := newStream("mp4_a", size).WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), full) {
		t.Error("WriteTo differs from Read")
	}
	s := newStream("mp4_a", size)
	for _, c := range []struct{ off, n int }{{0, 10}, {blockSize - 5, 10}, {100, 2 * blockSize}, {size - 7, 50}, {blockSize, blockSize}} {
		if _, err := s.Seek(int64(c.off), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, c.n)
		n, _ := io.ReadFull(s, got)
		if !bytes.Equal(got[:n], full[c.off:min(c.off+c.n, size)]) {
			t.Errorf("read %d@%d differs", c.n, c.off)
		}
	}
	if end, _ := s.Seek(0, io.SeekEnd); end != size {
		t.Errorf("SeekEnd %d", end)
	}
	if _, err := s.Seek(-1, io.SeekStart); err == nil {
		t.Error("negative seek allowed")
	}
}

// discard is a minimal http.ResponseWriter that drops the body.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkFileStream serves a 256 MiB generated file through the handler (no network).
func BenchmarkFileStream(b *testing.B) {
	const size = 256 << 20
	s := New(Config{FileSize: size, ReadyAfter: -1})
	s.AddTask("mp4_bench", "bench", Fate{})
	req, _ := http.NewRequest("GET", "http://sim"+fileURLPath("mp4_bench"), nil)
	b.SetBytes(size)
	for b.Loop() {
		s.ServeHTTP(&discard{h: http.Header{}}, req)
	}
	if got := s.Stats().BytesServed["mp4_bench"]; got != int64(b.N)*size {
		b.Fatalf("served %d bytes", got)
	}
}

// BenchmarkFileStreamHTTP downloads a 256 MiB generated file over loopback TCP.
func BenchmarkFileStreamHTTP(b *testing.B) {
	const size = 256 << 20
	s := New(Config{FileSize: size, ReadyAfter: -1})
	s.AddTask("mp4_bench", "bench", Fate{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	b.SetBytes(size)
	for b.Loop() {
		resp, err := srv.Client().Get(srv.URL + fileURLPath("mp4_bench"))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			b.Fatal(n, err)
		}
	}
}
