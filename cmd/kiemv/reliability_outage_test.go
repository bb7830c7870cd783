//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// TestReliabilityKIEOutage: KIE answers every API call with 455 or 5xx for two minutes, then
// recovers. The first failures open the shared KIE breaker: polls, and a download whose URL
// died and needs a fresh one from KIE, wait for the worker's probe instead of retrying. No
// task uses a retry, none is ever marked failed, and every file lands within 15 s of KIE's
// return (issue 11's target).
func TestReliabilityKIEOutage(t *testing.T) {
	needRealRedis(t)
	t.Parallel()
	var skew atomic.Int64 // added to the simulator's clock
	r := newRig(t, kiesim.Config{FileRate: 1 << 20, Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }}, rigOptions{})
	const size = 4 << 20
	r.sim.SetFate("outage-dl", kiesim.Fate{ReadyAfter: -1, ExpireURL: true, FileSize: size, CutAt: size / 2})
	dl := r.submit("outage-dl")
	ids := []string{dl}
	for i := range 12 {
		audio := fmt.Sprintf("outage-%02d", i)
		r.sim.SetFate(audio, kiesim.Fate{ReadyAfter: 30 * time.Second, ExpireURL: i%3 == 0})
		ids = append(ids, r.submit(audio))
	}
	r.worker("worker", "--max-backoff", "30s")
	r.waitFor("the signed download to be under way", time.Minute, func() bool { return r.partSize(dl) >= 256<<10 })

	// KIE goes down. The simulator's clock jumps 21 minutes: the signed URL being downloaded
	// expires (its transfer is cut halfway, then the URL answers 403 and KIE is needed for a
	// fresh one) and every other task is ready, for whoever can ask.
	start := time.Now()
	r.sim.SetOutage(kiesim.Fault455)
	skew.Store(int64(21 * time.Minute))
	maxRetried := 0
	sample := func() { // the retry count of every task Asynq holds
		for _, q := range []string{r.q.Poll, r.q.Download} {
			for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
				r.insp.ListRetryTasks, r.insp.ListScheduledTasks, r.insp.ListPendingTasks, r.insp.ListActiveTasks} {
				infos, _ := list(q)
				for _, ti := range infos {
					maxRetried = max(maxRetried, ti.Retried)
				}
			}
		}
	}
	for _, f := range []kiesim.Fault{kiesim.Fault455, kiesim.FaultHTML500, kiesim.Fault500} {
		r.sim.SetOutage(f)
		for phase := time.Now(); time.Since(phase) < 40*time.Second; time.Sleep(time.Second) {
			r.noneEnded("during the outage")
			sample()
		}
	}
	replies := r.sim.Stats().OutageReplies
	r.sim.SetOutage(kiesim.FaultNone)
	back := time.Now()
	t.Logf("KIE was down for %v", back.Sub(start).Round(time.Second))
	if st := r.sim.Stats(); st.OutageReplies == 0 || st.PollFaults[ids[1]] == 0 {
		t.Fatalf("the outage answered %d calls (%d polls of %s): it did not hit the workers", st.OutageReplies, st.PollFaults[ids[1]], ids[1])
	}
	r.noneEnded("at the end of the outage")
	r.waitFor("every task after KIE came back", 2*time.Minute, func() bool { sample(); return r.allIn(jobs.StateDownloaded, ids...) })
	took := time.Since(back)
	t.Logf("every task downloaded %v after KIE came back; KIE answered %d calls during the outage; most retries used by a task: %d",
		took.Round(100*time.Millisecond), replies, maxRetried)
	if took > 15*time.Second {
		t.Errorf("the last file landed %v after KIE came back; want within 15 s", took.Round(100*time.Millisecond))
	}
	if maxRetried != 0 {
		t.Errorf("a task used %d retries waiting out the outage; want 0", maxRetried)
	}
	r.verifyDownloaded(ids...)
	st := r.sim.Stats()
	if st.BytesServed[dl] != size {
		t.Errorf("the simulator sent %d bytes of a %d-byte video cut during the outage; want a resume", st.BytesServed[dl], size)
	}
	for _, q := range []string{r.q.Poll, r.q.Download} {
		if archived, err := r.insp.ListArchivedTasks(q); err != nil || len(archived) > 0 {
			t.Errorf("queue %s: %d archived tasks (%v); want none given up", q, len(archived), err)
		}
	}
}

// TestReliabilityRedisRestart crashes the Redis (AOF, fsync always) in the middle of a run
// and starts it again: two workers and a waiting CLI reconnect and the run completes.
func TestReliabilityRedisRestart(t *testing.T) {
	needRealRedis(t)
	rs := startOwnRedis(t)
	r := newRig(t, kiesim.Config{FileSize: 1 << 20, FileRate: 512 << 10}, rigOptions{RedisURL: rs.url})
	var ids []string
	for i := range 12 {
		audio := fmt.Sprintf("restart-%02d", i)
		r.sim.SetFate(audio, kiesim.Fate{ReadyAfter: time.Duration(i) * time.Second})
		ids = append(ids, r.submit(audio))
	}
	r.worker("worker-1")
	r.worker("worker-2")
	wait := r.start("wait", append([]string{"wait", "--timeout", "4m"}, ids...)...)
	r.waitFor("a run half done", time.Minute, func() bool {
		done := 0
		for _, id := range ids {
			if r.allIn(jobs.StateDownloaded, id) {
				done++
			}
		}
		return done >= 3
	})
	rs.kill()
	time.Sleep(4 * time.Second)
	rs.start()
	restarted := time.Now()
	if code := r.waitExit(wait, 5*time.Minute); code != 0 {
		t.Errorf("kiemv wait exited %d across the restart; want 0", code)
	}
	// Without patient Redis clients, a task whose end Asynq could not record waits for lease
	// recovery: up to two minutes.
	t.Logf("run complete %v after the restart", time.Since(restarted).Round(time.Second))
	if d := time.Since(restarted); d > time.Minute {
		t.Errorf("the run took %v after Redis came back; want well under a minute", d)
	}
	r.verifyDownloaded(ids...)
	if b, _ := os.ReadFile(wait.log); strings.Contains(string(b), "retrying until Redis answers") {
		t.Log("kiemv wait saw Redis errors and kept waiting") // only when the restart outlasts go-redis's retries
	}
}
