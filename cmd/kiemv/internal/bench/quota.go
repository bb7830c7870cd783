package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
)

// quota follows more tasks than the record-info limit can poll at the nominal interval:
// --quota-tasks tasks, polled every --interval, under a limit of --quota-limit calls per
// second that both kiemv and the simulator enforce. One task in four becomes ready at a
// random time; the rest never do. It checks that no task starves, how long ready tasks wait
// to be seen, and that no call over the limit reaches the simulator.
func (e *benchEnv) quota(ctx context.Context) (*scenario, error) {
	s := &scenario{Name: "quota"}
	o := e.o
	n, limit := o.QuotaTasks, o.QuotaLimit
	cycle := time.Duration(float64(n) / float64(limit) * float64(time.Second)) // one poll of every task at the limit
	sim, err := startSim(kiesim.Config{RecordInfoLimit: limit})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	ns := benchNamespace("quota")
	w, err := e.newWorker(ctx, workerSpec{ns: ns, simURL: sim.URL, dir: filepath.Join(e.tmp, "quota"), recordLimit: limit})
	if err != nil {
		return nil, err
	}
	defer w.Close(e)

	rng := rand.New(rand.NewPCG(2, 100))
	ids := make([]string, n)
	ready := map[string]bool{}
	for i := range ids {
		ids[i] = taskID("quota", i)
		f := kiesim.Fate{Outcome: kiesim.OutcomeNever}
		if i%4 == 0 { // ready at a time uniform in 0.25–1.25 cycles
			f = kiesim.Fate{ReadyAfter: time.Duration((0.25 + rng.Float64()) * float64(cycle))}
			ready[ids[i]] = true
		}
		sim.Sim.AddTask(ids[i], "audio-"+ids[i], f)
	}
	start := time.Now()
	w.start()
	spread := func(i int) time.Duration { return o.Interval * time.Duration(i) / time.Duration(n) }
	if err := w.trackAll(ctx, ids, spread); err != nil {
		return nil, err
	}
	// Watch until every ready task was seen, and for at least 2.5 cycles (so that a starving
	// task shows), but no longer than 5.25 cycles.
	minRun, maxRun := start.Add(cycle*5/2), start.Add(cycle*21/4)
	for time.Now().Before(maxRun) {
		if err := jobs.Sleep(ctx, 250*time.Millisecond); err != nil {
			return nil, err
		}
		c, err := w.recs.Counts(ctx)
		seen := c[jobs.StateReady] + c[jobs.StateDownloading] + c[jobs.StateDownloaded]
		if err == nil && seen == int64(len(ready)) && time.Now().After(minRun) {
			break
		}
	}
	end := time.Now()
	st := sim.Sim.Stats()
	gaps := w.probe.gaps(end)
	var detect []float64
	var polls int
	for _, id := range ids {
		polls += st.Polls[id]
		if !ready[id] {
			continue
		}
		rec, err := w.recs.Get(ctx, id)
		readyAt, _ := sim.Sim.ReadyAt(id)
		if err == nil && !rec.CompletedAt.IsZero() {
			detect = append(detect, rec.CompletedAt.Sub(readyAt).Seconds())
		}
	}
	refused := 0
	for _, f := range st.PollFaults {
		refused += f
	}
	win := store.Window(limit, time.Second)
	sustained := float64(win.Rate) / win.Period.Seconds()
	bound := float64(n) / (2 * float64(limit))
	maxGap, meanDetect := quantile(gaps, 1), mean(detect)
	run := end.Sub(start).Seconds()
	s.add("tasks", float64(n), "")
	s.add("limit_per_s", float64(limit), "/s")
	s.add("demand_per_s", float64(n)/o.Interval.Seconds(), "/s")
	s.add("polls_per_s", float64(polls)/run, "/s")
	s.check("max_gap_s", maxGap, "s", fmt.Sprintf("≤ %.3g (2·N/limit)", 2*cycle.Seconds()), okIf(maxGap, 2*cycle.Seconds(), false))
	s.add("gap_p99_s", quantile(gaps, 0.99), "s")
	s.check("detected", float64(len(detect)), "", fmt.Sprintf("= %d", len(ready)), len(detect) == len(ready))
	s.check("mean_detection_s", meanDetect, "s", fmt.Sprintf("≤ %.3g (N/(2·limit))", bound), okIf(meanDetect, bound, false))
	s.add("bound_at_sustained_rate_s", float64(n)/(2*sustained), "s")
	s.add("detection_p99_s", quantile(detect, 0.99), "s")
	s.check("calls_over_limit", float64(refused), "", "= 0", refused == 0)
	s.add("max_record_info_per_s", float64(st.MaxRecordInfoPerSecond), "/s")
	s.note("%d tasks polled every %v want %.0f record-info calls/s; the limit (kiemv's shared limiter and the simulator's) is %d/s; %d tasks become ready %.3g–%.3g s after they are followed, the rest never; watched %.0f s",
		n, o.Interval, float64(n)/o.Interval.Seconds(), limit, len(ready), cycle.Seconds()/4, cycle.Seconds()*5/4, run)
	s.note("kiemv's limiter paces admitted calls %v apart (store.Window: a second plus a 50 ms margin, over %d), so no second holds more than %d; the best mean detection it can reach is N/(2·%.1f) = %.3g s",
		(win.Period / time.Duration(win.Rate)).Round(100*time.Microsecond), limit, limit, sustained, float64(n)/(2*sustained))
	s.note("calls_over_limit counts record-info calls the simulator refused for exceeding its %d/s limit, counted over a sliding second ((t-1s, t] at each call); max_record_info_per_s is the most calls it saw in any sliding second", limit)
	over3, max3, err := e.quotaWorkers(ctx, 3, cycle)
	if err != nil {
		return nil, err
	}
	s.check("calls_over_limit_3_workers", float64(over3), "", "= 0", over3 == 0)
	s.add("max_record_info_per_s_3_workers", float64(max3), "/s")
	s.note("the _3_workers figures: %d tasks that never finish, polled by three workers sharing the limit on one Redis for 2 cycles (at least 5 s), against a fresh simulator", n)
	return s, nil
}

// quotaWorkers follows n never-finishing tasks with k workers sharing one namespace (and so
// one limiter) for two cycles (at least 5 s), and returns how many record-info calls the
// simulator refused and the most it saw in a sliding second.
func (e *benchEnv) quotaWorkers(ctx context.Context, k int, cycle time.Duration) (refused, most int, err error) {
	o := e.o
	sim, err := startSim(kiesim.Config{RecordInfoLimit: o.QuotaLimit})
	if err != nil {
		return 0, 0, err
	}
	defer sim.Close()
	ns := benchNamespace("quota")
	var ws []*benchWorker
	defer func() {
		for _, w := range ws { // stop every worker before the first cleans the namespace
			if w.stop != nil {
				w.stop()
				<-w.done
				w.stop = nil
			}
		}
		for _, w := range ws {
			w.Close(e)
		}
	}()
	for i := range k {
		w, err := e.newWorker(ctx, workerSpec{ns: ns, simURL: sim.URL, dir: filepath.Join(e.tmp, fmt.Sprint("quota", k, "-", i)), recordLimit: o.QuotaLimit})
		if err != nil {
			return 0, 0, err
		}
		ws = append(ws, w)
	}
	ids := make([]string, o.QuotaTasks)
	for i := range ids {
		ids[i] = taskID(fmt.Sprint("quota", k), i)
		sim.Sim.AddTask(ids[i], "audio-"+ids[i], kiesim.Fate{Outcome: kiesim.OutcomeNever})
	}
	for _, w := range ws {
		w.start()
	}
	spread := func(i int) time.Duration { return o.Interval * time.Duration(i) / time.Duration(len(ids)) }
	if err := ws[0].trackAll(ctx, ids, spread); err != nil {
		return 0, 0, err
	}
	if err := jobs.Sleep(ctx, max(2*cycle, 5*time.Second)); err != nil {
		return 0, 0, err
	}
	st := sim.Sim.Stats()
	for _, f := range st.PollFaults {
		refused += f
	}
	return refused, st.MaxRecordInfoPerSecond, nil
}
