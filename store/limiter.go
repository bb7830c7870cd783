package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
)

// Limit is one GCRA (generic cell rate algorithm) limit: Rate calls per Period on average,
// with up to Burst of them back to back. A window of length Period open at one end admits at
// most Rate+Burst-1 calls; Window builds a Limit from such a hard cap.
type Limit struct {
	Rate   int           // calls per Period, sustained
	Period time.Duration // the period Rate is counted over
	Burst  int           // calls allowed at once after a quiet spell (at least 1)
	// Late is how long after its booked time a call booked by Reserve may still go ahead;
	// a holder that comes later books again (0: a quarter of Period/Rate).
	Late time.Duration
}

// A Window's booked calls may go up to a hundredth of the window after their time, and at
// least windowLate (so that the timers of a busy machine do not lose calls); a further
// hundredth, at least windowSpread, covers the spread of network delays between kiemv and KIE.
const (
	windowLate   = 40 * time.Millisecond
	windowSpread = 10 * time.Millisecond
)

// Window returns a Limit that admits at most n calls in any window of length d, however the
// window is placed: calls are paced evenly with no burst, (d + margin)/n apart, so that any
// n+1 of them span d plus the margin. The margin is what a booked call may be late by
// (Limit.Late: d/100, at least 40ms) plus d/100 (at least 10ms) for the spread of network
// delays: 50ms (5 %) for a second, 200ms (2 %) for 10 s.
func Window(n int, d time.Duration) Limit {
	late := max(d/100, windowLate)
	return Limit{Rate: n, Period: d + late + max(d/100, windowSpread), Burst: 1, Late: late}
}

// interval is the time between two calls at the sustained rate.
func (l Limit) interval() time.Duration { return l.Period / time.Duration(l.Rate) }

// late is Late, or its default.
func (l Limit) late() time.Duration {
	if l.Late > 0 {
		return l.Late
	}
	return l.interval() / 4
}

func (l Limit) check() error {
	if l.Rate <= 0 || l.Burst <= 0 || l.Period <= 0 || l.Late < 0 || l.interval() < time.Microsecond {
		return fmt.Errorf("rate %d per %s with burst %d: rate, burst and period must be positive and period/rate at least 1µs", l.Rate, l.Period, l.Burst)
	}
	return nil
}

// Limits returns the limits kiemv needs: jobs.LimitCreate capped at createPer10s calls in any
// 10 seconds (KIE allows 20 per account) and jobs.LimitRecordInfo at recordInfoPerSecond in
// any second (KIE allows 10 per key), each as a Window.
func Limits(createPer10s, recordInfoPerSecond int) map[string]Limit {
	return map[string]Limit{
		jobs.LimitCreate:     Window(createPer10s, 10*time.Second),
		jobs.LimitRecordInfo: Window(recordInfoPerSecond, time.Second),
	}
}

// Limiter is the Redis-backed jobs.Limiter: every process using the same Redis and namespace
// shares one budget per limit name, kept in <ns>:rl:<name>. Redis's clock decides, so the
// clocks of the machines do not matter. A Limiter is safe for concurrent use.
type Limiter struct {
	rdb    redis.UniversalClient
	keys   Keys
	limits map[string]Limit
}

var (
	_ jobs.Limiter  = (*Limiter)(nil)
	_ jobs.Reserver = (*Limiter)(nil)
)

// NewLimiter returns a limiter enforcing limits (keyed by name, such as jobs.LimitCreate) in
// rdb under namespace (DefaultNamespace if ""). It fails if a limit is not positive.
func NewLimiter(rdb redis.UniversalClient, namespace string, limits map[string]Limit) (*Limiter, error) {
	own := make(map[string]Limit, len(limits))
	for name, l := range limits {
		if err := l.check(); err != nil {
			return nil, fmt.Errorf("limit %q: %w", name, err)
		}
		own[name] = l
	}
	return &Limiter{rdb: rdb, keys: NewKeys(namespace), limits: own}, nil
}

// gcraScript takes one call from a GCRA limit. It keeps the theoretical arrival time (TAT) in
// microseconds of Redis's clock; microsecond integers stay exact in Lua's doubles.
// KEYS: limit key. ARGV: emission interval µs, tolerance µs ((burst-1) × interval).
// Reply: 0 if allowed, else the µs to wait.
var gcraScript = redis.NewScript(`
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
if tat - now > tolerance then return tat - now - tolerance end
tat = tat + interval
local ttl = math.ceil((tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', string.format('%d', ttl))
return 0
`)

// limit returns the named limit, or an error naming the known ones.
func (l *Limiter) limit(name string) (Limit, error) {
	lim, ok := l.limits[name]
	if !ok {
		return lim, fmt.Errorf("rate limit %q is not configured (known: %s)", name, l.names())
	}
	return lim, nil
}

// Allow takes one call from the named limit. It returns 0 when the call may go ahead now, or
// how long to wait before asking again; it keeps no place in line (Reserve does). An unknown
// name is an error.
func (l *Limiter) Allow(ctx context.Context, name string) (time.Duration, error) {
	lim, err := l.limit(name)
	if err != nil {
		return 0, err
	}
	iv := lim.interval().Microseconds()
	tol := int64(lim.Burst-1) * iv
	us, err := gcraScript.Run(ctx, l.rdb, []string{l.keys.Limit(name)}, iv, tol).Int64()
	if err != nil {
		return 0, fmt.Errorf("rate limit %q: %w", name, err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// Wait blocks until the named limit lets a call go ahead, or ctx ends. It takes its place in
// line at once (Reserve, under a holder name of its own) and gives it back if ctx ends first.
func (l *Limiter) Wait(ctx context.Context, name string) error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	holder := "wait-" + hex.EncodeToString(b[:])
	for {
		d, err := l.Reserve(ctx, name, holder)
		if err != nil || d == 0 {
			return err
		}
		if jobs.Sleep(ctx, d) != nil {
			_ = l.Release(context.WithoutCancel(ctx), name, holder)
			return fmt.Errorf("waiting for rate limit %q: %w", name, context.Cause(ctx))
		}
	}
}

func (l *Limiter) names() string {
	names := make([]string, 0, len(l.limits))
	for n := range l.limits {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
