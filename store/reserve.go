package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// bookScript is gcraScript with a place in line: a call that does not conform now books the
// next free one (the TAT moves on, as for an allowed call) under the holder's key, and the
// holder's next ask at that time, or at most late after it, goes ahead without taking
// another call. A holder that comes later than that goes ahead too if no call was booked
// after its own (its call moves to now, and the line after it); otherwise it has lost its
// call (it lies in the past, so it crowds no later one) and books again, at the end of the
// line. Booked calls are in
// the order the holders first asked: the booking is their ticket.
// KEYS: limit key, holder key. ARGV: emission interval µs, tolerance µs, late µs, how long
// (ms) a holder key outlives its lateness.
// Reply: 0 if allowed, else the µs to wait.
var bookScript = redis.NewScript(replicateLua + bookLua + `
return book(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
`)

// replicateLua lets a script that reads TIME write afterwards on Redis before 5.
const replicateLua = `if redis.replicate_commands then pcall(redis.replicate_commands) end
`

// bookLua defines book(limit key, holder key, interval µs, tolerance µs, late µs, holder key
// extra ms), the body of bookScript, shared with loadReserveScript.
const bookLua = `
local function book(limitKey, heldKey, interval, tolerance, late, extra)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local booked = tonumber(redis.call('GET', heldKey) or '')
  if booked then
    if now < booked then return booked - now end
    redis.call('DEL', heldKey)
    if now <= booked + late then return 0 end
    local last = tonumber(redis.call('GET', limitKey) or '0') or 0
    if last == booked + tolerance + interval then
      last = last + now - booked
      redis.call('SET', limitKey, string.format('%d', last), 'PX', string.format('%d', math.ceil((last - now) / 1000)))
      return 0
    end
  end
  local tat = tonumber(redis.call('GET', limitKey) or '0') or 0
  if tat < now then tat = now end
  local wait = tat - now - tolerance
  tat = tat + interval
  redis.call('SET', limitKey, string.format('%d', tat), 'PX', string.format('%d', math.ceil((tat - now) / 1000)))
  if wait <= 0 then return 0 end
  redis.call('SET', heldKey, string.format('%d', now + wait), 'PX', string.format('%d', math.ceil((wait + late) / 1000) + extra))
  return wait
end
`

// giveBackScript gives back the call booked for a holder that will not come. If no later
// call was booked after it, the TAT moves back over it, and over the calls given back before
// it that now end the line (kept in the freed set); otherwise it joins the freed set, to be
// taken back once the calls after it are given back too. A call whose time has come is
// not given back: it may have been made.
// KEYS: limit key, holder key, freed key. ARGV: emission interval µs, tolerance µs.
// Reply: how many calls the TAT moved back over.
var giveBackScript = redis.NewScript(`
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local booked = tonumber(redis.call('GET', KEYS[2]) or '')
if not booked then return 0 end
redis.call('DEL', KEYS[2])
if booked <= now then return 0 end
local pos = booked + tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', string.format('(%d', now - interval))
if tat ~= pos + interval then
  redis.call('ZADD', KEYS[3], string.format('%d', pos), string.format('%d', pos))
  redis.call('PEXPIRE', KEYS[3], math.ceil((tat - now) / 1000) + 1)
  return 0
end
local n = 1
tat = pos
while true do
  local prev = string.format('%d', tat - interval)
  if redis.call('ZREM', KEYS[3], prev) == 0 then break end
  tat = tat - interval
  n = n + 1
end
if tat > now then
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', string.format('%d', math.ceil((tat - now) / 1000)))
else
  redis.call('DEL', KEYS[1])
end
return n
`)

// holdExtra is how long a holder key outlives the time its call may still go: long enough
// that a late holder finds it (and books again, rather than as a newcomer) — the same either way.
const holdExtra = time.Second

// Reserve takes one call from the named limit for holder, as jobs.Reserver describes: 0 when
// the call may go ahead now, else the wait until the call booked for holder (kept in
// <ns>:rl:<name>:held:<holder>). Waiting holders are served in the order they first asked,
// each once per turn; a holder must ask again at its time (within Limit.Late) to go ahead,
// and one that comes later books again. No more calls go through than Allow would let
// through, and each at its booked time or at most Late after it.
func (l *Limiter) Reserve(ctx context.Context, name, holder string) (time.Duration, error) {
	lim, err := l.limit(name)
	if err != nil {
		return 0, err
	}
	iv := lim.interval().Microseconds()
	tol := int64(lim.Burst-1) * iv
	us, err := bookScript.Run(ctx, l.rdb, []string{l.keys.Limit(name), l.keys.Held(name, holder)},
		iv, tol, lim.late().Microseconds(), holdExtra.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("rate limit %q: %w", name, err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// Release gives back the call booked for holder, which will not make it (it gave up
// waiting). Once no call booked later than it is still held, the line moves back over it;
// until then it is one call's worth of capacity lost, never more per holder. Releasing a
// holder with nothing booked does nothing.
func (l *Limiter) Release(ctx context.Context, name, holder string) error {
	lim, err := l.limit(name)
	if err != nil {
		return err
	}
	iv := lim.interval().Microseconds()
	tol := int64(lim.Burst-1) * iv
	keys := []string{l.keys.Limit(name), l.keys.Held(name, holder), l.keys.Freed(name)}
	if err := giveBackScript.Run(ctx, l.rdb, keys, iv, tol).Err(); err != nil {
		return fmt.Errorf("rate limit %q: release the call of %s: %w", name, holder, err)
	}
	return nil
}
