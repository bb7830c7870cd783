package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// effTask is one task of the efficiency plan: how long KIE takes to make it.
type effTask struct {
	id, audio string
	fate      kiesim.Fate
	submit    bool // created through Submit (twice, concurrently) rather than tracked
}

// effSubmits is how many of the efficiency tasks are created through `submit`, each twice at
// once, to check that no audio is ever created twice.
const effSubmits = 5

// effPlan builds the efficiency tasks: time to ready uniform in 5–60 s times --time-scale
// (a fixed seed, so kiemv and the naive poller face the same tasks), one transient fault
// (HTTP 200, body code 500) on the second poll of every tenth task.
func effPlan(n int, scale float64) []effTask {
	rng := rand.New(rand.NewPCG(5, 60))
	plan := make([]effTask, n)
	for i := range plan {
		ready := time.Duration(scale * (5 + 55*rng.Float64()) * float64(time.Second))
		t := effTask{id: taskID("eff", i), audio: fmt.Sprintf("effaudio%06d", i), fate: kiesim.Fate{ReadyAfter: ready}}
		if i%10 == 9 {
			t.fate.PollFaults = []kiesim.Fault{kiesim.FaultNone, kiesim.Fault500}
		}
		t.submit = i < effSubmits
		plan[i] = t
	}
	return plan
}

// minCalls is the fewest record-info calls that see a task ready after d when polling
// every interval from its creation on: ceil(d/interval) + 1.
func minCalls(d, interval time.Duration) int {
	return int(math.Ceil(d.Seconds()/interval.Seconds())) + 1
}

// effResult is what the baseline compares with.
type effResult struct {
	callsPerTask, detectP50, detectP99, memPerTask float64
}

// efficiency runs the plan through a real worker and compares the KIE calls made with the
// minimum, and measures how soon ready videos are seen and on disk.
func (e *benchEnv) efficiency(ctx context.Context) (*scenario, *effResult, error) {
	s := &scenario{Name: "efficiency"}
	o := e.o
	plan := effPlan(o.EfficiencyTasks, o.TimeScale)
	sim, err := startSim(kiesim.Config{DuplicateWithID: true})
	if err != nil {
		return nil, nil, err
	}
	defer sim.Close()
	ns := benchNamespace("efficiency")
	w, err := e.newWorker(ctx, workerSpec{ns: ns, simURL: sim.URL, dir: filepath.Join(e.tmp, "efficiency"), recordLimit: 1_000_000})
	if err != nil {
		return nil, nil, err
	}
	defer w.Close(e)
	w.start()
	if err := jobs.Sleep(ctx, 300*time.Millisecond); err != nil {
		return nil, nil, err
	}
	mem0 := goMemory() // the idle worker: what it holds per task is measured from here
	var track []string
	var longest time.Duration
	for i, t := range plan {
		longest = max(longest, t.fate.ReadyAfter)
		if t.submit {
			sim.Sim.SetFate(t.audio, t.fate)
			continue
		}
		sim.Sim.AddTask(t.id, t.audio, t.fate)
		track = append(track, plan[i].id)
	}
	if err := e.submitTwice(ctx, w, plan); err != nil {
		return nil, nil, err
	}
	if err := w.trackAll(ctx, track, func(int) time.Duration { return 0 }); err != nil {
		return nil, nil, err
	}
	// Memory while every task is followed: Redis keys of the namespace, and this process.
	if err := jobs.Sleep(ctx, o.Interval+500*time.Millisecond); err != nil {
		return nil, nil, err
	}
	keyBytes, kerr := e.redis.keysMemory(ctx, nsPatterns(ns)...)
	memGo := float64(max(goMemory()-mem0, 0)) / float64(len(plan))
	if !w.waitTerminal(ctx, longest+30*time.Second) {
		s.note("not every task ended within %v", longest+30*time.Second)
	}
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	st := sim.Sim.Stats()
	var calls, minimum, faults, excess, downloaded, dupDownloads int
	var detect, file []float64
	for _, t := range plan {
		rec, err := w.recs.Get(ctx, t.id)
		if err != nil {
			s.note("task %s: %v", t.id, err)
			continue
		}
		readyAt, _ := sim.Sim.ReadyAt(t.id)
		n, m, f := st.Polls[t.id], minCalls(t.fate.ReadyAfter, o.Interval), st.PollFaults[t.id]
		calls, minimum, faults, excess = calls+n, minimum+m, faults+f, excess+max(0, n-m-f)
		dupDownloads += max(0, st.Downloads[t.id]-1)
		if !rec.CompletedAt.IsZero() {
			detect = append(detect, rec.CompletedAt.Sub(readyAt).Seconds())
		}
		if rec.State == jobs.StateDownloaded {
			downloaded++
			file = append(file, rec.DownloadedAt.Sub(readyAt).Seconds())
		}
	}
	dupCreates := 0
	for _, n := range st.Creates {
		dupCreates += max(0, n-1)
	}
	afterReady, overlaps := w.probe.duplicates()
	nTasks := float64(len(plan))
	res := &effResult{callsPerTask: float64(calls) / nTasks, detectP50: quantile(detect, 0.5), detectP99: quantile(detect, 0.99)}
	s.add("tasks", nTasks, "")
	s.check("downloaded", float64(downloaded), "", fmt.Sprintf("= %d", len(plan)), downloaded == len(plan))
	s.add("calls_per_task", res.callsPerTask, "")
	s.add("min_calls_per_task", float64(minimum)/nTasks, "")
	s.add("faults_injected_per_task", float64(faults)/nTasks, "")
	s.check("calls_over_min_plus_faults", float64(excess), "", "= 0", excess == 0)
	s.add("detection_p50_s", res.detectP50, "s")
	s.add("detection_p99_s", res.detectP99, "s")
	s.add("file_p50_s", quantile(file, 0.5), "s")
	s.add("file_p99_s", quantile(file, 0.99), "s")
	s.check("duplicate_creates", float64(dupCreates), "", "= 0", dupCreates == 0)
	s.check("duplicate_polls", float64(afterReady+overlaps), "", "= 0", afterReady+overlaps == 0)
	s.check("duplicate_downloads", float64(dupDownloads), "", "= 0", dupDownloads == 0)
	redisPer := math.NaN()
	if kerr == nil {
		redisPer = float64(keyBytes) / nTasks
	}
	res.memPerTask = redisPer + memGo
	s.add("redis_bytes_per_task", redisPer, "B")
	s.add("process_bytes_per_task", memGo, "B")
	s.note("%d tasks, time to ready uniform in %.3g–%.3g s (5–60 s × --time-scale %g), polled every %v; a 500 reply injected on the 2nd poll of every 10th task; %d tasks created with `submit` twice at once (the rest tracked)",
		len(plan), 5*o.TimeScale, 60*o.TimeScale, o.TimeScale, o.Interval, effSubmits)
	s.note("minimum calls = ceil(ready/interval) + 1 per task; kiemv's whole-second rounding makes its real interval longer than --interval, so it can make fewer calls than that minimum, at the cost of later detection")
	return s, res, nil
}

// submitTwice creates the plan's submit tasks through Service.Submit, each audio twice at
// once, and records the ids KIE gave them in the plan.
func (e *benchEnv) submitTwice(ctx context.Context, w *benchWorker, plan []effTask) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range plan {
		if !plan[i].submit {
			continue
		}
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := jobs.SubmitRequest{MusicTaskID: "music" + plan[i].audio, AudioID: plan[i].audio}
				rec, _, err := w.svc.Submit(ctx, req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					first = firstErr(first, err)
					return
				}
				plan[i].id = rec.TaskID
			}()
		}
	}
	wg.Wait()
	return first
}

// firstErr keeps the first error.
func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
