package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// createLimit is kiemv's default create limit per 10 s (KIE allows 20).
const createLimit = 18

// creates submits --create-submits videos at once, in a known order, against a simulator
// that allows KIE's 20 creates in any sliding 10 s, under kiemv's default limit of 18 per
// 10 s: every submit must be done within 10 % of N/rate, in the order it came, and KIE must
// refuse none.
func (e *benchEnv) creates(ctx context.Context) (*scenario, error) {
	s := &scenario{Name: "creates"}
	n := e.o.CreateSubmits
	sim, err := startSim(kiesim.Config{CreateLimit: 20, CreateWindow: 10 * time.Second, ReadyAfter: time.Hour})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	w, err := e.newWorker(ctx, workerSpec{ns: benchNamespace("creates"), simURL: sim.URL, dir: filepath.Join(e.tmp, "creates"), recordLimit: 10})
	if err != nil {
		return nil, err
	}
	defer w.Close(e)
	var mu sync.Mutex
	var order []int
	done := make([]float64, n)
	errs := 0
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		if err := jobs.Sleep(ctx, 2*time.Millisecond); err != nil { // arrivals in a known order
			return nil, err
		}
		wg.Go(func() {
			_, _, err := w.svc.Submit(ctx, jobs.SubmitRequest{MusicTaskID: "music-bench", AudioID: fmt.Sprint("au", i)})
			mu.Lock()
			defer mu.Unlock()
			done[i] = time.Since(start).Seconds()
			order = append(order, i)
			if err != nil {
				errs++
			}
		})
	}
	wg.Wait()
	fair := float64(n) / createLimit * 10 // N/rate
	late, outOfOrder := 0, 0
	for k, i := range order {
		if i != k {
			outOfOrder++
		}
	}
	for i, d := range done {
		if d > 1.1*float64(i+1)/createLimit*10+0.5 { // later than 10 % past its own fair time
			late++
		}
	}
	st := sim.Sim.Stats()
	sorted := slices.Clone(done)
	slices.Sort(sorted)
	s.add("submits", float64(n), "")
	s.add("fair_s", fair, "s")
	s.check("slowest_s", sorted[n-1], "s", fmt.Sprintf("≤ %.3g (1.1·N/rate)", 1.1*fair), sorted[n-1] <= 1.1*fair)
	s.add("median_s", quantile(done, 0.5), "s")
	s.check("later_than_own_fair_time", float64(late), "", "= 0", late == 0)
	s.check("out_of_arrival_order", float64(outOfOrder), "", "= 0", outOfOrder == 0)
	s.check("creates_refused_by_kie", float64(st.RateLimited), "", "= 0", st.RateLimited == 0)
	s.check("failed", float64(errs), "", "= 0", errs == 0)
	s.note("%d submits started 2 ms apart in one process (one Redis, one shared create limiter) under kiemv's default --create-limit %d per 10 s, against a simulator allowing KIE's 20 in any sliding 10 s; a submit's own fair time is its place in line × 10 s/%d (+0.5 s)",
		n, createLimit, createLimit)
	return s, nil
}
