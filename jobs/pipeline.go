package jobs

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const (
	chunkSize  = 1 << 20                // bytes of one copy buffer
	chunkBufs  = 4                      // buffers per transfer: one filling, one writing, one hashing, one spare
	chunkEvery = 250 * time.Millisecond // a slow body's bytes reach the file at least this often
)

// chunkPool holds the aligned copy buffers of transfers.
var chunkPool = sync.Pool{New: func() any { b := newChunkBuf(chunkSize); return &b }}

// chunk is bytes buf[p:p+n] of the file, in order. The writer and the hasher both read it;
// the last of them to be done gives buf back.
type chunk struct {
	buf  *[]byte
	p, n int
	refs *atomic.Int32
}

// done says that one of the writer and the hasher is done with c.
func (c chunk) done(free chan<- *[]byte) {
	if c.refs.Add(-1) == 0 {
		free <- c.buf
	}
}

// copy streams body into f (from offset start) and h, and returns the bytes it wrote. It
// reports progress about once a second.
//
// Three goroutines overlap the work: this one reads the body into aligned 1 MiB buffers, one
// writes them (see diskWriter: directly to the disk, synced as it goes) while another hashes
// them: the hash is the slowest stage (about 1 GB/s a core), so it never waits for the disk.
// (Should a write fail, h is thrown away with the attempt: the next one hashes the file's
// bytes anew.) A buffer is handed on when it is full, or after chunkEvery on a slow body, so
// that a cut loses no byte that arrived. Memory is chunkBufs buffers.
func (t *transfer) copy(f *os.File, body io.Reader, h io.Writer, start int64) (int64, error) {
	free := make(chan *[]byte, chunkBufs)
	for range chunkBufs {
		free <- chunkPool.Get().(*[]byte)
	}
	toWrite, toHash := make(chan chunk, chunkBufs), make(chan chunk, chunkBufs)
	var written atomic.Int64 // bytes the writer has written
	var werr error           // the writer's, read after it ends
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // writer
		defer wg.Done()
		w := newDiskWriter(f, start)
		for c := range toWrite {
			if werr == nil {
				if err := w.write(*c.buf, c.p, c.n); err != nil {
					werr = &diskError{err}
					close(stop)
				} else {
					written.Add(int64(c.n))
				}
			}
			c.done(free)
		}
		if err := w.finish(); err != nil && werr == nil {
			werr = &diskError{err}
		}
	}()
	go func() { // hasher
		defer wg.Done()
		for c := range toHash {
			h.Write((*c.buf)[c.p : c.p+c.n]) // a hash never fails to write
			c.done(free)
		}
	}()

	rerr := t.fill(body, start, free, toWrite, toHash, stop, &written)
	close(toWrite)
	close(toHash)
	wg.Wait()
	for range chunkBufs {
		chunkPool.Put(<-free)
	}
	if werr != nil {
		return written.Load(), werr
	}
	if rerr == io.EOF {
		rerr = nil
	}
	return written.Load(), rerr
}

// fill reads body into free buffers and hands each on to the writer and the hasher, until
// the body ends (io.EOF), fails, or the writer stops.
func (t *transfer) fill(body io.Reader, off int64, free <-chan *[]byte, toWrite, toHash chan<- chunk, stop <-chan struct{}, written *atomic.Int64) error {
	start, last := off, time.Now()
	for {
		var bp *[]byte
		select {
		case <-stop: // the writer failed: not a byte more
			return nil
		default:
		}
		select {
		case bp = <-free:
		case <-stop:
			return nil
		}
		buf := *bp
		p := int(off % diskAlign) // the bytes of each aligned page of the file at an aligned address
		n, began := 0, time.Now()
		var err error
		for p+n < len(buf) && err == nil && time.Since(began) < chunkEvery {
			var m int
			m, err = body.Read(buf[p+n:])
			n += m
		}
		c := chunk{buf: bp, p: p, n: n, refs: new(atomic.Int32)} // n = 0: back to free through both
		c.refs.Store(2)
		toWrite <- c
		toHash <- c
		off += int64(n)
		if t.progress != nil && time.Since(last) >= time.Second {
			last = time.Now()
			t.progress(start + written.Load())
		}
		if err != nil {
			return err
		}
	}
}
