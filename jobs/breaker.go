package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"
)

// DepKIE names KIE's API in the outage state; a video host is named by HostDep.
const DepKIE = "kie"

// HostDep names the file host of a video URL in the outage state ("host:<host[:port]>").
func HostDep(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "host:unknown"
	}
	return "host:" + u.Host
}

// Outages keeps the outage state of each dependency, shared by every worker.
// store.Outages implements it in Redis.
type Outages interface {
	// Fail records a transient failure of dep met by holder (an MP4 task id). It reports
	// whether holder had failed on dep before (within an hour), and whether dep is open
	// afterwards: it opens once threshold distinct holders failed on it within window and
	// since its last success.
	Fail(ctx context.Context, dep, holder string, threshold int, window time.Duration) (again, open bool, err error)
	// Succeed records that dep answered: failures before now no longer count towards opening,
	// and an open dep is closed.
	Succeed(ctx context.Context, dep string) error
	// Open reports whether dep is open (out of order: calls wait for a probe to succeed).
	Open(ctx context.Context, dep string) (bool, error)
	// TryProbe takes the right to probe dep for ttl, and reports whether this caller got it: at
	// most one caller in all processes gets it per ttl.
	TryProbe(ctx context.Context, dep string, ttl time.Duration) (bool, error)
}

// BreakerConfig tunes a Breaker.
type BreakerConfig struct {
	Threshold     int           // distinct tasks failing within Window that open a dependency (default 3)
	Window        time.Duration // how recent those failures must be (default 1m)
	ProbeInterval time.Duration // at most one probe call per dependency per interval (default 5s)
	Recheck       time.Duration // how often a waiting task looks again, in Redis only (default 2s)
	CacheFor      time.Duration // how long this process trusts what it read of the state (default 1s)
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.Threshold <= 0 {
		c.Threshold = 3
	}
	if c.Window <= 0 {
		c.Window = time.Minute
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = 5 * time.Second
	}
	if c.Recheck <= 0 {
		c.Recheck = 2 * time.Second
	}
	if c.CacheFor <= 0 {
		c.CacheFor = time.Second
	}
	return c
}

// Breaker is a circuit breaker per dependency (KIE's API, each video host), shared through
// Outages by every worker. Closed: calls go ahead. When Threshold tasks fail transiently
// within Window it opens: tasks stop calling the dependency and wait (not a failure, no retry
// used), looking again every Recheck. While open, one caller per ProbeInterval, in all
// processes, is let through as the probe; its success closes the breaker and the waiting
// tasks go ahead at their next look. A nil *Breaker lets every call through.
type Breaker struct {
	State  Outages
	Config BreakerConfig
	Log    *slog.Logger
	Hooks  *Hooks // OutageFunc hears every change this process sees
	// ProbeKIEFunc, when set, is the probe of DepKIE: a cheap call (the credit balance) whose
	// answer, any answer but a transient error, means KIE is back. Without it, and for the
	// video hosts, the task holding the probe lease makes its own call as the probe.
	ProbeKIEFunc func(ctx context.Context) error

	mu   sync.Mutex
	deps map[string]*depView
}

// depView is what this process last knew of one dependency.
type depView struct {
	open      bool
	checked   time.Time // when open was read from the shared state
	nextProbe time.Time // this process asks for the probe lease no sooner
	suspect   bool      // this process saw a failure since the last success it recorded
}

// outageError says a dependency is out of order and the task waits for it to come back. It is
// not a failure: it uses up no retry.
type outageError struct {
	dep   string
	delay time.Duration
}

func (e *outageError) Error() string {
	return fmt.Sprintf("waiting for %s to come back; looking again in %v", e.dep, e.delay.Round(100*time.Millisecond))
}

// IsOutage reports whether err says a task waits out an outage of a dependency.
func IsOutage(err error) bool {
	var oe *outageError
	return errors.As(err, &oe)
}

func (b *Breaker) view(dep string) *depView {
	if b.deps == nil {
		b.deps = map[string]*depView{}
	}
	v := b.deps[dep]
	if v == nil {
		v = &depView{}
		b.deps[dep] = v
	}
	return v
}

// wait returns nil when a call to dep may go ahead (dep closed, or this caller is the probe),
// or the outage error the task returns to wait. Errors of the shared state let the call go.
func (b *Breaker) wait(ctx context.Context, dep string) error {
	if b == nil {
		return nil
	}
	cfg := b.Config.withDefaults()
	wait := &outageError{dep: dep, delay: cfg.Recheck}
	b.mu.Lock()
	v, now := b.view(dep), time.Now()
	if now.Sub(v.checked) >= cfg.CacheFor {
		open, err := b.State.Open(ctx, dep)
		if err != nil {
			b.mu.Unlock()
			return nil // the dependency decides, as without a breaker
		}
		b.set(dep, v, open)
		v.checked = now
	}
	open, try := v.open, v.open && now.After(v.nextProbe)
	if try {
		v.nextProbe = now.Add(cfg.Recheck / 2)
	}
	b.mu.Unlock()
	if !open {
		return nil
	}
	if !try {
		return wait
	}
	if b.probe(ctx, dep) {
		return nil
	}
	return wait
}

// probe takes the probe lease of dep, if it is free, and probes: with ProbeKIEFunc for KIE,
// whose success closes the breaker; otherwise by letting the caller's own call go ahead. It
// reports whether the caller may go ahead.
func (b *Breaker) probe(ctx context.Context, dep string) bool {
	cfg := b.Config.withDefaults()
	if ok, err := b.State.TryProbe(ctx, dep, cfg.ProbeInterval); err != nil || !ok {
		return false
	}
	if dep != DepKIE || b.ProbeKIEFunc == nil {
		b.log().Info("probing whether it is back with a task's own call", "dependency", dep)
		return true
	}
	if err := b.ProbeKIEFunc(ctx); err != nil {
		b.log().Info("probe: still down", "dependency", dep, "error", err)
		return false
	}
	b.closeDep(ctx, dep)
	return true
}

// Run probes KIE with ProbeKIEFunc while its breaker is open, once per ProbeInterval across
// all processes (the lease decides which), until ctx ends: recovery does not wait for a task
// to come by. Without ProbeKIEFunc it returns at once.
func (b *Breaker) Run(ctx context.Context) {
	if b == nil || b.ProbeKIEFunc == nil {
		return
	}
	cfg := b.Config.withDefaults()
	tick := time.NewTicker(max(cfg.ProbeInterval/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		open, err := b.State.Open(ctx, DepKIE)
		if err != nil {
			continue
		}
		b.mu.Lock()
		v := b.view(DepKIE)
		b.set(DepKIE, v, open)
		v.checked = time.Now()
		b.mu.Unlock()
		if open {
			b.probe(ctx, DepKIE)
		}
	}
}

// failed records a transient failure of dep met by holder and returns the outage error the
// task returns instead of a counted retry: when dep is open, and on holder's first failure
// (one free look, so that the failures which open the breaker use no retry either). nil means
// a counted retry: holder fails on its own while dep works for others.
func (b *Breaker) failed(ctx context.Context, dep, holder string) error {
	if b == nil {
		return nil
	}
	cfg := b.Config.withDefaults()
	again, open, err := b.State.Fail(ctx, dep, holder, cfg.Threshold, cfg.Window)
	if err != nil {
		return nil
	}
	b.mu.Lock()
	v := b.view(dep)
	v.suspect = true
	b.set(dep, v, open)
	v.checked = time.Now()
	b.mu.Unlock()
	if open || !again {
		return &outageError{dep: dep, delay: cfg.Recheck}
	}
	return nil
}

// succeeded records that dep answered. It writes to the shared state only when this process
// saw dep fail or open, so a healthy poll costs nothing here.
func (b *Breaker) succeeded(ctx context.Context, dep string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	v := b.view(dep)
	quiet := !v.suspect && !v.open
	b.mu.Unlock()
	if !quiet {
		b.closeDep(ctx, dep)
	}
}

// closeDep records a success of dep in the shared state (closing it) and here.
func (b *Breaker) closeDep(ctx context.Context, dep string) {
	if err := b.State.Succeed(ctx, dep); err != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.view(dep)
	v.suspect = false
	b.set(dep, v, false)
	v.checked = time.Now()
}

// set records what this process now knows of dep, and reports a change.
func (b *Breaker) set(dep string, v *depView, open bool) {
	if v.open == open {
		return
	}
	v.open = open
	if open {
		b.log().Warn("dependency is down; tasks wait for a probe to succeed instead of retrying", "dependency", dep)
	} else {
		b.log().Info("dependency is back; waiting tasks go ahead", "dependency", dep)
	}
	b.Hooks.outage(dep, !open)
}

func (b *Breaker) log() *slog.Logger {
	if b.Log != nil {
		return b.Log
	}
	return slog.Default()
}
