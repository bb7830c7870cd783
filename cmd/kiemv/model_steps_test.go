//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// The steps of the model test. Each takes its random choices on the test's goroutine (the
// random source is not shared); CLI commands then run in the background, so that they race
// each other and the workers as an operator's scripts would.

// stepSubmit submits a new audio with a random fate.
func (m *model) stepSubmit(n int) {
	audio := fmt.Sprintf("a%02d", n)
	name, _ := m.newFate(audio)
	m.mu.Lock()
	m.audios = append(m.audios, audio)
	m.mu.Unlock()
	m.logf("step %d submit %s (%s)", n, audio, name)
	m.background(func() { m.submit(n, audio) })
}

// stepResubmit submits an audio submitted before (same author and domain): kiemv must print
// the first one's MP4 id and never ask KIE to create it again.
func (m *model) stepResubmit(n int) {
	m.mu.Lock()
	audio := m.pick(m.audios)
	m.mu.Unlock()
	if audio == "" {
		m.stepSubmit(n)
		return
	}
	m.logf("step %d resubmit %s", n, audio)
	m.background(func() { m.submit(n, audio) })
}

// stepSubmitTwice submits a new audio from two processes at once.
func (m *model) stepSubmitTwice(n int) {
	audio := fmt.Sprintf("a%02d", n)
	name, _ := m.newFate(audio)
	m.mu.Lock()
	m.audios = append(m.audios, audio)
	m.mu.Unlock()
	m.logf("step %d submit %s twice at once (%s)", n, audio, name)
	m.background(func() { m.submit(n, audio) })
	m.background(func() { m.submit(n, audio) })
}

// submit runs `kiemv submit` for audio and notes what it printed. A submit of an audio that an
// earlier submit already linked to its MP4 task must exit 0 and print that id, whatever KIE
// is doing meanwhile.
func (m *model) submit(n int, audio string) {
	m.mu.Lock()
	linked := m.linked[audio]
	m.mu.Unlock()
	out, stderr, code := m.r.cli("submit", "--task-id", modelMusicTask, "--audio-id", audio, "--first-poll", "0s")
	id := strings.TrimSpace(out)
	if code != 0 || jobs.ValidateID("id", id) != nil {
		m.logf("step %d submit %s: exit %d, stdout %q: %s", n, audio, code, out, lastLine(stderr))
		if linked {
			m.problem("step %d: a submit of audio %s, linked to its MP4 task by an earlier submit, exited %d: %s", n, audio, code, lastLine(stderr))
		}
		return
	}
	m.learn(id, audio)
	m.mu.Lock()
	m.printed[audio] = append(m.printed[audio], id)
	m.linked[audio] = true
	m.mu.Unlock()
	m.logf("step %d submit %s → %s", n, audio, id)
}

// stepTrackNew tracks an MP4 task created elsewhere (added to the simulator, no create).
func (m *model) stepTrackNew(n int) {
	id, audio := fmt.Sprintf("mp4-track-%02d", n), fmt.Sprintf("t%02d", n)
	name, f := m.newFate(audio)
	m.r.sim.AddTask(id, audio, f)
	m.logf("step %d track new %s (%s)", n, id, name)
	m.background(func() {
		_, stderr, code := m.r.cli("track", id)
		m.logf("step %d track %s: exit %d %s", n, id, code, lastLine(stderr))
		if code == 0 {
			m.learn(id, audio)
		}
	})
}

// stepTrackAgain tracks an id that is followed already (idempotent; re-adopts a lost task).
func (m *model) stepTrackAgain(n int) {
	m.mu.Lock()
	id := m.pick(m.ids)
	m.mu.Unlock()
	if id == "" {
		m.stepTrackNew(n)
		return
	}
	m.cliStep(n, "track", id)
}

// stepCancel cancels a record that has not ended (any followed one if none is open).
func (m *model) stepCancel(n int) {
	id := m.pick(m.idsIn(jobs.StatePending, jobs.StateReady, jobs.StateDownloading))
	if id == "" {
		m.mu.Lock()
		id = m.pick(m.ids)
		m.mu.Unlock()
	}
	if id == "" {
		m.logf("step %d cancel: nothing followed yet", n)
		return
	}
	m.cliStep(n, "cancel", id)
}

// stepRetry retries a record that ended without a file.
func (m *model) stepRetry(n int) {
	id := m.pick(m.idsIn(jobs.StateFailed, jobs.StateTimedOut, jobs.StateExpired, jobs.StateCanceled))
	if id == "" {
		m.logf("step %d retry: nothing to retry", n)
		return
	}
	m.cliStep(n, "retry", id)
}

// cliStep runs `kiemv <verb> id` in the background and logs its exit code.
func (m *model) cliStep(n int, verb, id string) {
	m.logf("step %d %s %s", n, verb, id)
	m.background(func() {
		_, stderr, code := m.r.cli(verb, id)
		m.logf("step %d %s %s: exit %d %s", n, verb, id, code, lastLine(stderr))
	})
}

// startWorker starts a worker process.
func (m *model) startWorker() *proc {
	m.nproc++
	w := m.r.worker(fmt.Sprintf("worker-%d", m.nproc), modelWorkerArgs...)
	m.workers = append(m.workers, w)
	return w
}

// stepKill SIGKILLs a random worker and starts another when needed (one or two run), or, with
// one running, sometimes just starts a second.
func (m *model) stepKill(n int) {
	if len(m.workers) < 2 && m.c.IntN(3) == 0 {
		w := m.startWorker()
		m.logf("step %d start %s", n, w.name)
		return
	}
	i := m.c.IntN(len(m.workers))
	w := m.workers[i]
	m.workers = append(m.workers[:i], m.workers[i+1:]...)
	code := m.r.signal(w, syscall.SIGKILL, 10*time.Second)
	m.logf("step %d SIGKILL %s (exit %d)", n, w.name, code)
	if len(m.workers) == 0 || m.c.IntN(2) == 0 {
		m.logf("step %d start %s", n, m.startWorker().name)
	}
}

// stepTerm stops a random worker with SIGTERM (it hands its tasks back within its shutdown
// timeout) and starts another when none would be left.
func (m *model) stepTerm(n int) {
	i := m.c.IntN(len(m.workers))
	w := m.workers[i]
	m.workers = append(m.workers[:i], m.workers[i+1:]...)
	// Before its signal handler is installed, a process just started dies of SIGTERM: wait
	// until the worker says it runs.
	m.r.waitFor(w.name+" to start", 20*time.Second, func() bool {
		b, _ := os.ReadFile(w.log)
		return strings.Contains(string(b), "worker started")
	})
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	m.logf("step %d SIGTERM %s", n, w.name)
	m.cliWG.Add(1)
	go func() {
		defer m.cliWG.Done()
		select {
		case <-w.done:
			m.logf("step %d %s exited %d after SIGTERM", n, w.name, w.code)
			if w.code != 0 {
				m.problem("step %d: %s exited %d after SIGTERM; want 0", n, w.name, w.code)
			}
		case <-time.After(20 * time.Second):
			m.problem("step %d: %s still runs 20s after SIGTERM (shutdown timeout 3s)", n, w.name)
			_ = w.cmd.Process.Kill()
		}
	}()
	if len(m.workers) == 0 || m.c.IntN(2) == 0 {
		m.logf("step %d start %s", n, m.startWorker().name)
	}
}

// stepLoseQueue deletes every Asynq key of the poll or the download queue, as a restore of an
// older snapshot or an operator's "delete all" would.
func (m *model) stepLoseQueue(n int) {
	queue := m.r.q.Poll
	if m.c.IntN(2) == 0 {
		queue = m.r.q.Download
	}
	ctx := context.Background()
	keys, err := m.r.rdb.Keys(ctx, "asynq:{"+queue+"}*").Result()
	if err == nil && len(keys) > 0 {
		err = m.r.rdb.Del(ctx, keys...).Err()
	}
	if err != nil {
		m.t.Fatalf("step %d: delete the keys of queue %s: %v", n, queue, err)
	}
	m.logf("step %d lose queue %s: %d keys deleted", n, queue, len(keys))
}

// stepLoseTask archives or deletes one random waiting task (pending, scheduled or retry).
func (m *model) stepLoseTask(n int) {
	queue := m.r.q.Poll
	if m.c.IntN(2) == 0 {
		queue = m.r.q.Download
	}
	var tasks []*asynq.TaskInfo
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		m.r.insp.ListPendingTasks, m.r.insp.ListScheduledTasks, m.r.insp.ListRetryTasks} {
		l, _ := list(queue, asynq.PageSize(1000)) // a queue not there yet has no tasks
		tasks = append(tasks, l...)
	}
	archive := m.c.IntN(2) == 0
	if len(tasks) == 0 {
		m.logf("step %d lose task: queue %s has no waiting task", n, queue)
		return
	}
	tk := tasks[m.c.IntN(len(tasks))]
	var err error
	what := "delete"
	if archive {
		what, err = "archive", m.r.insp.ArchiveTask(queue, tk.ID)
	} else {
		err = m.r.insp.DeleteTask(queue, tk.ID)
	}
	m.logf("step %d lose task: %s %s (%s) in %s: %v", n, what, tk.ID, tk.State, queue, err)
}

// modelOutages are the faults a KIE outage answers every API call with.
var modelOutages = []kiesim.Fault{kiesim.Fault500, kiesim.FaultHTML500, kiesim.Fault455, kiesim.Fault429}

// stepOutage starts a KIE outage (a random fault for every API call) that ends by itself after
// one to six seconds; during one, it does nothing.
func (m *model) stepOutage(n int) {
	f, d := modelOutages[m.c.IntN(len(modelOutages))], time.Duration(1000+m.c.IntN(5000))*time.Millisecond
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.outage != kiesim.FaultNone {
		m.steps = append(m.steps, fmt.Sprintf("%6.1fs step %d KIE outage: one is on already", time.Since(m.started).Seconds(), n))
		return
	}
	m.outage = f
	m.r.sim.SetOutage(f)
	m.steps = append(m.steps, fmt.Sprintf("%6.1fs step %d KIE outage on (%s) for %v", time.Since(m.started).Seconds(), n, faultName(f), d))
	time.AfterFunc(d, m.endOutage)
}

// endOutage ends the KIE outage, if one is on.
func (m *model) endOutage() {
	m.mu.Lock()
	was := m.outage
	m.outage = kiesim.FaultNone
	m.r.sim.SetOutage(kiesim.FaultNone)
	m.mu.Unlock()
	if was != kiesim.FaultNone {
		m.logf("KIE outage off")
	}
}

// stepCreateFaults makes the next one or two creates fail transiently.
func (m *model) stepCreateFaults(n int) {
	k, f := 1+m.c.IntN(2), kiesim.Fault500
	if m.c.IntN(2) == 0 {
		f = kiesim.FaultHTML500
	}
	m.r.sim.FailNextCreates(k, f)
	m.logf("step %d fail the next %d creates (%s)", n, k, faultName(f))
}

// faultName names a simulator fault for the step log.
func faultName(f kiesim.Fault) string {
	switch f {
	case kiesim.FaultHTML500:
		return "HTML 502"
	case kiesim.Fault455:
		return "body code 455"
	case kiesim.Fault500:
		return "body code 500"
	case kiesim.Fault429:
		return "HTTP 429"
	case kiesim.FaultSlow:
		return "slow"
	}
	return fmt.Sprintf("fault %d", f)
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
