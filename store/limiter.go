package store

import (
	"context"
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
}

// Window returns a Limit that admits at most n calls in any window of length d (open at one
// end), as a burst of about a quarter of n followed by evenly spaced calls.
func Window(n int, d time.Duration) Limit {
	burst := max(1, n/4)
	return Limit{Rate: n - burst + 1, Period: d, Burst: burst}
}

// interval is the time between two calls at the sustained rate.
func (l Limit) interval() time.Duration { return l.Period / time.Duration(l.Rate) }

func (l Limit) check() error {
	if l.Rate <= 0 || l.Burst <= 0 || l.Period <= 0 || l.interval() < time.Microsecond {
		return fmt.Errorf("rate %d per %s with burst %d: rate, burst and period must be positive and period/rate at least 1µs", l.Rate, l.Period, l.Burst)
	}
	return nil
}

// Limits returns the limits kiemv needs: jobs.LimitCreate capped at createPer10s calls in any
// 10 seconds (KIE allows 20 per account) and jobs.LimitRecordInfo at recordInfoPerSecond in
// any second (KIE allows 10 per key).
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

// Allow takes one call from the named limit. It returns 0 when the call may go ahead now, or
// how long to wait before asking again. An unknown name is an error.
func (l *Limiter) Allow(ctx context.Context, name string) (time.Duration, error) {
	lim, ok := l.limits[name]
	if !ok {
		return 0, fmt.Errorf("rate limit %q is not configured (known: %s)", name, l.names())
	}
	iv := lim.interval().Microseconds()
	tol := int64(lim.Burst-1) * iv
	us, err := gcraScript.Run(ctx, l.rdb, []string{l.keys.Limit(name)}, iv, tol).Int64()
	if err != nil {
		return 0, fmt.Errorf("rate limit %q: %w", name, err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// bookScript is gcraScript with a line: a call that does not conform now books the next
// free one (the TAT moves on, as for an allowed call) under the holder's key, and the
// holder's next ask on or after that time goes ahead without taking another call.
// KEYS: limit key, holder key. ARGV: emission interval µs, tolerance µs, how long (ms) a
// booked call waits for its holder after it came.
// Reply: 0 if allowed, else the µs to wait.
var bookScript = redis.NewScript(`
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local booked = tonumber(redis.call('GET', KEYS[2]) or '')
if booked then
  if booked <= now then
    redis.call('DEL', KEYS[2])
    return 0
  end
  return booked - now
end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local wait = tat - now - tolerance
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', string.format('%d', math.ceil((tat - now) / 1000)))
if wait <= 0 then return 0 end
redis.call('SET', KEYS[2], string.format('%d', now + wait), 'PX', string.format('%d', math.ceil(wait / 1000) + tonumber(ARGV[3])))
return wait
`)

// reserveHold is how long a booked call waits for its holder once its time has come; a
// holder that never comes (its task was canceled meanwhile) just lets it lapse.
const reserveHold = time.Minute

// Reserve takes one call from the named limit for holder, as jobs.Reserver describes: 0 when
// the call may go ahead now, else the wait until the call booked for holder (kept in
// <ns>:rl:<name>:held:<holder>). Waiting holders are served in the order they asked, each
// once per turn, and no more calls go through than Allow would let through.
func (l *Limiter) Reserve(ctx context.Context, name, holder string) (time.Duration, error) {
	lim, ok := l.limits[name]
	if !ok {
		return 0, fmt.Errorf("rate limit %q is not configured (known: %s)", name, l.names())
	}
	iv := lim.interval().Microseconds()
	tol := int64(lim.Burst-1) * iv
	us, err := bookScript.Run(ctx, l.rdb, []string{l.keys.Limit(name), l.keys.Held(name, holder)}, iv, tol, reserveHold.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("rate limit %q: %w", name, err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// Wait blocks until the named limit allows a call, or ctx ends.
func (l *Limiter) Wait(ctx context.Context, name string) error {
	for {
		d, err := l.Allow(ctx, name)
		if err != nil || d == 0 {
			return err
		}
		if jobs.Sleep(ctx, d) != nil {
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
