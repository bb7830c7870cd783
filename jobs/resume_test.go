package jobs_test

// Resume integrity (issue 10, §4): file servers that answer a resume in ways that, trusted,
// would splice two versions of a file, commit a short file, or fetch a complete one again.

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// byteCounter is an http.ResponseWriter that counts the body bytes a handler writes.
type byteCounter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c byteCounter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c byteCounter) Unwrap() http.ResponseWriter { return c.ResponseWriter } // for Flush

// counted wraps h so that *sent is the number of body bytes it wrote, over all requests.
func counted(h http.HandlerFunc) (http.HandlerFunc, *atomic.Int64) {
	sent := new(atomic.Int64)
	return func(w http.ResponseWriter, r *http.Request) { h(byteCounter{w, sent}, r) }, sent
}

// A host that honours Range but ignores If-Range answers a resume with a 206 of whatever
// version it serves now. A 206 whose ETag is not (strongly) the one sent in If-Range must
// never be spliced onto the partial file: the attempt starts over from byte 0.
func TestDownloadResumeChecksTheETagOfA206(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	v1, v2 := fakeMP4(50_000, 11), fakeMP4(50_000, 12) // one length: only the ETag tells them apart
	for _, c := range []struct {
		name, etag string // the ETag of the 206 (and of the 200 after the restart)
		now        []byte // what the host serves after the cut
	}{
		{"other", `"v2"`, v2},     // a new version
		{"weak", `W/"v1"`, v1},    // a weak validator cannot vouch for bytes
		{"missing", "", v1},       // none at all
		{"unquoted", `v1`, v1},    // not the same string as the one sent
		{"prefixed", `"v1"x`, v1}, // nor this
	} {
		id := "mp4_ifrange_" + c.name
		var log reqLog
		h, sent := counted(func(w http.ResponseWriter, r *http.Request) {
			if log.add(r) == 1 {
				cutAfter(w, `"v1"`, v1, 20_000)
			}
			r.Header.Del("If-Range") // honour Range, ignore If-Range
			if c.etag != "" {
				w.Header().Set("ETag", c.etag)
			}
			http.ServeContent(w, r, "v.mp4", time.Time{}, bytes.NewReader(c.now))
		})
		e.readyAt(id, e.serve(h).URL)
		d := e.downloader()
		e.wantTransient(id, e.download(d, id))
		if rec := e.get(id); rec.PartETag != `"v1"` || rec.PartTotal != int64(len(v1)) {
			t.Fatalf("%s: after the cut, record PartETag %q PartTotal %d; want \"v1\", %d", c.name, rec.PartETag, rec.PartTotal, len(v1))
		}
		if err := e.download(d, id); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		e.wantDownloaded(id, sha(c.now), int64(len(c.now))) // sha256 of the bytes on disk, too
		r := log.get()
		if len(r) != 3 || r[1] != (seen{"bytes=20000-", `"v1"`}) || r[2] != (seen{}) {
			t.Errorf("%s: requests %+v; want the cut, the resume, then the whole file without Range", c.name, r)
		}
		// 20000 before the cut, at most the 30000 of the refused 206, then the whole file.
		if n := sent.Load(); n < 20_000+50_000 || n > 20_000+30_000+50_000 {
			t.Errorf("%s: server sent %d bytes", c.name, n)
		}
	}
}

// A 206 whose total is "*" says nothing about where the file ends: the length the first
// 200 declared must still be reached. Short of it is a transient error (the next attempt
// resumes); past it is refused.
func TestDownloadResumeStarTotalKeepsTheDeclaredLength(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	body := fakeMP4(50_000, 13)
	star := func(w http.ResponseWriter, from int, b []byte) { // a 206 of unknown total, chunked
		w.Header().Set("ETag", `"e"`)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/*", from, from+len(b)-1))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(b)
	}
	var log reqLog
	h, sent := counted(func(w http.ResponseWriter, r *http.Request) {
		switch log.add(r) {
		case 1:
			cutAfter(w, `"e"`, body, 20_000) // a 200 that declares 50000 bytes
		case 2:
			star(w, 20_000, body[20_000:30_000]) // ends cleanly 20000 bytes short
		default:
			star(w, 30_000, body[30_000:])
		}
	})
	e.readyAt("mp4_star", e.serve(h).URL)
	d := e.downloader()
	e.wantTransient("mp4_star", e.download(d, "mp4_star"))
	if rec := e.get("mp4_star"); rec.PartTotal != 50_000 || rec.PartETag != `"e"` {
		t.Fatalf("record PartTotal %d PartETag %q after the first reply; want 50000, \"e\"", rec.PartTotal, rec.PartETag)
	}
	err := e.download(d, "mp4_star")
	e.wantTransient("mp4_star", err)
	if !strings.Contains(err.Error(), "ended at 30000 of 50000 bytes") {
		t.Errorf("err = %v; want it to say the file ended at 30000 of 50000 bytes", err)
	}
	if st, err := os.Stat(e.partPath("mp4_star")); err != nil || st.Size() != 30_000 || exists(e.dir.FinalPath("mp4_star")) {
		t.Fatalf("part file %v, %v, final file %v; want 30000 bytes kept and nothing committed", st, err, exists(e.dir.FinalPath("mp4_star")))
	}
	if rec := e.get("mp4_star"); rec.PartTotal != 50_000 {
		t.Errorf("record PartTotal %d after the short 206; want 50000 kept", rec.PartTotal)
	}
	if err := e.download(d, "mp4_star"); err != nil {
		t.Fatal(err)
	}
	e.wantDownloaded("mp4_star", sha(body), int64(len(body)))
	if rec := e.get("mp4_star"); rec.PartTotal != 0 {
		t.Errorf("record PartTotal %d once downloaded; want it cleared with PartETag", rec.PartTotal)
	}
	if r := log.get(); len(r) != 3 || r[2].rng != "bytes=30000-" {
		t.Errorf("requests %+v; want the third to resume at 30000", r)
	}
	if n := sent.Load(); n != 50_000 {
		t.Errorf("server sent %d bytes; want 50000: every byte once", n)
	}

	// A "*" reply that runs past the declared length is refused, and nothing is committed.
	var log2 reqLog
	e.readyAt("mp4_star_long", e.serve(func(w http.ResponseWriter, r *http.Request) {
		if log2.add(r) == 1 {
			cutAfter(w, `"e"`, body, 20_000)
		}
		star(w, 20_000, append(bytes.Clone(body[20_000:]), make([]byte, 100)...))
	}).URL)
	e.wantTransient("mp4_star_long", e.download(d, "mp4_star_long"))
	e.wantRefused("mp4_star_long", e.download(d, "mp4_star_long"), "more than the 50000 bytes")
}

// page416 is the body of the test servers' 416 replies.
const page416 = "<html>range not satisfiable</html>"

// failFirstCommit is a download directory whose first Commit fails (an fsync or rename
// error), leaving a complete partial file behind for the next attempt.
type failFirstCommit struct {
	jobs.Files
	failed atomic.Bool
}

func (d *failFirstCommit) Commit(id string) (string, error) {
	if d.failed.CompareAndSwap(false, true) {
		return "", fmt.Errorf("fsync %s: input/output error", id)
	}
	return d.Files.Commit(id)
}

// A part that already holds the whole file gets a 416 when it is resumed: it is verified
// (length, signature, sha256) and committed, not thrown away and fetched again. A 416 whose
// part is not the declared length, or whose Content-Range names another length, starts over.
func TestDownloadResume416OfACompletePartCommitsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	body := fakeMP4(50_000, 14)
	for _, c := range []struct {
		name     string
		total    string // the N of the 416's Content-Range "bytes */N"; "" sends none
		complete bool   // whether the part is the whole file
		commit   bool   // whether the 416 commits it
	}{
		{"agrees", "50000", true, true},
		{"nocontentrange", "", true, true},
		{"otherlength", "60000", true, false}, // the file changed: start over
		{"shortpart", "50000", false, false},  // the part is not complete: today's restart
	} {
		id := "mp4_416_" + c.name
		var log reqLog
		h, sent := counted(func(w http.ResponseWriter, r *http.Request) {
			n := log.add(r)
			w.Header().Set("ETag", `"e"`)
			switch {
			case n == 1 && c.complete: // whole; the commit after it fails
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.Write(body)
			case n == 1:
				cutAfter(w, `"e"`, body, 20_000)
			case r.Header.Get("Range") != "":
				if c.total != "" {
					w.Header().Set("Content-Range", "bytes */"+c.total)
				}
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				fmt.Fprint(w, page416) // must not end up in the file
			default:
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.Write(body)
			}
		})
		e.readyAt(id, e.serve(h).URL)
		d := e.downloader()
		fc := &failFirstCommit{Files: e.dir}
		fc.failed.Store(!c.complete) // a short part comes from the cut, not from a failed commit
		d.Files = fc
		e.wantTransient(id, e.download(d, id))
		if rec := e.get(id); rec.PartTotal != 50_000 || rec.PartETag != `"e"` {
			t.Fatalf("%s: record PartTotal %d PartETag %q after the first attempt; want 50000, \"e\"", c.name, rec.PartTotal, rec.PartETag)
		}
		err := e.download(d, id)
		if c.commit {
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			e.wantDownloaded(id, sha(body), int64(len(body)))
			if r := log.get(); len(r) != 2 || r[1] != (seen{"bytes=50000-", `"e"`}) {
				t.Errorf("%s: requests %+v; want one resume past the end, and no refetch", c.name, r)
			}
			if n := sent.Load(); n != int64(len(body)+len(page416)) {
				t.Errorf("%s: server sent %d bytes in all; want the file once (50000) and the 416's page", c.name, n)
			}
			continue
		}
		e.wantTransient(id, err)
		if st, err := os.Stat(e.partPath(id)); err != nil || st.Size() != 0 || exists(e.dir.FinalPath(id)) {
			t.Fatalf("%s: part %v, %v, final %v; want the part emptied and nothing committed", c.name, st, err, exists(e.dir.FinalPath(id)))
		}
		if err := e.download(d, id); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		e.wantDownloaded(id, sha(body), int64(len(body)))
	}
}
