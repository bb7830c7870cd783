package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
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
	client, err := w.cfg.KIEClient()
	if err != nil {
		return nil, err
	}
	calls := &createCalls{API: client, start: time.Now(), index: map[string]int{}}
	svc, err := w.cfg.Service(w.w.Conn, calls, app.ServiceOptions{})
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	done := make([]float64, n)
	errs := 0
	var wg sync.WaitGroup
	for i := range n {
		if err := jobs.Sleep(ctx, 10*time.Millisecond); err != nil { // arrivals in a known order
			return nil, err
		}
		audio := fmt.Sprint("au", i)
		calls.mu.Lock()
		calls.index[audio] = i
		calls.mu.Unlock()
		wg.Go(func() {
			_, _, err := svc.Submit(ctx, jobs.SubmitRequest{MusicTaskID: "music-bench", AudioID: audio})
			mu.Lock()
			defer mu.Unlock()
			done[i] = time.Since(calls.start).Seconds()
			if err != nil {
				errs++
			}
		})
	}
	wg.Wait()
	win := store.Window(createLimit, 10*time.Second)
	interval := win.Period.Seconds() / float64(win.Rate) // the pace of kiemv's create limit
	fair := float64(n) * interval                        // N/rate at that pace
	late, overtaken, latest := 0, 0, -1
	for k, c := range calls.calls {
		if c.i < latest { // a submit that came later was created first
			overtaken++
		}
		latest = max(latest, c.i)
		if own := float64(k) * interval; c.at > own*1.1+0.1 {
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
	s.check("creates_later_than_fair", float64(late), "", "= 0", late == 0)
	s.check("creates_overtaken", float64(overtaken), "", "= 0", overtaken == 0)
	s.check("creates_refused_by_kie", float64(st.RateLimited), "", "= 0", st.RateLimited == 0)
	s.check("failed", float64(errs), "", "= 0", errs == 0)
	s.note("%d submits started 10 ms apart in one process (one Redis, one shared create limiter) under kiemv's default --create-limit %d per 10 s (paced %.3g s apart), against a simulator allowing KIE's 20 in any sliding 10 s; fair_s is N × that pace",
		n, createLimit, interval)
	s.note("creates_later_than_fair counts create calls made more than 10 %% (+0.1 s) after their place in line × the pace; creates_overtaken counts submits whose create a submit that came later beat; slowest_s and median_s are whole submits (create, then save and queue the task)")
	return s, nil
}

// createCalls is a kie.API that notes which submit (by arrival index) called create when.
type createCalls struct {
	kie.API
	start time.Time
	mu    sync.Mutex
	index map[string]int // audio id → arrival index
	calls []createCall
}

type createCall struct {
	i  int     // arrival index
	at float64 // seconds since start
}

// CreateVideo notes the call, then makes it.
func (c *createCalls) CreateVideo(ctx context.Context, req kie.CreateRequest) (string, error) {
	c.mu.Lock()
	c.calls = append(c.calls, createCall{i: c.index[req.AudioID], at: time.Since(c.start).Seconds()})
	c.mu.Unlock()
	return c.API.CreateVideo(ctx, req)
}
