package bench

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/kiemv/kiemv/jobs"
)

// diskTimer times the disk alone: the download's number of bytes written from memory the way
// the worker writes a download (jobs.WriteDurable: direct, synced as it goes, fsync at the
// end), with neither network nor hash. No durable download to that disk can be faster. It
// times the other ceiling too: one core's SHA-256 of as many bytes.
type diskTimer struct {
	s    *scenario
	path string
	size int64
	runs []float64 // seconds of each run
	hash []float64 // seconds of each SHA-256 run
}

// run times one durable write of the file (and removes it), and one SHA-256 of as many bytes.
func (d *diskTimer) run() {
	d.hashRun()
	defer os.Remove(d.path)
	start := time.Now()
	if err := jobs.WriteDurable(d.path, newNoise(), d.size); err != nil {
		d.s.note("disk alone: %v", err)
		return
	}
	d.runs = append(d.runs, time.Since(start).Seconds())
}

// hashRun times one SHA-256 of the download's number of bytes, from memory on one core: the
// hash is sequential, so no download that hashes every byte can be faster.
func (d *diskTimer) hashRun() {
	n, h := newNoise(), sha256.New()
	start := time.Now()
	if _, err := io.CopyBuffer(h, io.LimitReader(n, d.size), make([]byte, 1<<20)); err != nil {
		return // noise never fails
	}
	d.hash = append(d.hash, time.Since(start).Seconds())
}

// report adds the disk's durable rate, one core's SHA-256 rate, and kiemv's rate (MB/s)
// against each.
func (d *diskTimer) report(mb, rate float64) {
	if len(d.runs) > 0 {
		disk := mb / mean(d.runs)
		d.s.add("disk_durable_mb_per_s", disk, "MB/s")
		d.s.add("kiemv_vs_disk_durable", ratio(rate, disk), "x")
	}
	if len(d.hash) > 0 {
		sum := mb / mean(d.hash)
		d.s.add("sha256_mb_per_s", sum, "MB/s")
		d.s.add("kiemv_vs_sha256", ratio(rate, sum), "x")
	}
}

// noise is an endless reader of pseudo-random bytes (a 1 MiB block, repeated): bytes a disk
// cannot compress or skip the way it might zeros.
type noise struct {
	block []byte
	off   int
}

func newNoise() *noise {
	b := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return &noise{block: b}
}

// Read implements io.Reader.
func (n *noise) Read(p []byte) (int, error) {
	c := 0
	for c < len(p) {
		m := copy(p[c:], n.block[n.off:])
		c += m
		n.off = (n.off + m) % len(n.block)
	}
	return c, nil
}
