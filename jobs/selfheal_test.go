package jobs_test

// Tests of issue 10's failures, each of which left a record waiting forever or let a stale
// attempt win before records had generations and workers a reconciler.

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// dripServer serves body one small chunk every gap, never idle long enough for the
// download's idle watchdog (with its length announced unless chunked); requests counts the
// requests it served.
func (e *env) dripServer(body []byte, chunked bool, chunk int, gap time.Duration, requests *atomic.Int64) string {
	return e.serve(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if !chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.Header().Set("ETag", `"drip"`)
		for off := 0; off < len(body); off += chunk {
			if _, err := w.Write(body[off:min(off+chunk, len(body))]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(gap):
			}
		}
	}).URL + "/v.mp4"
}

// A download whose last attempt runs past its Asynq deadline used to leave the record
// downloading with nothing behind it: Asynq archives the task and ignores the handler.
func TestLastAttemptPastItsDeadlineEndsTheRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	var requests atomic.Int64
	url := e.dripServer(fakeMP4(1<<20, 3), false, 100, 50*time.Millisecond, &requests)
	e.readyAt("mp4_drip", url)
	task := jobs.NewDownloadTask("mp4_drip", 1, e.q, time.Second)
	if _, err := e.client.Enqueue(task, asynq.MaxRetry(0)); err != nil { // the last attempt
		t.Fatal(err)
	}
	e.startWorker(e.poller(), e.downloader())
	rec := e.waitFor("mp4_drip", 15*time.Second, terminal)
	if rec.State != jobs.StateFailed || !strings.Contains(rec.Error, "abandoned") || !strings.Contains(rec.Error, "kiemv retry mp4_drip") {
		t.Errorf("record %+v; want failed, saying the download was abandoned and how to retry", rec)
	}
	if requests.Load() != 1 {
		t.Errorf("%d requests; want the one attempt", requests.Load())
	}
}

// After cancel and retry, the old download attempt ran on and, ending with a permanent error,
// moved the now-pending record to failed.
func TestStaleDownloadChangesNothingAfterCancelAndRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	var requests atomic.Int64
	// A video that turns out, after a few seconds, to be over the size cap: refused for good.
	url := e.dripServer(fakeMP4(60_000, 4), true, 1200, 100*time.Millisecond, &requests)
	e.readyAt("mp4_stale", url)
	d := e.downloader()
	d.Config.MaxBytes = 30_000
	done := make(chan error, 1)
	go func() { done <- d.ProcessTask(e.ctx, jobs.NewDownloadTask("mp4_stale", 1, e.q, time.Minute)) }()
	e.waitFor("mp4_stale", 5*time.Second, func(r *jobs.Record) bool { return r.State == jobs.StateDownloading })
	svc := e.service()
	if _, err := svc.Cancel(e.ctx, "mp4_stale"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Retry(e.ctx, "mp4_stale"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the stale attempt returned %v; want nil (it ends quietly)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stale attempt did not end")
	}
	rec := e.get("mp4_stale")
	if rec.State != jobs.StatePending || rec.Generation != 3 || rec.Error != "" {
		t.Errorf("record %+v; want pending at generation 3 with no error: the stale attempt must change nothing", rec)
	}
	if !e.hasTask(e.q.Poll, jobs.PollTaskID("mp4_stale", 3)) {
		t.Error("retry queued no poll of the new generation")
	}
}

// An archived dl:<id> task blocked the TaskID, so after cancel and retry the poller believed
// the new download queued when none was, and the record stayed ready for good. The download
// was running during the cancel (so it could not be deleted) and Asynq archived it after.
func TestArchivedDownloadDoesNotBlockTheNextGeneration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	id := e.simTask("mp4_arch", kiesim.Fate{})
	e.record(id, jobs.StateDownloading, time.Time{}, e.fileURL(id))
	svc := e.service()
	if _, err := svc.Cancel(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Retry(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	// The attempt that ran during the cancel, archived when it ended.
	if _, err := e.client.Enqueue(jobs.NewDownloadTask(id, 1, e.q, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := e.insp.ArchiveTask(e.q.Download, jobs.DownloadTaskID(id, 1)); err != nil {
		t.Fatal(err)
	}
	e.startWorker(e.poller(), e.downloader())
	e.waitFor(id, 15*time.Second, terminal)
	e.wantDownloaded(id, e.simSHA(id), e.sim.FileSize(id))
}

// A cut download retried with other Files (another machine or --download-dir) kept the first
// directory's .part for good, and the new attempt trusted the other machine's validator.
func TestDownloadThatMovedStartsCleanAndItsOldPartIsRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	body := fakeMP4(40_000, 7)
	var ranges atomic.Int64
	srv := e.serve(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" || r.Header.Get("If-Range") != "" {
			ranges.Add(1)
		}
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "v.mp4", time.Time{}, strings.NewReader(string(body)))
	})
	id := "mp4_moved"
	e.record(id, jobs.StateDownloading, time.Time{}, srv.URL+"/v.mp4")
	// Another worker, elsewhere, had fetched 10,000 bytes; this directory holds an older part.
	if _, err := e.recs.Update(e.ctx, id, jobs.Change{PartOwner: "other-host:/srv/videos", PartETag: `"v1"`, PartTotal: 40_000, Bytes: 10_000}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.partPath(id), []byte("stale bytes of an older attempt"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.download(e.downloader(), id); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	e.wantDownloaded(id, hex.EncodeToString(sum[:]), int64(len(body)))
	if ranges.Load() != 0 {
		t.Errorf("%d requests resumed from another machine's part; want a clean start", ranges.Load())
	}

	// Here, a part of a record whose download moved on is removed by this worker's reconciler.
	other := "mp4_elsewhere"
	e.record(other, jobs.StateDownloading, time.Time{}, srv.URL+"/v.mp4")
	if _, err := e.recs.Update(e.ctx, other, jobs.Change{PartOwner: "other-host:/srv/videos"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.partPath(other), []byte("left behind"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := e.reconciler(time.Now()).Sweep(e.ctx)
	if err != nil || res.PartsRemoved != 1 || exists(e.partPath(other)) {
		t.Errorf("sweep %+v, %v; part exists %v; want the moved download's part removed", res, err, exists(e.partPath(other)))
	}
}
