package kiesim

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/bits"
)

// blockSize is the unit of generated content: each block comes from its own seeded stream.
const blockSize = 64 << 10

// mp4Header is a 24-byte ftyp box (major brand isom, minor version 0x200, compatible brands
// isom and mp41), the start of every generated video so that signature checks pass.
var mp4Header = [24]byte{
	0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm',
	0, 0, 2, 0, 'i', 's', 'o', 'm', 'm', 'p', '4', '1',
}

// stream is an io.ReadSeeker over a generated video: byte i is a deterministic function of
// (task id, i). Block b (64 KiB) is the wyrand stream seeded with sha256(id || uint64be(b)),
// with the first 24 bytes of the file replaced by mp4Header. Memory use is O(1) in the size.
// wyrand is used rather than ChaCha8 because it is several times faster (ChaCha8 caps the
// file server near 1.2 GB/s) and the bytes only need to be arbitrary and reproducible.
type stream struct {
	seedBuf []byte // task id followed by 8 bytes of block index
	size    int64
	off     int64
	cached  int64  // index of the block in buf, or -1
	buf     []byte // one block, allocated on first use
}

// newStream returns a stream of size bytes for task id, positioned at 0.
func newStream(id string, size int64) *stream {
	seedBuf := make([]byte, len(id)+8)
	copy(seedBuf, id)
	return &stream{seedBuf: seedBuf, size: size, cached: -1}
}

// fill writes block b (whose length is len(dst)) into dst.
func (s *stream) fill(dst []byte, b int64) {
	binary.BigEndian.PutUint64(s.seedBuf[len(s.seedBuf)-8:], uint64(b))
	seed := sha256.Sum256(s.seedBuf)
	wyfill(dst, binary.LittleEndian.Uint64(seed[:8]))
	if b == 0 {
		copy(dst, mp4Header[:])
	}
}

// wyfill fills dst with the wyrand stream that starts from state x.
func wyfill(dst []byte, x uint64) {
	next := func() uint64 {
		x += 0xa0761d6478bd642f
		hi, lo := bits.Mul64(x, x^0xe7037ed1a0b428db)
		return hi ^ lo
	}
	for len(dst) >= 8 {
		binary.LittleEndian.PutUint64(dst, next())
		dst = dst[8:]
	}
	if len(dst) > 0 {
		var tail [8]byte
		binary.LittleEndian.PutUint64(tail[:], next())
		copy(dst, tail[:])
	}
}

// blockLen is the length of block b (the last one may be short).
func (s *stream) blockLen(b int64) int {
	return int(min(blockSize, s.size-b*blockSize))
}

// Read implements io.Reader.
func (s *stream) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	if rem := s.size - s.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n := 0
	for len(p) > 0 {
		b, within := s.off/blockSize, int(s.off%blockSize)
		bl := s.blockLen(b)
		var c int
		if within == 0 && len(p) >= bl && s.cached != b {
			s.fill(p[:bl], b) // whole block: generate in place, no copy
			c = bl
		} else {
			if s.cached != b {
				if s.buf == nil {
					s.buf = make([]byte, blockSize)
				}
				s.fill(s.buf[:bl], b)
				s.cached = b
			}
			c = copy(p, s.buf[within:bl])
		}
		p, n, s.off = p[c:], n+c, s.off+int64(c)
	}
	return n, nil
}

// Seek implements io.Seeker.
func (s *stream) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += s.off
	case io.SeekEnd:
		offset += s.size
	default:
		return 0, errors.New("kiesim: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("kiesim: negative position")
	}
	s.off = offset
	return offset, nil
}

// WriteTo implements io.WriterTo, so io.Copy of a whole stream skips a buffer copy.
func (s *stream) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, blockSize)
	var total int64
	for {
		n, err := s.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
	}
}
