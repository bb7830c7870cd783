package bench

import (
	"context"
	"math"
	"path/filepath"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
)

// capacity follows --tasks tasks that never become ready, polled every --interval, so that
// the worker polls without pause; after a warm-up it measures --duration of steady state.
// It also returns what the raw scenario compares with.
func (e *benchEnv) capacity(ctx context.Context) (*scenario, *capResult, error) {
	s := &scenario{Name: "capacity"}
	o := e.o
	sim, err := e.capacitySim(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	defer sim.Close()
	if err := sim.addNever(ctx, "cap", o.Tasks); err != nil {
		return nil, nil, err
	}
	ids := make([]string, o.Tasks)
	for i := range ids {
		ids[i] = taskID("cap", i)
	}
	ns := benchNamespace("capacity")
	memBefore := e.redis.usedMemory(ctx)
	w, err := e.newWorker(ctx, workerSpec{ns: ns, simURL: sim.URL, dir: filepath.Join(e.tmp, "capacity"), recordLimit: 1_000_000})
	if err != nil {
		return nil, nil, err
	}
	defer w.Close(e)
	setup := time.Now()
	// First polls spread evenly over one interval: the steady state from the start.
	spread := func(i int) time.Duration { return o.Interval * time.Duration(i) / time.Duration(len(ids)) }
	if err := w.trackAll(ctx, ids, spread); err != nil {
		return nil, nil, err
	}
	s.add("tasks", float64(o.Tasks), "")
	s.add("interval_s", o.Interval.Seconds(), "s")
	s.add("setup_s", time.Since(setup).Seconds(), "s")

	w.start()
	if err := jobs.Sleep(ctx, o.Interval+2*time.Second); err != nil { // warm-up
		return nil, nil, err
	}
	hwm := resetPeakRSS()
	cpu0, rcpu0 := cpuTime(), e.redis.cpu(ctx)
	st0, err := sim.stats(ctx)
	if err != nil {
		return nil, nil, err
	}
	w.probe.measure(o.Duration)
	if err := jobs.Sleep(ctx, o.Duration); err != nil {
		return nil, nil, err
	}
	cpu1, rcpu1 := cpuTime(), e.redis.cpu(ctx)
	st1, err := sim.stats(ctx)
	if err != nil {
		return nil, nil, err
	}
	peak := peakRSS()
	calls, asked, rounded := w.probe.window()
	memAfter := e.redis.usedMemory(ctx)
	keyBytes, kerr := e.redis.keysMemory(ctx, nsPatterns(ns)...)

	secs := o.Duration.Seconds()
	rate := float64(calls) / secs
	per1000 := func(d time.Duration) float64 {
		if d < 0 || calls == 0 {
			return math.NaN()
		}
		return d.Seconds() / float64(calls) * 1000
	}
	s.check("polls_per_s", rate, "/s", "≥ 5000", okIf(rate, 5000, true))
	s.add("sim_polls_per_s", float64(st1.Polls-st0.Polls)/secs, "/s")
	s.add("mean_poll_interval_s", float64(o.Tasks)/rate, "s")
	s.add("worker_cpu_cores", (cpu1-cpu0).Seconds()/secs, "")
	s.add("worker_cpu_s_per_1000_polls", per1000(cpu1-cpu0), "s")
	if sim.Child {
		s.add("sim_cpu_s_per_1000_polls", per1000(time.Duration(st1.CPUNanos-st0.CPUNanos)), "s")
	}
	rc := time.Duration(-1)
	if rcpu0 >= 0 && rcpu1 >= 0 {
		rc = rcpu1 - rcpu0
	}
	s.add("redis_cpu_s_per_1000_polls", per1000(rc), "s")
	p99 := quantile(asked, 0.99)
	s.add("lateness_p50_s", quantile(asked, 0.50), "s")
	s.check("lateness_p99_s", p99, "s", "≤ 1", okIf(p99, 1, false))
	s.add("lateness_rounded_p50_s", quantile(rounded, 0.50), "s")
	s.add("lateness_rounded_p99_s", quantile(rounded, 0.99), "s")
	s.add("lateness_samples", float64(len(asked)), "")
	rss := math.NaN()
	if hwm {
		rss = float64(peak) / (1 << 20)
	}
	s.add("worker_peak_rss_mb", rss, "MB")
	perTask := math.NaN()
	if memBefore >= 0 && memAfter >= 0 {
		perTask = float64(memAfter-memBefore) / float64(o.Tasks)
	}
	s.check("redis_bytes_per_task", perTask, "B", "≤ 1024", okIf(perTask, 1024, false))
	keyPerTask := math.NaN()
	if kerr == nil {
		keyPerTask = float64(keyBytes) / float64(o.Tasks)
	}
	s.add("redis_key_bytes_per_task", keyPerTask, "B")
	e.memoryBreakdown(ctx, s, ns, ids[0], o.Tasks)
	s.add("max_record_info_per_s", float64(st1.MaxPerSecond), "/s")
	simCalls := st1.Polls - st0.Polls
	m := cpuPer1000(simCalls, cpu1-cpu0, rcpu0, rcpu1, st0, st1, sim.Child)
	cr := &capResult{PollsPerS: float64(simCalls) / secs, WorkerCPU: m.worker, TotalCPU: m.total(),
		DemandPerS: demandPerS(o)}
	// Saturated: the due polls waited (beyond Asynq's whole seconds), or clearly fewer were
	// served than the tasks ask for.
	cr.Saturated = quantile(rounded, 0.99) > 1 || cr.PollsPerS < 0.85*cr.DemandPerS
	s.add("total_cpu_s_per_1000_polls", m.total(), "s")
	s.check("saturated", b2f(cr.Saturated), "", "= 1", cr.Saturated)

	s.note("lateness = start of poll k+1 (its record-info call) − the due time poll k asked for (interval ± 10 %% jitter); Asynq keeps due times in whole seconds and kiemv rounds them up, so up to 1 s of it is by design; lateness_rounded_* is measured from that whole second (what Asynq can honour)")
	s.note("the rounding also stretches the mean interval between two polls of one task beyond --interval (mean_poll_interval_s), which caps polls_per_s at about tasks / mean_poll_interval_s")
	if p99r := quantile(rounded, 0.99); p99r > 1 {
		s.note("lateness_rounded_p99_s %.2f s > 1 s: the worker did not keep up with the due polls (saturated)", p99r)
	}
	if memBefore < 0 {
		s.note("redis memory: INFO memory is not available on this Redis")
	}
	if !hwm {
		s.note("peak RSS could not be reset (/proc/self/clear_refs): worker_peak_rss_mb is n/a")
	}
	return s, cr, nil
}

// demandPerS is the polls per second the capacity and raw tasks ask for: --tasks over the mean
// interval a worker that keeps up gives, about --interval + 1 s (a poll starts at a whole
// second and its next due time is rounded up to one).
func demandPerS(o Options) float64 { return float64(o.Tasks) / (o.Interval.Seconds() + 1) }

// capacitySim starts the simulator in a child process (unless --sim-process=false), or in
// this process when that is not possible.
func (e *benchEnv) capacitySim(ctx context.Context, s *scenario) (*simServer, error) {
	if e.o.SimProcess {
		sim, err := startSimChild(ctx)
		if err == nil {
			s.note("the simulator ran in a child process: worker CPU and RSS are the worker's own (plus the bench's bookkeeping)")
			return sim, nil
		}
		s.note("the simulator ran in this process (%v): worker CPU and RSS include it", err)
	} else {
		s.note("the simulator ran in this process (--sim-process=false): worker CPU and RSS include it")
	}
	return startSim(kiesim.Config{})
}

// memoryBreakdown adds what one task's keys take (MEMORY USAGE): its record hash, its share
// of the pending index, and Asynq's task hash and its share of the scheduled/retry sets.
func (e *benchEnv) memoryBreakdown(ctx context.Context, s *scenario, ns, id string, n int) {
	q := "asynq:{" + ns + ":poll}:"
	per := func(v int64, div int) float64 {
		if v < 0 {
			return math.NaN()
		}
		return float64(v) / float64(div)
	}
	zsets := int64(0)
	for _, k := range []string{q + "retry", q + "scheduled", q + "pending", q + "active", q + "lease"} {
		if v := e.redis.memoryUsage(ctx, k); v > 0 {
			zsets += v
		}
	}
	keys := store.NewKeys(ns)
	s.add("redis_record_hash_b", per(e.redis.memoryUsage(ctx, keys.Record(id)), 1), "B")
	s.add("redis_state_index_b_per_task", per(e.redis.memoryUsage(ctx, keys.State(jobs.StatePending)), n), "B")
	s.add("redis_asynq_task_hash_b", per(e.redis.memoryUsage(ctx, q+"t:"+jobs.PollTaskID(id, 1)), 1), "B")
	s.add("redis_asynq_queues_b_per_task", per(zsets, n), "B")
}
