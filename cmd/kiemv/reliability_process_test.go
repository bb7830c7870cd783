//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// TestReliabilitySIGKILL kills a worker with SIGKILL three times, each time with a poll held
// in flight by a slow KIE reply and a large download half done, and starts a new worker. Asynq
// recovers the lost leases (about a minute per round) without using up a retry, the .part
// file is resumed rather than restarted, and every task completes.
func TestReliabilitySIGKILL(t *testing.T) {
	needRealRedis(t)
	t.Parallel()
	const size, rate = 6 << 20, 1 << 20
	r := newRig(t, kiesim.Config{SlowDelay: 10 * time.Minute, FileRate: rate}, rigOptions{})
	slow := []kiesim.Fault{kiesim.FaultSlow, kiesim.FaultSlow, kiesim.FaultSlow}
	r.sim.SetFate("kill-poll", kiesim.Fate{ReadyAfter: -1, PollFaults: slow})
	r.sim.SetFate("kill-download", kiesim.Fate{ReadyAfter: -1, FileSize: size})
	pollID, dlID := r.submit("kill-poll"), r.submit("kill-download")
	ids := []string{pollID, dlID}
	for i := range 6 { // bystanders, ready at various points of the run
		audio := fmt.Sprintf("kill-by-%d", i)
		r.sim.SetFate(audio, kiesim.Fate{ReadyAfter: time.Duration(10+35*i) * time.Second})
		ids = append(ids, r.submit(audio))
	}

	var lost int64 // bytes the simulator sent that never reached the disk, so far
	for round := 1; round <= 3; round++ {
		served, part := r.sim.Stats().BytesServed[dlID], max(r.partSize(dlID), 0)
		w := r.worker(fmt.Sprintf("worker-%d", round))
		r.waitFor(fmt.Sprintf("round %d: a poll held in flight and the download 1 MiB further", round), 3*time.Minute, func() bool {
			return r.sim.Stats().Polls[pollID] >= round && r.partSize(dlID) >= part+1<<20
		})
		if round > 1 { // both tasks came back from the killed worker, with no retry used up
			for _, tk := range []struct{ queue, id string }{{r.q.Poll, jobs.PollTaskID(pollID, 1)}, {r.q.Download, jobs.DownloadTaskID(dlID, 1)}} {
				if info := r.task(tk.queue, tk.id); info == nil || info.Retried != 0 || !strings.Contains(info.LastErr, "lease expired") {
					t.Errorf("round %d: task %s is %+v; want it recovered after a lost lease with Retried 0", round, tk.id, info)
				}
			}
		}
		r.signal(w, syscall.SIGKILL, 10*time.Second)
		r.waitFor("the simulator to see the killed transfer end", 10*time.Second, func() bool { return r.sim.Stats().BytesServed[dlID] > served })
		lost = r.sim.Stats().BytesServed[dlID] - r.partSize(dlID)
		t.Logf("round %d: killed with %d bytes on disk; %d bytes sent but lost so far", round, r.partSize(dlID), lost)
		if _, err := os.Stat(r.dir + "/" + dlID + ".mp4"); err == nil {
			t.Fatalf("round %d: a final file exists for an unfinished download", round)
		}
	}
	r.worker("worker-4")
	r.waitFor("every task after the last kill", 3*time.Minute, func() bool { return r.allIn(jobs.StateDownloaded, ids...) })
	r.verifyDownloaded(ids...)
	st := r.sim.Stats()
	if st.BytesServed[dlID] != size+lost || st.Downloads[dlID] != 4 {
		t.Errorf("the simulator sent %d bytes in %d GETs for a %d-byte video with %d bytes lost in kills; want %d in 4 (a resume each time, never a restart)",
			st.BytesServed[dlID], st.Downloads[dlID], size, lost, size+lost)
	}
	if st.CreateCalls != len(ids) {
		t.Errorf("%d create calls for %d submits", st.CreateCalls, len(ids))
	}
}

// TestReliabilitySIGTERM: on SIGTERM a worker stops taking tasks, lets an in-flight poll
// finish, hands an unfinishable download back within the shutdown timeout, and exits 0; the
// next worker resumes the download.
func TestReliabilitySIGTERM(t *testing.T) {
	needRealRedis(t)
	const size = 16 << 20 // 16 s at the rate: far longer than the shutdown timeout
	r := newRig(t, kiesim.Config{SlowDelay: 2 * time.Second, FileRate: 1 << 20}, rigOptions{})
	r.sim.SetFate("term-download", kiesim.Fate{ReadyAfter: -1, FileSize: size})
	r.sim.SetFate("term-poll", kiesim.Fate{ReadyAfter: -1, PollFaults: []kiesim.Fault{kiesim.FaultSlow}})
	dl := r.submit("term-download")
	w := r.worker("worker-1", "--shutdown-timeout", "4s")
	r.waitFor("the download to be under way", time.Minute, func() bool { return r.partSize(dl) >= 1<<20 })
	poll := r.submit("term-poll")
	r.waitFor("the slow poll to be in flight", time.Minute, func() bool { return r.sim.Stats().Polls[poll] == 1 })

	served, start := r.sim.Stats().BytesServed[dl], time.Now()
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	r.sim.AddTask("mp4_term_late", "term-late", kiesim.Fate{ReadyAfter: -1})
	if _, stderr, code := r.cli("track", "mp4_term_late"); code != 0 {
		t.Fatalf("track: exit %d: %s", code, stderr)
	}
	code := r.waitExit(w, 15*time.Second)
	took := time.Since(start)
	t.Logf("worker exited %d, %v after SIGTERM", code, took)
	if code != 0 || took > 4*time.Second+5*time.Second {
		t.Errorf("worker exited %d after %v; want 0 within the 4s shutdown timeout (+5s)", code, took)
	}
	st, recs := r.sim.Stats(), r.records()
	if st.Polls["mp4_term_late"] != 0 {
		t.Error("the worker polled a task queued after SIGTERM")
	}
	if rec := recs[poll]; rec.State != jobs.StateReady || st.Downloads[poll] != 0 {
		t.Errorf("poll in flight at SIGTERM: record %s, %d GETs; want it finished (ready) and no new download started", rec.State, st.Downloads[poll])
	}
	info := r.task(r.q.Download, jobs.DownloadTaskID(dl, 1))
	if info == nil || info.State != asynq.TaskStatePending || info.Retried != 0 {
		t.Errorf("download in flight at SIGTERM: task %+v; want it handed back (pending, Retried 0)", info)
	}
	r.waitFor("the simulator to see the stopped transfer end", 10*time.Second, func() bool { return r.sim.Stats().BytesServed[dl] > served })
	lost := r.sim.Stats().BytesServed[dl] - r.partSize(dl)
	if recs[dl].State != jobs.StateDownloading || r.partSize(dl) <= 0 {
		t.Errorf("download record %s with a %d-byte part; want downloading and the part kept", recs[dl].State, r.partSize(dl))
	}

	r.worker("worker-2")
	ids := []string{dl, poll, "mp4_term_late"}
	r.waitFor("every task on the next worker", 2*time.Minute, func() bool { return r.allIn(jobs.StateDownloaded, ids...) })
	r.verifyDownloaded(ids...)
	if got := r.sim.Stats().BytesServed[dl]; got != size+lost {
		t.Errorf("the simulator sent %d bytes for a %d-byte video (%d lost at SIGTERM); want %d: a resume", got, size, lost, size+lost)
	}
}

// TestReliabilityTwoWorkers runs two worker processes on one Redis and one download directory:
// no task is polled twice at once and no file is written twice.
func TestReliabilityTwoWorkers(t *testing.T) {
	needRealRedis(t)
	r := newRig(t, kiesim.Config{SlowDelay: time.Second, FileSize: 300_000, FileRate: 2 << 20}, rigOptions{})
	var ids []string
	for i := range 30 {
		audio := fmt.Sprintf("two-%02d", i)
		f := kiesim.Fate{ReadyAfter: 2*time.Second + time.Duration(i)*150*time.Millisecond}
		if i%3 == 0 {
			f.PollFaults = []kiesim.Fault{kiesim.FaultNone, kiesim.FaultSlow}
		}
		r.sim.SetFate(audio, f)
		ids = append(ids, r.submit(audio))
	}
	w1, w2 := r.worker("worker-1", "--concurrency", "5", "--download-concurrency", "2"), r.worker("worker-2", "--concurrency", "5", "--download-concurrency", "2")
	out, stderr, code := r.cli(append([]string{"wait", "--timeout", "2m"}, ids...)...)
	if code != 0 {
		t.Fatalf("wait: exit %d\n%s\n%s", code, out, tail(stderr, 2000))
	}
	r.verifyDownloaded(ids...)
	st := r.sim.Stats()
	for _, id := range ids {
		if st.Downloads[id] != 1 || st.BytesServed[id] != r.sim.FileSize(id) {
			t.Errorf("%s: %d GETs, %d bytes sent; want the file fetched once", id, st.Downloads[id], st.BytesServed[id])
		}
	}
	for _, w := range []*proc{w1, w2} {
		if b, _ := os.ReadFile(w.log); !strings.Contains(string(b), "state=downloaded") {
			t.Errorf("%s downloaded nothing: the test did not share the work", w.name)
		}
	}
}
