package jobs_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

func (e *env) partPath(id string) string { return filepath.Join(e.dir.Path(), id+".mp4.part") }

// wantDownloaded checks that id ended downloaded with exactly the simulator's video.
func (e *env) wantDownloaded(id, wantSHA string, wantSize int64) {
	e.t.Helper()
	rec := e.get(id)
	if rec.State != jobs.StateDownloaded || rec.File != e.dir.FinalPath(id) || rec.Bytes != wantSize ||
		rec.SHA256 != wantSHA || rec.DownloadedAt.IsZero() || rec.Error != "" || rec.PartETag != "" {
		e.t.Fatalf("record %+v; want downloaded, %d bytes, sha256 %s", rec, wantSize, wantSHA)
	}
	if got := fileSHA(e.t, rec.File); got != wantSHA {
		e.t.Errorf("file on disk has sha256 %s, want %s", got, wantSHA)
	}
	if exists(e.partPath(id)) {
		e.t.Error("the .part file was left behind")
	}
}

// wantTransient checks that err asks for a counted retry and that the record waits for it.
func (e *env) wantTransient(id string, err error) {
	e.t.Helper()
	if err == nil || !jobs.IsFailure(err) || errors.Is(err, asynq.SkipRetry) {
		e.t.Fatalf("err = %v; want a transient (retried) error", err)
	}
	if rec := e.get(id); rec.State != jobs.StateDownloading || rec.Error == "" {
		e.t.Fatalf("record %+v; want downloading with the error noted", rec)
	}
}

// wantRefused checks that the download failed for good and left no file behind.
func (e *env) wantRefused(id string, err error, want string) {
	e.t.Helper()
	if !errors.Is(err, asynq.SkipRetry) {
		e.t.Errorf("err = %v; want SkipRetry", err)
	}
	rec := e.get(id)
	if rec.State != jobs.StateFailed || !strings.Contains(rec.Error, want) || !strings.Contains(rec.Error, id) {
		e.t.Errorf("record %+v; want failed saying %q", rec, want)
	}
	if exists(e.dir.FinalPath(id)) || exists(e.partPath(id)) {
		e.t.Error("a refused download left a file behind")
	}
}

func (e *env) simSHA(id string) string {
	e.t.Helper()
	s, err := e.sim.FileSHA256(id)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func TestDownloadHappyPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_ok", kiesim.Fate{})
	e.record(id, jobs.StateReady, time.Time{}, e.fileURL(id))
	d := e.downloader()
	if err := e.download(d, id); err != nil {
		t.Fatal(err)
	}
	e.wantDownloaded(id, e.simSHA(id), testFileSize)
	if err := e.download(d, id); err != nil { // a duplicate task finds the work done
		t.Fatal(err)
	}
	if n := e.sim.Stats().Downloads[id]; n != 1 {
		t.Errorf("%d GETs, want 1", n)
	}
}

func TestDownloadResumesAfterCut(t *testing.T) {
	t.Parallel()
	for _, cut := range []int64{40_000, 6} { // 6: the cut comes before the signature is complete
		e := newEnv(t, kiesim.Config{})
		id := e.simTask("mp4_cut", kiesim.Fate{CutAt: cut})
		e.record(id, jobs.StateReady, time.Time{}, e.fileURL(id))
		d := e.downloader()
		e.wantTransient(id, e.download(d, id))
		kept := cut
		if cut < 12 { // too short to tell an MP4: nothing is kept, the next attempt starts over
			kept = 0
		}
		if st, err := os.Stat(e.partPath(id)); err != nil || st.Size() != kept {
			t.Fatalf("cut %d: part file %v, %v; want %d bytes", cut, st, err, kept)
		}
		if err := e.download(d, id); err != nil {
			t.Fatalf("cut %d: second attempt: %v", cut, err)
		}
		e.wantDownloaded(id, e.simSHA(id), testFileSize)
		st := e.sim.Stats()
		if want := testFileSize + cut - kept; st.Downloads[id] != 2 || st.BytesServed[id] != want {
			t.Errorf("cut %d: %d GETs served %d bytes; want 2 GETs and %d bytes (a resume, not a restart)",
				cut, st.Downloads[id], st.BytesServed[id], want)
		}
	}
}

func TestDownloadDeadURLGetsFreshOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_expire", kiesim.Fate{ExpireURL: true})
	e.record(id, jobs.StateReady, time.Time{}, e.fileURL(id))
	if err := e.download(e.downloader(), id); err != nil {
		t.Fatal(err)
	}
	e.wantDownloaded(id, e.simSHA(id), testFileSize)
	if rec := e.get(id); !strings.Contains(rec.VideoURL, "sig=") {
		t.Errorf("video URL %q: the fresh signed URL was not saved", rec.VideoURL)
	}
	if st := e.sim.Stats(); st.DownloadURLCalls != 1 || st.Downloads[id] != 2 {
		t.Errorf("download-url calls %d, GETs %d; want 1 and 2", st.DownloadURLCalls, st.Downloads[id])
	}
}

func TestDownloadDeadURLWithoutFreshOneExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	// KIE's record has no video URL (any more): the file 404s and nothing replaces it.
	id := e.simTask("mp4_gone", kiesim.Fate{Outcome: kiesim.OutcomeNever})
	e.record(id, jobs.StateReady, time.Time{}, e.fileURL(id))
	// And a task KIE no longer knows at all.
	e.record("mp4_forgotten", jobs.StateReady, time.Time{}, e.fileURL("mp4_forgotten"))
	for _, id := range []string{id, "mp4_forgotten"} {
		err := e.download(e.downloader(), id)
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("%s: err = %v, want SkipRetry", id, err)
		}
		if rec := e.get(id); rec.State != jobs.StateExpired || !strings.Contains(rec.Error, "can no longer be fetched") {
			t.Errorf("%s: record %+v", id, rec)
		}
	}
	if n := e.sim.Stats().DownloadURLCalls; n != 0 {
		t.Errorf("download-url called %d times without a URL to sign", n)
	}
}

func TestDownloadRecognisesCommittedFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_done", kiesim.Fate{})
	content := fakeMP4(12345, 9)
	if err := os.WriteFile(e.dir.FinalPath(id), content, 0o644); err != nil {
		t.Fatal(err)
	}
	e.record(id, jobs.StateDownloading, time.Time{}, e.fileURL(id)) // the attempt died after Commit
	if err := e.download(e.downloader(), id); err != nil {
		t.Fatal(err)
	}
	e.wantDownloaded(id, sha(content), int64(len(content)))
	if n := e.sim.Stats().Downloads[id]; n != 0 {
		t.Errorf("fetched the video %d times although it was on disk", n)
	}
}

func TestDownloadRefusesOversizeVideo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_big", kiesim.Fate{})
	e.record(id, jobs.StateReady, time.Time{}, e.fileURL(id))
	d := e.downloader()
	d.Config.MaxBytes = testFileSize - 1
	e.wantRefused(id, e.download(d, id), "cap")
}

func TestDownloadRefusesNonHTTPURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	for i, u := range []string{"file:///etc/passwd", "ftp://example.invalid/v.mp4", "javascript:alert(1)", "", "/files/x.mp4"} {
		id := "mp4_scheme" + string(rune('a'+i))
		e.record(id, jobs.StateReady, time.Time{}, u)
		e.wantRefused(id, e.download(e.downloader(), id), "not an http or https URL")
	}
}

func TestDownloadOtherStatesAreLeftAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	for _, st := range []jobs.State{jobs.StatePending, jobs.StateCanceled, jobs.StateFailed, jobs.StateExpired} {
		id := e.simTask("mp4_"+string(st), kiesim.Fate{})
		e.record(id, st, time.Time{}, e.fileURL(id))
		if err := e.download(e.downloader(), id); err != nil || e.get(id).State != st {
			t.Errorf("%s: err %v, state %s", st, err, e.get(id).State)
		}
	}
	if n := len(e.sim.Stats().Downloads); n != 0 {
		t.Errorf("%d videos fetched", n)
	}
	if err := e.download(e.downloader(), "mp4_unfollowed"); err != nil {
		t.Errorf("unfollowed: %v", err)
	}
}

// TestDownloadMemoryIsFlat downloads a 64 MiB video and checks that the process allocated
// far less than that: the file is streamed, never held in memory. Not parallel, so that
// other tests' allocations do not count.
func TestDownloadMemoryIsFlat(t *testing.T) {
	const size = 64 << 20
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_large", kiesim.Fate{FileSize: size})
	e.record(id, jobs.StateReady, time.Time{}, e.fileURL(id))
	d := e.downloader()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := e.download(d, id)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("downloading %d MiB allocated %.2f MiB", size>>20, float64(alloc)/(1<<20))
	if alloc > 8<<20 {
		t.Errorf("downloading %d MiB allocated %d bytes; want well under the file size", size>>20, alloc)
	}
	e.wantDownloaded(id, e.simSHA(id), size)
}

// TestDownloadReusesConnections checks that downloads share one HTTP client: a client (and
// Transport) per attempt would leave an idle keep-alive connection, with its goroutines, behind
// every download for 90 seconds. Not parallel, so that goroutine counts mean something.
func TestDownloadReusesConnections(t *testing.T) {
	e := newEnv(t, kiesim.Config{FileSize: 1000})
	d := e.downloader() // HTTP left nil: the default client
	before := runtime.NumGoroutine()
	for i := range 20 {
		id := e.simTask(fmt.Sprintf("mp4_conn%d", i), kiesim.Fate{})
		e.record(id, jobs.StateReady, time.Time{}, e.fileURL(id))
		if err := e.download(d, id); err != nil {
			t.Fatal(err)
		}
	}
	if grown := runtime.NumGoroutine() - before; grown > 10 {
		t.Errorf("20 downloads left %d more goroutines behind: connections are not reused", grown)
	}
}
