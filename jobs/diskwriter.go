package jobs

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"
)

// diskAlign is the alignment of direct writes: of the file offset, the length and the memory.
// 4096 satisfies every common logical block size (512 and 4096).
const diskAlign = 4096

// syncEvery is how many bytes a transfer writes between two background syncs.
var syncEvery int64 = 64 << 20

// diskWriter writes the bytes of one transfer at increasing offsets of the partial file.
//
// Whole aligned pages go to the disk directly (O_DIRECT, where the file system allows it):
// no copy into the page cache and no write-back left for the final fsync. The unaligned head
// and tail of a run go through the page cache. Every syncEvery bytes it makes what it wrote
// durable on a goroutine of its own, so that the fsync of the commit finds little left to do:
// on a virtual disk with a write cache, a 1 GiB file's single fsync at the end took 0.4–0.7 s.
type diskWriter struct {
	f         *os.File
	off       int64 // where the next byte goes
	direct    bool  // O_DIRECT is set on f now
	canDirect bool  // direct writes are still worth trying
	unsynced  int64
	syncs     int         // background syncs started (tests)
	directN   int64       // bytes written directly (tests)
	running   atomic.Bool // a background sync is running
	syncing   sync.WaitGroup
	mu        sync.Mutex
	syncErr   error // of a background sync
}

// newDiskWriter writes into f from offset off.
func newDiskWriter(f *os.File, off int64) *diskWriter {
	return &diskWriter{f: f, off: off, canDirect: directSupported}
}

// write writes the n bytes at buf[p:p+n] at the writer's offset. buf must come from
// newChunkBuf and p must equal the offset modulo diskAlign, so that the bytes of every
// aligned page of the file sit at an aligned address.
func (w *diskWriter) write(buf []byte, p, n int) error {
	data := buf[p : p+n]
	head := min((diskAlign-p%diskAlign)%diskAlign, n)
	mid := (n - head) / diskAlign * diskAlign
	if err := w.writeAt(data[:head], false); err != nil {
		return err
	}
	if err := w.writeAt(data[head:head+mid], true); err != nil {
		return err
	}
	if err := w.writeAt(data[head+mid:], false); err != nil {
		return err
	}
	w.unsynced += int64(n)
	if w.unsynced >= syncEvery {
		w.unsynced = 0
		w.syncBehind()
	}
	return nil
}

// writeAt writes b at the writer's offset, directly if asked and possible. A file system that
// refuses a direct write (EINVAL) gets this and every later write through the page cache.
func (w *diskWriter) writeAt(b []byte, direct bool) error {
	if len(b) == 0 {
		return nil
	}
	direct = direct && w.canDirect
	if direct != w.direct {
		if err := setDirect(w.f, direct); err != nil {
			if direct { // not supported here: stay buffered
				w.canDirect, direct = false, false
			} else {
				return err
			}
		} else {
			w.direct = direct
		}
	}
	_, err := w.f.WriteAt(b, w.off)
	if err != nil && w.direct && errors.Is(err, errDirectRefused) {
		w.canDirect = false
		if err := setDirect(w.f, false); err != nil {
			return err
		}
		w.direct = false
		_, err = w.f.WriteAt(b, w.off)
	}
	if err != nil {
		return err
	}
	if w.direct {
		w.directN += int64(len(b))
	}
	w.off += int64(len(b))
	return nil
}

// syncBehind starts a sync of the file unless one is still running.
func (w *diskWriter) syncBehind() {
	if !w.running.CompareAndSwap(false, true) {
		return
	}
	w.syncs++
	w.syncing.Add(1)
	go func() {
		defer w.syncing.Done()
		if err := w.f.Sync(); err != nil {
			w.mu.Lock()
			w.syncErr = cmp.Or(w.syncErr, err)
			w.mu.Unlock()
		}
		w.running.Store(false)
	}()
}

// finish waits for the background sync and leaves f without O_DIRECT (its later reads and
// the commit's fsync are ordinary). It returns the first error of either.
func (w *diskWriter) finish() error {
	w.syncing.Wait()
	w.mu.Lock()
	err := w.syncErr
	w.mu.Unlock()
	if w.direct {
		err = errors.Join(err, setDirect(w.f, false))
		w.direct = false
	}
	return err
}

// newChunkBuf returns a buffer of n bytes (a multiple of diskAlign) at an aligned address.
func newChunkBuf(n int) []byte {
	b := make([]byte, n+diskAlign)
	skip := int(uintptr(unsafe.Pointer(&b[0])) % diskAlign)
	if skip != 0 {
		skip = diskAlign - skip
	}
	return b[skip : skip+n : skip+n]
}

// WriteDurable writes the n bytes of r to a new file at path the way downloads write theirs
// (whole pages directly where the file system allows it, synced as it goes) and fsyncs it. It
// is what the disk alone takes to make n bytes durable: the bound of any download to it.
func WriteDurable(path string, r io.Reader, n int64) (err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	w := newDiskWriter(f, 0)
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	for off := int64(0); off < n; {
		m, rerr := io.ReadFull(r, (*bp)[:min(int64(len(*bp)), n-off)])
		if m > 0 {
			if err := w.write(*bp, 0, m); err != nil {
				return errors.Join(err, w.finish())
			}
			off += int64(m)
		}
		if rerr != nil {
			return errors.Join(fmt.Errorf("%s: %d of %d bytes: %w", path, off, n, rerr), w.finish())
		}
	}
	if err := w.finish(); err != nil {
		return err
	}
	return f.Sync()
}
