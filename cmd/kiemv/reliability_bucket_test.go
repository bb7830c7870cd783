//go:build linux

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

// TestReliabilityBucketTwoWorkers: two worker processes with scratch directories of their own
// download 40 × 20 MB videos into one bucket of an S3 server (gofakes3, in this process); one
// is killed with SIGKILL mid-run and restarted. Every object ends with the sha256 KIE served,
// no staged file is left in either scratch directory, and each download the kill cut resumed
// by Range if it came back to the worker holding its part, or started from byte 0 on the
// other worker.
func TestReliabilityBucketTwoWorkers(t *testing.T) {
	needRealRedis(t)
	t.Parallel()
	const n, size, rate = 40, 20 << 20, 10 << 20
	var mu sync.Mutex
	ranges := map[string][]string{} // task id → the Range headers of its video GETs
	s3 := storetest.NewS3(t, "videos")
	dest := s3.URL("videos", "lib")
	r := newRig(t, kiesim.Config{FileSize: size, FileRate: rate}, rigOptions{Dir: dest, Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if id, ok := strings.CutPrefix(req.URL.Path, kiesim.PathFiles); ok {
				mu.Lock()
				ranges[strings.TrimSuffix(id, ".mp4")] = append(ranges[strings.TrimSuffix(id, ".mp4")], req.Header.Get("Range"))
				mu.Unlock()
			}
			h.ServeHTTP(w, req)
		})
	}})
	for k, v := range storetest.S3Environ() {
		r.env = append(r.env, k+"="+v)
	}
	var ids []string
	for i := range n {
		audio := fmt.Sprintf("bucket-%02d", i)
		r.sim.SetFate(audio, kiesim.Fate{ReadyAfter: -1})
		ids = append(ids, r.submit(audio))
	}
	scratchA, scratchB := t.TempDir(), t.TempDir()
	host, _ := os.Hostname()
	ownerA := host + ":" + scratchA
	worker := func(name, scratch string) *proc {
		return r.start(name, append(append([]string{"--scratch-dir", scratch, "worker"}, workerArgs...), "--reconcile-interval", "2s")...)
	}
	a := worker("worker-a", scratchA)
	worker("worker-b", scratchB)

	objects := func() int { return len(s3.Keys("videos")) }
	parts := map[string]int64{} // the parts the kill cut on worker A, by id, with their sizes
	r.waitFor("8 objects, and worker A with a download 1 MiB in", 3*time.Minute, func() bool {
		clear(parts)
		for id, size := range scratchFiles(scratchA, ".mp4.part") {
			if size >= 1<<20 {
				parts[id] = size
			}
		}
		return objects() >= 8 && len(parts) > 0
	})
	r.signal(a, syscall.SIGKILL, 10*time.Second)
	parts = scratchFiles(scratchA, ".mp4.part") // after the kill: what the resume must continue
	staged := scratchFiles(scratchA, ".mp4")
	t.Logf("killed worker A with %d objects in the bucket, %d parts and %d staged files in its scratch dir", objects(), len(parts), len(staged))
	worker("worker-a2", scratchA)

	r.waitFor("every video in the bucket", 4*time.Minute, func() bool { return r.allIn(jobs.StateDownloaded, ids...) })
	r.waitFor("both scratch directories empty", time.Minute, func() bool {
		return len(scratchFiles(scratchA, ""))+len(scratchFiles(scratchB, "")) == 0
	})
	recs := store.NewRecords(r.rdb, r.ns)
	resumed, restarted := 0, 0
	for _, id := range ids {
		rec, err := recs.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := r.sim.FileSHA256(id)
		obj, err := s3.Backend.GetObject("videos", "lib/"+id+".mp4", nil)
		if err != nil {
			t.Errorf("%s: no object: %v", id, err)
			continue
		}
		got := sha256Of(t, obj.Contents)
		if got != want || rec.SHA256 != want || rec.File != "s3://videos/lib/"+id+".mp4" {
			t.Errorf("%s: object sha256 %s, record %s at %s; KIE served %s", id, got, rec.SHA256, rec.File, want)
		}
		mu.Lock()
		asked := slices.Clone(ranges[id])
		mu.Unlock()
		ranged := slices.DeleteFunc(asked, func(h string) bool { return h == "" })
		part, cut := parts[id]
		switch {
		case cut && rec.PartOwner == ownerA:
			resumed++
			if want := fmt.Sprintf("bytes=%d-", part); !slices.Equal(ranged, []string{want}) {
				t.Errorf("%s came back to worker A, which held %d bytes of it: Range requests %q; want one, %s", id, part, ranged, want)
			}
		case cut:
			restarted++
			if len(ranged) != 0 {
				t.Errorf("%s moved to worker B: Range requests %q; want a clean start from byte 0", id, ranged)
			}
		case len(ranged) != 0:
			t.Errorf("%s was not cut, yet its GETs asked for %q", id, ranged)
		}
	}
	t.Logf("of the %d downloads the kill cut, %d resumed by Range on worker A, %d started over on worker B; %d staged uploads", len(parts), resumed, restarted, len(staged))
	r.mu.Lock()
	procs := slices.Clone(r.procs)
	r.mu.Unlock()
	for _, p := range procs { // the bucket is named in the logs, never its credentials or query
		b, _ := os.ReadFile(p.log)
		if log := string(b); strings.Contains(log, storetest.S3SecretKey) || strings.Contains(log, "endpoint=") ||
			!strings.Contains(log, "download_dir=s3://videos/lib") {
			t.Errorf("%s's log names the bucket wrongly or leaks its query or secret:\n%s", p.name, tail(log, 2000))
		}
	}
}

// scratchFiles lists the files of dir whose name ends with suffix ("" any), by task id, with
// their sizes.
func scratchFiles(dir, suffix string) map[string]int64 {
	out := map[string]int64{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), suffix) {
			if suffix == ".mp4" && strings.HasSuffix(e.Name(), ".part") {
				continue
			}
			out[strings.SplitN(filepath.Base(e.Name()), ".", 2)[0]] = fi.Size()
		}
	}
	return out
}

func sha256Of(t *testing.T, rc io.ReadCloser) string {
	t.Helper()
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
