package jobs

import "os"

// wbChunk is how many written bytes writeBehind hands to the disk at a time.
const wbChunk = 8 << 20

// writeBehind flushes a file being written sequentially to disk as it grows, a chunk at a
// time, and drops the flushed chunks from the page cache: at most about three chunks are
// dirty at once, so a large download is never throttled by the kernel's dirty-page limits,
// does not evict the machine's cache, and leaves the final fsync (which stays: it is what
// makes the file durable) almost nothing to do. Flushing is advisory: its errors are left to
// that fsync. It does nothing where the system has no sync_file_range (only Linux has).
type writeBehind struct {
	f       *os.File
	end     int64 // offset after the last write
	started int64 // writeback started up to here
	done    int64 // written back and dropped up to here
}

// newWriteBehind follows f, whose next write lands at offset at.
func newWriteBehind(f *os.File, at int64) *writeBehind {
	return &writeBehind{f: f, end: at, started: at, done: at}
}

// wrote notes that n more bytes were written at the end, and flushes what completed a chunk.
func (w *writeBehind) wrote(n int) {
	w.end += int64(n)
	for w.end-w.started >= wbChunk {
		startWriteback(w.f, w.started, wbChunk)
		w.started += wbChunk
		if w.started-w.done > 2*wbChunk { // two chunks in flight: wait for the older one
			awaitWriteback(w.f, w.done, wbChunk)
			w.done += wbChunk
		}
	}
}
