package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
)

var _ jobs.Outages = (*Outages)(nil)

// Outages keeps the circuit breakers of KIE and the video hosts in Redis, shared by every
// worker (see jobs.Breaker).
type Outages struct {
	rdb  redis.UniversalClient
	keys Keys
}

// NewOutages returns the outage state under namespace.
func NewOutages(rdb redis.UniversalClient, namespace string) *Outages {
	return &Outages{rdb: rdb, keys: NewKeys(namespace)}
}

// failKeep is how long a holder's failure is remembered (jobs.Outages.Fail's "again").
const failKeep = time.Hour

// failScript records a failure. KEYS: fails, ok, open. ARGV: holder, now ms, window ms, keep
// ms, threshold. Reply: {again 0/1, open 0/1}.
var failScript = redis.NewScript(`
local now = tonumber(ARGV[2])
local again = redis.call('ZSCORE', KEYS[1], ARGV[1]) and 1 or 0
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local since = now - tonumber(ARGV[3])
local ok = tonumber(redis.call('GET', KEYS[2]) or '0')
if ok > since then since = ok end
local open = redis.call('EXISTS', KEYS[3])
if open == 0 and redis.call('ZCOUNT', KEYS[1], '(' .. since, '+inf') >= tonumber(ARGV[5]) then
  redis.call('SET', KEYS[3], now, 'PX', 86400000) -- a host gone for good is forgotten in a day
  open = 1
end
return {again, open}
`)

// Fail records a transient failure of dep met by holder (see jobs.Outages).
func (o *Outages) Fail(ctx context.Context, dep, holder string, threshold int, window time.Duration) (again, open bool, err error) {
	now := time.Now().UnixMilli()
	r, err := failScript.Run(ctx, o.rdb, []string{o.keys.Outage(dep, "fails"), o.keys.Outage(dep, "ok"), o.keys.Outage(dep, "open")},
		holder, now, window.Milliseconds(), failKeep.Milliseconds(), threshold).Int64Slice()
	if err != nil || len(r) != 2 {
		return false, false, fmt.Errorf("outage state of %s: record a failure: %v", dep, err)
	}
	return r[0] == 1, r[1] == 1, nil
}

// Succeed records that dep answered and closes it (see jobs.Outages).
func (o *Outages) Succeed(ctx context.Context, dep string) error {
	_, err := o.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, o.keys.Outage(dep, "ok"), time.Now().UnixMilli(), failKeep)
		p.Del(ctx, o.keys.Outage(dep, "open"))
		return nil
	})
	if err != nil {
		return fmt.Errorf("outage state of %s: record a success: %w", dep, err)
	}
	return nil
}

// Open reports whether dep is open.
func (o *Outages) Open(ctx context.Context, dep string) (bool, error) {
	n, err := o.rdb.Exists(ctx, o.keys.Outage(dep, "open")).Result()
	if err != nil {
		return false, fmt.Errorf("outage state of %s: %w", dep, err)
	}
	return n == 1, nil
}

// probeScript takes the probe lease when the last one has run out. It reads the time from
// Redis (one clock for every worker) and keeps the lease's end as the key's value, not as its
// expiry. KEYS: probe. ARGV: ttl ms. Reply: 1 if taken.
var probeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ = tonumber(redis.call('GET', KEYS[1]) or '0')
if now < until_ then return 0 end
redis.call('SET', KEYS[1], now + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]) + 60000)
return 1
`)

// TryProbe takes the probe lease of dep for ttl; one caller gets it per ttl.
func (o *Outages) TryProbe(ctx context.Context, dep string, ttl time.Duration) (bool, error) {
	n, err := probeScript.Run(ctx, o.rdb, []string{o.keys.Outage(dep, "probe")}, max(ttl.Milliseconds(), 1)).Int()
	if err != nil {
		return false, fmt.Errorf("outage state of %s: probe lease: %w", dep, err)
	}
	return n == 1, nil
}
