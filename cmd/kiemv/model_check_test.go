//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs"
)

// quiesce stops injecting faults, lets every CLI command end, keeps a worker running, and
// waits (at most modelQuiesce) until no record waits for work any more.
func (m *model) quiesce() {
	m.endOutage()
	if len(m.workers) == 0 {
		m.startWorker()
	}
	m.logf("quiescence: faults off, %d workers running; waiting for the CLI commands", len(m.workers))
	m.cliWG.Wait()
	start := time.Now()
	m.logf("quiescence: CLI commands done")
	for open := m.open(); len(open) > 0; open = m.open() {
		if time.Since(start) > modelQuiesce {
			m.t.Errorf("seed %d: %d records still wait for work %v after the last step: %v", m.seed, len(open), modelQuiesce, open)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	m.quiet = time.Since(start)
	m.logf("quiescence: every record ended after %v", m.quiet.Round(100*time.Millisecond))
}

// open returns the ids of the records that have not ended, from the state indexes.
func (m *model) open() []string {
	var ids []string
	for _, st := range []jobs.State{jobs.StatePending, jobs.StateReady, jobs.StateDownloading} {
		l, err := m.r.rdb.ZRange(context.Background(), m.r.ns+":state:"+string(st), 0, -1).Result()
		if err != nil {
			m.t.Fatalf("read the %s index: %v", st, err)
		}
		ids = append(ids, l...)
	}
	return ids
}

// check asserts the invariants of issue 10 and logs the seed's summary line.
func (m *model) check() {
	t, r := m.t, m.r
	recs, st := r.records(), r.sim.Stats()

	// 1. Every record is terminal, or has exactly one live task of its generation.
	for _, id := range m.ids {
		if recs[id] == nil {
			t.Errorf("%s: followed (a command exited 0 for it) but there is no record", id)
		}
	}
	for id, rec := range recs {
		if rec.State.Terminal() {
			continue
		}
		live := m.liveTasks(rec)
		t.Errorf("%s: %s (generation %d) after quiescence with %d live tasks of its generation %v; want every record terminal",
			id, rec.State, rec.Generation, len(live), live)
	}

	// 2. No audio created twice at the simulator; every submit of an audio printed one id.
	for audio, n := range st.Creates {
		if n > 1 || st.Duplicates[audio] > 0 {
			t.Errorf("audio %s: KIE created it %d times and refused %d more creates as duplicates; want one create", audio, n, st.Duplicates[audio])
		}
	}
	for audio, printed := range m.printed {
		want, _ := r.sim.TaskFor(audio)
		for _, id := range printed {
			if id != want {
				t.Errorf("audio %s: submits printed %v; KIE's task is %s", audio, printed, want)
				break
			}
		}
	}
	for _, p := range m.problems {
		t.Error(p)
	}

	// 3. Every downloaded file is what the simulator served: each record's file, and any final
	// file in the download directory.
	states := map[jobs.State]int{}
	requeued := 0
	for id, rec := range recs {
		states[rec.State]++
		requeued += rec.Requeued
		if f := m.fate[m.audioOf[id]]; rec.State == jobs.StateDownloaded && (f == "failed" || f == "never") {
			t.Errorf("%s: downloaded, but KIE never made its video (fate %s)", id, f)
		}
		if rec.State != jobs.StateDownloaded {
			continue
		}
		want, err := r.sim.FileSHA256(id)
		if err != nil {
			t.Errorf("%s: downloaded, but the simulator has no video: %v", id, err)
			continue
		}
		final := filepath.Join(r.dir, id+".mp4")
		if got := fileSHA256(t, final); got != want || rec.SHA256 != want || rec.Bytes != r.sim.FileSize(id) || rec.File != final {
			t.Errorf("%s: file sha256 %s, record %s (%d bytes at %s); simulator %s (%d bytes)", id, got, rec.SHA256, rec.Bytes, rec.File, want, r.sim.FileSize(id))
		}
	}
	finals, _ := filepath.Glob(filepath.Join(r.dir, "*.mp4"))
	for _, f := range finals {
		id := strings.TrimSuffix(filepath.Base(f), ".mp4")
		if want, err := r.sim.FileSHA256(id); err != nil || fileSHA256(t, f) != want {
			t.Errorf("%s (record %v): not the video the simulator served (%v)", f, recs[id], err)
		}
	}

	// 4. No partial file is left for a terminal record, once the reconcilers have swept.
	parts := m.terminalParts(recs)
	for deadline := time.Now().Add(3*modelReconcile + 3*time.Second); len(parts) > 0 && time.Now().Before(deadline); parts = m.terminalParts(recs) {
		time.Sleep(250 * time.Millisecond)
	}
	for _, p := range parts {
		t.Errorf("%s: a partial file is left for a terminal record, %v after quiescence", p, 3*modelReconcile+3*time.Second)
	}

	var byState []string
	for _, s := range jobs.States {
		if states[s] > 0 {
			byState = append(byState, fmt.Sprintf("%s %d", s, states[s]))
		}
	}
	creates := 0
	for _, n := range st.Creates {
		creates += n
	}
	t.Logf("seed %d: %d steps (%s); %d records (%s); %d creates, %d requeued by the reconciler; quiescent %v after the steps, took %v",
		m.seed, m.nsteps, m.kindSummary(), len(recs), strings.Join(byState, ", "), creates, requeued,
		m.quiet.Round(time.Second), time.Since(m.started).Round(time.Second))
}

// liveTasks lists the live tasks of rec's generation (poll and download), as "TaskID:state".
func (m *model) liveTasks(rec *jobs.Record) []string {
	var live []string
	for _, tk := range []struct{ queue, id string }{
		{m.r.q.Poll, jobs.PollTaskID(rec.TaskID, rec.Generation)}, {m.r.q.Download, jobs.DownloadTaskID(rec.TaskID, rec.Generation)}} {
		info, err := m.r.insp.GetTaskInfo(tk.queue, tk.id)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		} else if err != nil {
			m.t.Errorf("inspect %s: %v", tk.id, err)
			continue
		}
		switch info.State {
		case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateRetry, asynq.TaskStateActive:
			live = append(live, tk.id+":"+info.State.String())
		}
	}
	return live
}

// terminalParts lists the partial files in the download directory whose record is terminal.
func (m *model) terminalParts(recs map[string]*jobs.Record) []string {
	files, _ := filepath.Glob(filepath.Join(m.r.dir, "*.mp4.part"))
	var out []string
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), ".mp4.part")
		if rec := recs[id]; rec != nil && rec.State.Terminal() {
			if _, err := os.Stat(f); err == nil {
				out = append(out, f)
			}
		}
	}
	sort.Strings(out)
	return out
}
