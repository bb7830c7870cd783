package bench

import (
	"context"
	"fmt"
	"os"
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

// downloads fetches one large file four ways from one simulator in a child process (so that
// the server's CPU is not the worker's): curl -o; curl -o && sha256sum && sync, the same work
// as kiemv's; kiemv's worker (--download-rounds times, curl -o in between); and kiemv's
// worker again with the transfer cut at half, which must resume without fetching any byte
// twice.
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
	sim, err := e.downloadSim(ctx, s)
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	for _, f := range []struct {
		id  string
		cut int64
	}{{"dlcurl", 0}, {"dlresume", size / 2}} {
		if err := sim.addFile(ctx, f.id, size, f.cut); err != nil {
			return nil, err
		}
	}
	rounds := max(e.o.DownloadRounds, 1)
	for k := range rounds {
		if err := sim.addFile(ctx, fmt.Sprint("dlkiemv", k), size, 0); err != nil {
			return nil, err
		}
	}
	mb := float64(size) / (1 << 20)
	s.add("size_mb", mb, "MB")

	curl := newCurlTimer(s, sim.URL+"/files/dlcurl.mp4", filepath.Join(dir, "curl.mp4"), size)
	disk := &diskTimer{s: s, path: filepath.Join(dir, "disk.mp4"), size: size}
	// The baselines run before and after kiemv, curl -o between each of kiemv's downloads:
	// the machine's load drifts.
	curl.runWhole(ctx)
	disk.run()
	curl.runPlain(ctx)

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
	var rates, cpus []float64
	for k := range rounds {
		id, cpu0 := fmt.Sprint("dlkiemv", k), cpuTime()
		res, err := e.fetch(ctx, w, done, id, 1)
		if err != nil {
			return nil, err
		}
		rates, cpus = append(rates, mb/res.d.Seconds()), append(cpus, (cpuTime()-cpu0).Seconds())
		os.Remove(w.dir.FinalPath(id))
		curl.runPlain(ctx)
	}
	peak := peakRSS()
	disk.run()
	curl.runWhole(ctx)
	rate := quantile(rates, 0.5)
	s.add("kiemv_mb_per_s", rate, "MB/s")
	curl.report(mb, rates, cpus)
	disk.report(mb, rate)
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
	st, serr := sim.fileStats(ctx, "dlresume")
	if serr != nil {
		return nil, serr
	}
	refetched := st.BytesServed - size
	s.check("resume_refetched_bytes", float64(refetched), "B", "= 0", refetched == 0)
	s.add("resume_requests", float64(st.Downloads), "")
	okSum := err == nil && rec.SHA256 == st.SHA256 && st.SHA256 != ""
	s.check("resume_sha256_ok", b2f(okSum), "", "= 1", okSum)
	s.note("%d rounds: kiemv's figures are the medians of its %d downloads, curl -o ran before and after each; curl_sha256_sync and disk figures are the means of two runs each, before and after kiemv's; curl_sha256_sync is `curl -o F && sha256sum F && sync F`, the work kiemv does", rounds, rounds)
	s.note("disk_durable is the same number of bytes written from memory as the worker writes a download, fsync included: no download that fsyncs to this disk can beat it")
	s.note("sha256 is one core's SHA-256 of the same number of bytes from memory: the hash is sequential, so no download that hashes every byte can beat it")
	s.note("kiemv's time covers the whole download attempt: GET, sha256 of every byte, fsync and rename; its CPU is this process's over the attempt (the simulator is a child), curl's that of curl, sha256sum and sync")
	s.note("kiemv_peak_rss_mb is this process's VmHWM after a reset before the download: it includes the bench and the worker's other goroutines (rss_before_mb)")
	return s, nil
}

// downloadSim starts the simulator of the downloads scenario in a child process (unless
// --sim-process=false), or in this process when that is not possible.
func (e *benchEnv) downloadSim(ctx context.Context, s *scenario) (*simServer, error) {
	if e.o.SimProcess {
		sim, err := startSimChild(ctx)
		if err == nil {
			s.note("the simulator served the file from a child process: its CPU is not the worker's")
			return sim, nil
		}
		s.note("the simulator served the file from this process (%v): it shares the CPU with the worker", err)
	} else {
		s.note("the simulator served the file from this process (--sim-process=false): it shares the CPU with the worker")
	}
	return startSim(kiesim.Config{})
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

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
