package bench

import (
	"context"
	"math"
	"path/filepath"
	"time"

	"github.com/kiemv/kiemv/jobs"
)

// pairWarmUp is how long each side of a pair runs before its window is measured: as long as
// capacity's and raw's warm-up (--interval + 2 s), which covers a fresh kiemv worker's
// start-up work (its reconciler's first sweep of the records) and lets both sides, which start
// with a backlog of due polls, settle into their steady state.
func pairWarmUp(o Options) time.Duration { return o.Interval + 2*time.Second }

// window is what one side used over one measured window.
type window struct {
	calls              int           // record-info calls the side's simulator saw
	secs               float64       // length of the window
	worker, redis, sim time.Duration // CPU of this process, Redis (-1: unknown) and the simulator child (-1: in process)
}

// add sums w into t; an unknown part stays unknown.
func (t *window) add(w window) {
	t.calls += w.calls
	t.secs += w.secs
	t.worker += w.worker
	t.redis = sumKnown(t.redis, w.redis)
	t.sim = sumKnown(t.sim, w.sim)
}

func sumKnown(a, b time.Duration) time.Duration {
	if a < 0 || b < 0 {
		return -1
	}
	return a + b
}

// pollsPerS is the calls per second over the window.
func (t window) pollsPerS() float64 { return ratio(float64(t.calls), t.secs) }

// figures are the window's CPU-seconds per 1,000 calls.
func (t window) figures() cpuFigures {
	per := func(d time.Duration) float64 {
		if d < 0 || t.calls == 0 {
			return math.NaN()
		}
		return d.Seconds() / float64(t.calls) * 1000
	}
	return cpuFigures{worker: per(t.worker), sim: per(t.sim), redis: per(t.redis)}
}

// measure reads the probes over d: this process's CPU, Redis's and sim's.
func (e *benchEnv) measure(ctx context.Context, sim *simServer, d time.Duration) (window, error) {
	cpu0, r0 := cpuTime(), e.redis.cpu(ctx)
	st0, err := sim.stats(ctx)
	if err != nil {
		return window{}, err
	}
	if err := jobs.Sleep(ctx, d); err != nil {
		return window{}, err
	}
	cpu1, r1 := cpuTime(), e.redis.cpu(ctx)
	st1, err := sim.stats(ctx)
	if err != nil {
		return window{}, err
	}
	w := window{calls: st1.Polls - st0.Polls, secs: d.Seconds(), worker: cpu1 - cpu0, redis: -1, sim: -1}
	if r0 >= 0 && r1 >= 0 {
		w.redis = r1 - r0
	}
	if sim.Child {
		w.sim = time.Duration(st1.CPUNanos - st0.CPUNanos)
	}
	return w, nil
}

// pairs runs --pairs rounds of one --pair-window of kiemv and one of the raw baseline, taking
// turns (kiemv first in even rounds, raw first in odd ones), and returns each side's sums.
// Only one side runs at a time, each on its own simulator child with --tasks tasks, so each
// window's CPU is that side's; and because the windows alternate, a machine whose load
// changes (other work on a shared host) weighs on both sides alike: the ratios of the sums
// hold where figures measured minutes apart do not. startRaw starts the raw server on its
// tasks (rawSim's) and returns its stop.
func (e *benchEnv) pairs(ctx context.Context, rawSim *simServer, startRaw func() (stop func(), err error)) (kiemv, raw window, err error) {
	o := e.o
	ksim, err := e.capacitySim(ctx, &scenario{})
	if err != nil {
		return kiemv, raw, err
	}
	defer ksim.Close()
	if err := ksim.addNever(ctx, "pair", o.Tasks); err != nil {
		return kiemv, raw, err
	}
	spec := workerSpec{ns: benchNamespace("pair"), simURL: ksim.URL, dir: filepath.Join(e.tmp, "pair"), recordLimit: 1_000_000}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		e.redis.clean(cctx, spec.ns)
	}()
	w, err := e.newWorker(ctx, spec)
	if err != nil {
		return kiemv, raw, err
	}
	ids := make([]string, o.Tasks)
	for i := range ids {
		ids[i] = taskID("pair", i)
	}
	spread := func(i int) time.Duration { return o.Interval * time.Duration(i) / time.Duration(len(ids)) }
	if err := w.trackAll(ctx, ids, spread); err != nil {
		w.halt()
		return kiemv, raw, err
	}
	runKiemv := func() (window, error) {
		if w == nil {
			nw, err := e.newWorker(ctx, spec)
			if err != nil {
				return window{}, err
			}
			w = nw
		}
		defer func() { w.halt(); w = nil }()
		w.start()
		if err := jobs.Sleep(ctx, pairWarmUp(o)); err != nil {
			return window{}, err
		}
		return e.measure(ctx, ksim, o.PairWindow)
	}
	runRaw := func() (window, error) {
		stop, err := startRaw()
		if err != nil {
			return window{}, err
		}
		defer stop()
		if err := jobs.Sleep(ctx, pairWarmUp(o)); err != nil {
			return window{}, err
		}
		return e.measure(ctx, rawSim, o.PairWindow)
	}
	for round := range o.Pairs {
		sides := []struct {
			run func() (window, error)
			sum *window
		}{{runKiemv, &kiemv}, {runRaw, &raw}}
		if round%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, side := range sides {
			win, err := side.run()
			if err != nil {
				if w != nil {
					w.halt()
				}
				return kiemv, raw, err
			}
			side.sum.add(win)
		}
	}
	return kiemv, raw, nil
}
