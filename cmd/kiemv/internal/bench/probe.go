package bench

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
)

// probe wraps the worker's KIE client to watch every record-info call, and takes the poll
// handler's ScheduledFunc hook: together they give poll lateness (the time of poll k+1 minus
// the due time poll k asked for), gaps between the polls of one task, polls made after a task
// was seen ready, and polls of one task that overlapped.
type probe struct {
	jobs.Details // the wrapped client (the poller's KIE)

	mu      sync.Mutex
	tasks   map[string]*taskProbe
	from    time.Time // the measuring window; zero: not measuring
	to      time.Time
	calls   int       // record-info calls started in the window
	asked   []float64 // lateness against the due time asked for, seconds, in the window
	rounded []float64 // lateness against that due time rounded up to a whole second
}

// taskProbe is what the probe knows of one task.
type taskProbe struct {
	calls      int
	since      time.Time // when it was followed, then the last call
	maxGap     time.Duration
	due        time.Time // the next poll's due time, as asked (zero: none pending)
	inFlight   int
	overlaps   int       // calls started while another call for the task was in flight
	readySeen  time.Time // first reply that said ready
	afterReady int       // calls started after that
}

func newProbe(inner jobs.Details) *probe {
	return &probe{Details: inner, tasks: map[string]*taskProbe{}}
}

// follow registers a task as followed from t (the start of its first gap).
func (p *probe) follow(id string, t time.Time) {
	p.mu.Lock()
	p.tasks[id] = &taskProbe{since: t}
	p.mu.Unlock()
}

func (p *probe) task(id string) *taskProbe {
	tp := p.tasks[id]
	if tp == nil {
		tp = &taskProbe{}
		p.tasks[id] = tp
	}
	return tp
}

// measure opens a measuring window of d from now, clearing the window's samples.
func (p *probe) measure(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.from = time.Now()
	p.to = p.from.Add(d)
	p.calls, p.asked, p.rounded = 0, p.asked[:0], p.rounded[:0]
}

// scheduled is the poll handler's Hooks.ScheduledFunc.
func (p *probe) scheduled(id string, due time.Time) {
	p.mu.Lock()
	p.task(id).due = due
	p.mu.Unlock()
}

// VideoDetails implements jobs.Details.
func (p *probe) VideoDetails(ctx context.Context, id string) (*kie.VideoRecord, error) {
	now := time.Now()
	p.mu.Lock()
	tp := p.task(id)
	in := !p.from.IsZero() && !now.Before(p.from) && now.Before(p.to)
	if in {
		p.calls++
	}
	if !tp.due.IsZero() {
		if in {
			p.asked = append(p.asked, now.Sub(tp.due).Seconds())
			p.rounded = append(p.rounded, now.Sub(ceilSecond(tp.due)).Seconds())
		}
		tp.due = time.Time{}
	}
	if !tp.since.IsZero() {
		tp.maxGap = max(tp.maxGap, now.Sub(tp.since))
	}
	tp.since = now
	tp.calls++
	if tp.inFlight++; tp.inFlight > 1 {
		tp.overlaps++
	}
	if !tp.readySeen.IsZero() {
		tp.afterReady++
	}
	p.mu.Unlock()

	vr, err := p.Details.VideoDetails(ctx, id)

	p.mu.Lock()
	tp.inFlight--
	if err == nil && vr.Ready() && tp.readySeen.IsZero() {
		tp.readySeen = time.Now()
	}
	p.mu.Unlock()
	return vr, err
}

// window returns the calls and lateness samples of the measuring window.
func (p *probe) window() (calls int, asked, rounded []float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, slices.Clone(p.asked), slices.Clone(p.rounded)
}

// gaps returns every task's longest wait between two polls, counting until end for the
// wait still running.
func (p *probe) gaps(end time.Time) []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]float64, 0, len(p.tasks))
	for _, tp := range p.tasks {
		g := tp.maxGap
		if !tp.since.IsZero() && tp.readySeen.IsZero() {
			g = max(g, end.Sub(tp.since))
		}
		out = append(out, g.Seconds())
	}
	return out
}

// duplicates counts polls made after a task was seen ready, and polls that overlapped.
func (p *probe) duplicates() (afterReady, overlaps int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tp := range p.tasks {
		afterReady += tp.afterReady
		overlaps += tp.overlaps
	}
	return afterReady, overlaps
}

// ceilSecond rounds t up to a whole second, as kiemv rounds due times for Asynq.
func ceilSecond(t time.Time) time.Time {
	r := t.Truncate(time.Second)
	if r.Before(t) {
		r = r.Add(time.Second)
	}
	return r
}

// quantile returns the q-quantile (0..1) of xs (nearest rank), NaN when empty.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// mean returns the mean of xs, NaN when empty.
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var t float64
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}
