package jobs

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeChunks writes data after the first start bytes of a file holding them, in chunks of
// the given sizes (then of whole buffers) placed as copy places them, and returns the writer.
func writeChunks(t *testing.T, path string, data []byte, start int, sizes []int) *diskWriter {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data[:start]); err != nil {
		t.Fatal(err)
	}
	w := newDiskWriter(f, int64(start))
	buf := newChunkBuf(chunkSize)
	off := start
	for i := 0; off < len(data); i++ {
		n := chunkSize // after the sizes given, whole buffers up to the end
		if i < len(sizes) {
			n = sizes[i]
		}
		p := off % diskAlign
		n = min(n, len(buf)-p, len(data)-off)
		copy(buf[p:p+n], data[off:off+n])
		if err := w.write(buf, p, n); err != nil {
			t.Fatalf("write %d bytes at %d: %v", n, off, err)
		}
		off += n
	}
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestDiskWriterWritesEveryByte writes files from unaligned and aligned offsets in chunks of
// every awkward size and checks each byte, and that whole pages went to the disk directly
// where the file system allows it.
func TestDiskWriterWritesEveryByte(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 5<<20+777)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	directOK := directSupported && probeDirect(t, dir)
	for i, c := range []struct {
		start int
		sizes []int
	}{
		{0, []int{chunkSize, chunkSize, chunkSize, chunkSize, chunkSize, chunkSize}},
		{12, []int{chunkSize, chunkSize, chunkSize, chunkSize, chunkSize, chunkSize}}, // after the signature
		{4095, []int{1, 4096, 4097, 100, chunkSize, 3 << 20, chunkSize, chunkSize}},
		{4096, []int{8192, 1, 8191, chunkSize, chunkSize, chunkSize, chunkSize, chunkSize}},
		{5000, randomSizes(rng, 200)},
	} {
		path := filepath.Join(dir, "f"+string(rune('a'+i)))
		w := writeChunks(t, path, data, c.start, c.sizes)
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("start %d: the file differs from what was written (%d bytes, want %d)", c.start, len(got), len(data))
		}
		if directOK && w.directN < int64(len(data))/2 {
			t.Errorf("start %d: %d of %d bytes went to the disk directly; want most of them", c.start, w.directN, len(data))
		}
	}
	if !directOK {
		t.Logf("%s has no direct I/O: every byte went through the page cache", dir)
	}
}

func randomSizes(rng *rand.Rand, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1 + rng.IntN(64<<10)
	}
	return s
}

// probeDirect reports whether the file system of dir takes O_DIRECT.
func probeDirect(t *testing.T, dir string) bool {
	f, err := os.CreateTemp(dir, "probe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return setDirect(f, true) == nil
}

// TestDiskWriterSyncsBehind checks that the writer syncs as it goes, one sync at a time.
func TestDiskWriterSyncsBehind(t *testing.T) {
	old := syncEvery
	syncEvery = 256 << 10
	defer func() { syncEvery = old }()
	data := make([]byte, 4<<20)
	sizes := make([]int, 64)
	for i := range sizes {
		sizes[i] = 64 << 10
	}
	w := writeChunks(t, filepath.Join(t.TempDir(), "f"), data, 0, sizes)
	if w.syncs < 2 || w.syncs > 16 {
		t.Errorf("%d background syncs for 4 MiB synced every 256 KiB; want between 2 and 16", w.syncs)
	}
}

// trickle is a body that sends a few bytes at a time, then fails.
type trickle struct {
	data  []byte
	every time.Duration
	err   error
}

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	time.Sleep(r.every)
	n := copy(p[:min(len(p), 10)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestCopyKeepsEveryByteOfASlowCutBody: the bytes of a slow body reach the file while it
// still arrives, and a cut loses none that came.
func TestCopyKeepsEveryByteOfASlowCutBody(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "part")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := bytes.Repeat([]byte("0123456789"), 100) // 1,000 bytes in 10 ms steps: 1 s
	cut := errors.New("connection reset")
	var seen []int64
	tr := &transfer{progress: func(n int64) { seen = append(seen, n) }}
	h := sha256.New()
	n, err := tr.copy(f, &trickle{data: data, every: 10 * time.Millisecond, err: cut}, h, 0)
	if !errors.Is(err, cut) || n != int64(len(data)) {
		t.Fatalf("copy = %d, %v; want %d, the cut", n, err, len(data))
	}
	got, _ := os.ReadFile(path)
	want := sha256.Sum256(data)
	if !bytes.Equal(got, data) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Errorf("the file (%d bytes) or its hash differs from the %d bytes sent", len(got), len(data))
	}
	if len(seen) == 0 || seen[0] == 0 {
		t.Errorf("progress %v: bytes of a slow body should reach the file before it ends", seen)
	}
}

// TestCopyStopsAtADiskError: a file that cannot be written stops the copy with a diskError,
// without reading the rest of the body.
func TestCopyStopsAtADiskError(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "part")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path) // read only: every write fails
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	body := &countingReader{r: io.LimitReader(zeros{}, 1<<30)}
	n, err := (&transfer{}).copy(f, body, sha256.New(), 0)
	var de *diskError
	if !errors.As(err, &de) || n != 0 {
		t.Fatalf("copy = %d, %v; want 0 and a diskError", n, err)
	}
	if body.n > 16<<20 {
		t.Errorf("the copy read %d bytes of the body after the disk failed", body.n)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestWriteDurable writes a file the way downloads do and reads it back.
func TestWriteDurable(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("kiemv\x00"), 700_001) // not a whole number of pages
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteDurable(path, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes that differ from the %d written", len(got), len(data))
	}
	err := WriteDurable(path+"2", bytes.NewReader(data[:10]), 20)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a reader 10 bytes short: %v; want io.ErrUnexpectedEOF", err)
	}
}
