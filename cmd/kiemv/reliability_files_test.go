//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// TestReliabilityExpiredURL: the video URL starts answering 404 (record-info's URL) and then
// 403 (a signed URL that expired in the middle of a download). Each time a fresh URL is
// fetched and the download resumes where it stopped.
func TestReliabilityExpiredURL(t *testing.T) {
	needRealRedis(t)
	var skew atomic.Int64 // added to the simulator's clock
	r := newRig(t, kiesim.Config{FileRate: 1 << 20, Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }}, rigOptions{})
	const size = 3 << 20
	r.sim.SetFate("expire-cut", kiesim.Fate{ReadyAfter: -1, ExpireURL: true, FileSize: size, CutAt: size / 2})
	r.sim.SetFate("expire-plain", kiesim.Fate{ReadyAfter: 2 * time.Second, ExpireURL: true})
	cut, plain := r.submit("expire-cut"), r.submit("expire-plain")
	r.worker("worker")

	// record-info's URL answered 404: a signed one was fetched and is streaming. Move the
	// simulator's clock past the signature's 20 minutes; the transfer is then cut halfway, and
	// the signed URL answers 403 on the retry.
	r.waitFor("the signed download to be under way", time.Minute, func() bool { return r.partSize(cut) >= 256<<10 })
	skew.Store(int64(21 * time.Minute))
	r.waitFor("both downloads", 2*time.Minute, func() bool { return r.allIn(jobs.StateDownloaded, cut, plain) })
	r.verifyDownloaded(cut, plain)

	st, rec := r.sim.Stats(), r.records()[cut]
	if st.Downloads[cut] != 4 || st.BytesServed[cut] != size {
		t.Errorf("%d GETs served %d bytes of a %d-byte video; want 4 (404, cut, 403, resume) and every byte once", st.Downloads[cut], st.BytesServed[cut], size)
	}
	if st.DownloadURLCalls < 3 || !strings.Contains(rec.VideoURL, "sig=") {
		t.Errorf("%d download-url calls, record URL %q; want a fresh signed URL each time one died", st.DownloadURLCalls, rec.VideoURL)
	}
}

// TestReliabilityDiskFull: the download directory is a small tmpfs, filled up by another
// file. The download fails with an error naming the path, stays queued for a retry, leaves no
// final file, and completes once space is freed.
func TestReliabilityDiskFull(t *testing.T) {
	needRealRedis(t)
	dir := filepath.Join(t.TempDir(), "videos")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("reliability suite: skipped; the disk-full test mounts a tmpfs and needs root: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 5<<19), 0o644); err != nil { // 2.5 MiB of 4
		t.Fatal(err)
	}
	r := newRig(t, kiesim.Config{}, rigOptions{Dir: dir})
	r.sim.SetFate("big", kiesim.Fate{ReadyAfter: -1, FileSize: 3 << 20})
	id := r.submit("big")
	r.worker("worker", "--max-backoff", "2s")

	part := filepath.Join(dir, id+".mp4.part")
	var rec *jobs.Record
	r.waitFor("the download to fail for lack of space", time.Minute, func() bool {
		rec = r.records()[id]
		return rec != nil && strings.Contains(rec.Error, "no space left on device")
	})
	t.Logf("record error while the disk is full: %s", rec.Error)
	if !strings.Contains(rec.Error, part) || !strings.Contains(rec.Error, "free space") {
		t.Errorf("record error %q; want it to name %s and say to free space", rec.Error, part)
	}
	r.waitFor("a retry after the failure", time.Minute, func() bool {
		info := r.task(r.q.Download, jobs.DownloadTaskID(id, 1))
		return info != nil && info.Retried >= 2
	})
	if rec := r.records()[id]; rec.State != jobs.StateDownloading {
		t.Errorf("record state %s while the disk is full; want downloading (retried)", rec.State)
	}
	if _, err := os.Stat(filepath.Join(dir, id+".mp4")); err == nil {
		t.Fatal("a final file exists although the disk filled up")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r.waitFor("the download once space is free", time.Minute, func() bool { return r.allIn(jobs.StateDownloaded, id) })
	r.verifyDownloaded(id)
	if rec := r.records()[id]; rec.Error != "" {
		t.Errorf("the error %q was kept after the download succeeded", rec.Error)
	}
}
