package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// downloadDone is one download attempt reported by the Downloader's hook.
type downloadDone struct {
	bytes int64
	d     time.Duration
	err   error
}

// downloads fetches one large file three ways from one simulator: curl -o, kiemv's worker,
// and kiemv's worker again with the transfer cut at half, which must resume without fetching
// any byte twice.
func (e *benchEnv) downloads(ctx context.Context) (*scenario, error) {
	s := &scenario{Name: "downloads"}
	size := e.o.DownloadSize
	dir := filepath.Join(e.tmp, "downloads")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if free := freeDiskBytes(dir); free >= 0 && free < size*3/2+(256<<20) {
		s.note("skipped: %s has %d MB free, the %d MB download needs about %d MB", dir, free>>20, size>>20, (size*3/2+(256<<20))>>20)
		return s, nil
	}
	sim, err := startSim(kiesim.Config{FileSize: size, ReadyAfter: -1})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	sim.Sim.AddTask("dlcurl", "dlcurl", kiesim.Fate{})
	sim.Sim.AddTask("dlkiemv", "dlkiemv", kiesim.Fate{})
	sim.Sim.AddTask("dlresume", "dlresume", kiesim.Fate{CutAt: size / 2})
	mb := float64(size) / (1 << 20)
	s.add("size_mb", mb, "MB")

	curl := lookPath("curl")
	var curlTimes []float64
	timeIt := func() { // curl runs before and after kiemv: the machine's load drifts
		if curl == "" {
			return
		}
		d, err := timeCurl(ctx, curl, sim.URL+"/files/dlcurl.mp4", filepath.Join(dir, "curl.mp4"), size)
		if err != nil {
			s.note("curl failed: %v", err)
			return
		}
		curlTimes = append(curlTimes, d.Seconds())
	}
	if curl == "" {
		s.note("curl is not on PATH: no curl column (install curl to compare)")
	}
	timeIt()

	ns := benchNamespace("downloads")
	w, err := e.newWorker(ctx, workerSpec{ns: ns, simURL: sim.URL, dir: filepath.Join(dir, "kiemv"), recordLimit: 1000, maxBytes: size, downloads: 1, report: true})
	if err != nil {
		return nil, err
	}
	defer w.Close(e)
	done := w.downloads
	w.start()

	hwm := resetPeakRSS()
	rss0 := currentRSS()
	res, err := e.fetch(ctx, w, done, "dlkiemv", 1)
	if err != nil {
		return nil, err
	}
	peak := peakRSS()
	os.Remove(w.dir.FinalPath("dlkiemv"))
	timeIt()
	curlRate := mb / mean(curlTimes)
	rate := mb / res.d.Seconds()
	s.add("kiemv_mb_per_s", rate, "MB/s")
	s.add("curl_mb_per_s", curlRate, "MB/s")
	r := ratio(rate, curlRate)
	if !math.IsNaN(curlRate) {
		s.check("kiemv_vs_curl", r, "x", "≥ 0.9", okIf(r, 0.9, true))
	}
	if hwm {
		p := float64(peak) / (1 << 20)
		s.add("rss_before_mb", float64(rss0)/(1<<20), "MB")
		s.check("kiemv_peak_rss_mb", p, "MB", "≤ 64", okIf(p, 64, false))
	} else {
		s.note("peak RSS could not be reset (/proc/self/clear_refs): no RSS figure")
	}

	if _, err := e.fetch(ctx, w, done, "dlresume", 2); err != nil {
		return nil, err
	}
	rec, err := waitDownloaded(ctx, w, "dlresume") // the hook runs just before the record is saved
	st := sim.Sim.Stats()
	refetched := st.BytesServed["dlresume"] - size
	s.check("resume_refetched_bytes", float64(refetched), "B", "= 0", refetched == 0)
	s.add("resume_requests", float64(st.Downloads["dlresume"]), "")
	want, herr := sim.Sim.FileSHA256("dlresume")
	okSum := err == nil && herr == nil && rec.SHA256 == want
	s.check("resume_sha256_ok", b2f(okSum), "", "= 1", okSum)
	s.note("curl_mb_per_s is the mean of two curl runs, before and after kiemv's")
	s.note("kiemv's time covers the whole download attempt: GET, sha256 of every byte, fsync and rename (curl -o neither hashes nor fsyncs); the simulator generates the bytes in this process for both")
	s.note("kiemv_peak_rss_mb is this process's VmHWM after a reset before the download: it includes the bench, the simulator serving the file and the worker's other goroutines (rss_before_mb)")
	return s, nil
}

// fetch follows id with the worker and waits for attempts download attempts to end, the
// last successfully; it returns that one.
func (e *benchEnv) fetch(ctx context.Context, w *benchWorker, done <-chan downloadDone, id string, attempts int) (downloadDone, error) {
	if _, _, err := w.svc.Track(ctx, id, 0); err != nil {
		return downloadDone{}, err
	}
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return downloadDone{}, ctx.Err()
		case <-time.After(10 * time.Minute):
			return downloadDone{}, fmt.Errorf("bench: download of %s did not end within 10 minutes", id)
		case r := <-done:
			switch {
			case r.err == nil && i == attempts:
				return r, nil
			case r.err == nil:
				return r, fmt.Errorf("bench: download of %s ended after %d attempts, expected %d", id, i, attempts)
			case i == attempts:
				return r, fmt.Errorf("bench: download of %s: %w", id, r.err)
			}
		}
	}
}

// waitDownloaded waits (up to 10 s) for the record of id to reach downloaded.
func waitDownloaded(ctx context.Context, w *benchWorker, id string) (*jobs.Record, error) {
	for i := 0; ; i++ {
		rec, err := w.recs.Get(ctx, id)
		if err == nil && rec.State == jobs.StateDownloaded || i == 100 {
			return rec, err
		}
		if err := jobs.Sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// timeCurl times `curl -s -o path url` and checks the file's size; it removes the file.
func timeCurl(ctx context.Context, curl, url, path string, size int64) (time.Duration, error) {
	defer os.Remove(path)
	start := time.Now()
	out, err := exec.CommandContext(ctx, curl, "-s", "-S", "-o", path, url).CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if fi.Size() != size {
		return 0, errors.New("curl wrote " + fmt.Sprint(fi.Size()) + " bytes")
	}
	return d, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
