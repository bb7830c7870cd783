package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
)

// capResult is what the raw scenario compares with: the capacity scenario's figures.
type capResult struct {
	PollsPerS  float64 // record-info calls seen at the simulator per second of the window
	WorkerCPU  float64 // bench process CPU-seconds per 1,000 of those calls
	TotalCPU   float64 // worker + Redis + simulator CPU-seconds per 1,000 calls (NaN: a part unknown)
	Saturated  bool    // the worker did not keep up with the due polls
	DemandPerS float64 // the polls/s the tasks ask for (demandPerS)
}

// errRawNotReady is the raw handler's answer to a pending task: retried after the interval
// and not a failure, as kiemv's not-ready error is.
var errRawNotReady = errors.New("not ready")

// rawTaskType is the Asynq task type of the raw scenario: its payload is a KIE task id.
const rawTaskType = "raw:poll"

// raw is the raw Asynq baseline: an asynq.Server with --concurrency on the same Redis, whose
// handler makes one GET of record-info for the task at the same kind of simulator as capacity
// (never ready, so every reply says pending) and returns a not-ready error that Asynq retries
// after --interval (±10 % jitter, due time rounded up to a whole second, as kiemv's poller).
// It follows --tasks tasks and measures a window of --duration after the same warm-up, with
// the same probes; cap (nil when capacity was skipped) gives the kiemv/raw ratios.
func (e *benchEnv) raw(ctx context.Context, cap *capResult) (*scenario, error) {
	s := &scenario{Name: "raw"}
	o := e.o
	sim, err := e.capacitySim(ctx, s)
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	if err := sim.addNever(ctx, "raw", o.Tasks); err != nil {
		return nil, err
	}
	ns := benchNamespace("raw")
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		e.redis.clean(cctx, ns)
	}()
	ropt, err := asynq.ParseRedisURI(e.redis.URL)
	if err != nil {
		return nil, err
	}
	queue := ns + ":poll" // the shape of kiemv's poll queue name, so keys are as long
	setup := time.Now()
	if err := enqueueRaw(ctx, ropt, queue, o.Tasks, o.Interval); err != nil {
		return nil, err
	}
	s.add("tasks", float64(o.Tasks), "")
	s.add("setup_s", time.Since(setup).Seconds(), "s")

	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConns: 100, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}
	defer hc.CloseIdleConnections()
	startRaw := func() (stop func(), err error) {
		srv := asynq.NewServer(ropt, rawServerConfig(o.Concurrency, o.Interval, queue))
		mux := asynq.NewServeMux()
		mux.HandleFunc(rawTaskType, func(ctx context.Context, t *asynq.Task) error {
			return rawPoll(ctx, hc, sim.URL, string(t.Payload()))
		})
		if err := srv.Start(mux); err != nil {
			return nil, fmt.Errorf("raw: start asynq server: %w", err)
		}
		return srv.Shutdown, nil
	}
	stop, err := startRaw()
	if err != nil {
		return nil, err
	}
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	if err := jobs.Sleep(ctx, o.Interval+2*time.Second); err != nil { // warm-up, as capacity
		return nil, err
	}
	st0, err := sim.stats(ctx)
	if err != nil {
		return nil, err
	}
	win, err := e.measure(ctx, sim, o.Duration)
	if err != nil {
		return nil, err
	}
	st1, err := sim.stats(ctx)
	if err != nil {
		return nil, err
	}
	stop()
	stop = nil
	rate, m := win.pollsPerS(), win.figures()
	s.add("polls_per_s", rate, "/s")
	s.add("demand_per_s", demandPerS(o), "/s")
	s.add("saturated", b2f(rate < 0.85*demandPerS(o)), "")
	s.add("worker_cpu_cores", win.worker.Seconds()/win.secs, "")
	s.add("worker_cpu_s_per_1000_polls", m.worker, "s")
	s.add("sim_cpu_s_per_1000_polls", m.sim, "s")
	s.add("redis_cpu_s_per_1000_polls", m.redis, "s")
	s.add("total_cpu_s_per_1000_polls", m.total(), "s")
	s.add("poll_faults", float64(st1.PollFaults-st0.PollFaults), "")

	if cap == nil {
		s.note("capacity was skipped: no kiemv/raw ratios")
		return s, nil
	}
	if !cap.Saturated {
		s.note("capacity was not saturated (demand %.0f/s, served %.0f/s): its polls/s measures the task count, not the worker — raise --tasks", cap.DemandPerS, cap.PollsPerS)
	}
	capCPU := cpuFigures{worker: cap.WorkerCPU, redis: math.NaN(), sim: math.NaN()}
	if o.Pairs <= 0 {
		compare(s, "", cap.PollsPerS, rate, capCPU, m, cap.TotalCPU)
		s.note("polls/s on both sides = record-info calls counted by the simulator over its window; capacity's window and raw's are minutes apart (--pairs 0)")
		return s, nil
	}
	compare(s, "seq_", cap.PollsPerS, rate, capCPU, m, cap.TotalCPU)
	if !o.JSON {
		fmt.Fprintf(e.stderr, "bench: raw: %d pairs of %v windows, kiemv and raw in turn…\n", o.Pairs, o.PairWindow)
	}
	kw, rw, err := e.pairs(ctx, sim, startRaw)
	if err != nil {
		return nil, err
	}
	s.add("paired_kiemv_polls_per_s", kw.pollsPerS(), "/s")
	s.add("paired_raw_polls_per_s", rw.pollsPerS(), "/s")
	compare(s, "", kw.pollsPerS(), rw.pollsPerS(), kw.figures(), rw.figures(), kw.figures().total())
	s.note("kiemv_vs_raw_*: %d pairs of %v windows, kiemv and raw in turn (each after %v of warm-up, on its own simulator child with --tasks tasks), summed per side, so that a change of load on a shared machine weighs on both alike; seq_*: capacity's window against raw's, measured one after the other", o.Pairs, o.PairWindow, pairWarmUp(o))
	s.note("polls/s on both sides = record-info calls counted by the simulator; CPU per 1,000 polls = worker (this process) + Redis + simulator child")
	return s, nil
}

// compare adds the kiemv/raw ratios of polls/s and CPU per 1,000 polls (the total of worker,
// Redis and simulator when all are known, kTotal for kiemv's, else the worker's alone), with
// their targets, under prefix.
func compare(s *scenario, prefix string, kRate, rRate float64, k, r cpuFigures, kTotal float64) {
	pr := ratio(kRate, rRate)
	cr := ratio(kTotal, r.total())
	if math.IsNaN(cr) {
		cr = ratio(k.worker, r.worker)
	}
	if prefix == "" {
		s.check("kiemv_vs_raw_polls_per_s", pr, "x", "≥ 0.6", okIf(pr, 0.6, true))
		s.check("kiemv_vs_raw_cpu_per_1000_polls", cr, "x", "≤ 1.5", okIf(cr, 1.5, false))
	} else {
		s.add(prefix+"kiemv_vs_raw_polls_per_s", pr, "x")
		s.add(prefix+"kiemv_vs_raw_cpu_per_1000_polls", cr, "x")
	}
	s.add(prefix+"kiemv_vs_raw_worker_cpu_per_1000_polls", ratio(k.worker, r.worker), "x")
}

// cpuFigures are CPU-seconds per 1,000 polls: the bench process's, the simulator child's
// and Redis's (NaN where unknown).
type cpuFigures struct{ worker, sim, redis float64 }

// total is the sum of the three, NaN when one is unknown.
func (m cpuFigures) total() float64 { return m.worker + m.sim + m.redis }

// cpuPer1000 turns the CPU used over a window in which calls polls were made into
// cpuFigures, from the probes capacity and raw both read: cpuTime of this process, Redis's
// INFO cpu (r0, r1; negative when unknown) and the simulator child's counters.
func cpuPer1000(calls int, worker, r0, r1 time.Duration, st0, st1 simStats, child bool) cpuFigures {
	per := func(d time.Duration) float64 {
		if d < 0 || calls == 0 {
			return math.NaN()
		}
		return d.Seconds() / float64(calls) * 1000
	}
	m := cpuFigures{worker: per(worker), sim: math.NaN(), redis: math.NaN()}
	if child {
		m.sim = per(time.Duration(st1.CPUNanos - st0.CPUNanos))
	}
	if r0 >= 0 && r1 >= 0 {
		m.redis = per(r1 - r0)
	}
	return m
}

// rawServerConfig mirrors jobs.NewWorker's poll server: same concurrency, same scheduler
// check intervals, a RetryDelayFunc that gives the interval to a not-ready error, and
// IsFailure false for it.
func rawServerConfig(concurrency int, interval time.Duration, queue string) asynq.Config {
	check := min(max(interval/10, 50*time.Millisecond), time.Second)
	return asynq.Config{
		Concurrency: concurrency,
		Queues:      map[string]int{queue: 1},
		RetryDelayFunc: func(n int, err error, _ *asynq.Task) time.Duration {
			if errors.Is(err, errRawNotReady) {
				return jobs.DueIn(interval + time.Duration((rand.Float64()*2-1)*0.1*float64(interval)))
			}
			return jobs.DueIn(time.Second << min(n, 8))
		},
		IsFailure:                func(err error) bool { return err != nil && !errors.Is(err, errRawNotReady) },
		DelayedTaskCheckInterval: check,
		TaskCheckInterval:        min(check, 200*time.Millisecond),
		ShutdownTimeout:          5 * time.Second,
		LogLevel:                 asynq.FatalLevel,
	}
}

// rawPoll is the raw handler: one GET of record-info for id, its body read and dropped.
func rawPoll(ctx context.Context, hc *http.Client, base, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+kie.PathRecordInfo+"?"+url.Values{"taskId": {id}}.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+benchKey)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("record-info %s: HTTP %d", id, resp.StatusCode)
	}
	return errRawNotReady
}

// enqueueRaw enqueues n raw poll tasks from 16 goroutines, the i-th due after i/n of an
// interval (as capacity spreads its first polls), with no retry limit in practice.
func enqueueRaw(ctx context.Context, ropt asynq.RedisConnOpt, queue string, n int, interval time.Duration) error {
	c := asynq.NewClient(ropt)
	defer c.Close()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				t := asynq.NewTask(rawTaskType, []byte(taskID("raw", i)))
				d := interval * time.Duration(i) / time.Duration(n)
				if _, err := c.EnqueueContext(ctx, t, asynq.Queue(queue), asynq.ProcessIn(d), asynq.MaxRetry(40)); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		return fmt.Errorf("raw: enqueue: %w", first)
	}
	return nil
}
