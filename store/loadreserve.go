package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
)

// loadReserveScript is the first half of a poll's two round trips: it reads the fields of the
// record a poll needs and, when the record is pending and of the poll's generation, books the
// poll's record-info call as bookScript does.
// KEYS: record, limit key, holder key. ARGV: generation, the state that books (pending),
// then bookScript's ARGV.
// Reply: {"missing"} or {wait µs ("-1": no call taken), state, gen, created_at, retried_at, api},
// an absent field as "" (to a client speaking RESP3, HMGET gives Lua nil for it, and a nil
// inside a Lua array is where its reply may end).
var loadReserveScript = redis.NewScript(replicateLua + bookLua + `
local f = redis.call('HMGET', KEYS[1], '` + fState + `', '` + fGeneration + `', '` + fCreatedAt + `', '` + fRetriedAt + `', '` + fAPI + `')
if not f[1] then return {'missing'} end
local wait = -1
if f[1] == ARGV[2] and (tonumber(f[2]) or 1) == tonumber(ARGV[1]) then
  wait = book(KEYS[2], KEYS[3], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
end
return {string.format('%d', wait), f[1], f[2] or '', f[3] or '', f[4] or '', f[5] or ''}
`)

// pollFields are the record fields loadReserveScript returns, in its order.
var pollFields = [...]string{fState, fGeneration, fCreatedAt, fRetriedAt, fAPI}

var _ jobs.LoadReserver = (*Limiter)(nil)

// LoadReserve implements jobs.LoadReserver in one round trip: it reads the record id (in the
// Records of the same namespace) and, when it is pending and at generation gen, takes a call
// of the named limit for it as Reserve(name, id) does. booked is false when no call was
// taken (the record is in another state or generation); wait is then 0. The record holds
// what a poll needs, no more: TaskID, State, Generation, CreatedAt, RetriedAt and API.
func (l *Limiter) LoadReserve(ctx context.Context, name, id string, gen int64) (rec *jobs.Record, wait time.Duration, booked bool, err error) {
	if err := jobs.ValidateID("task id", id); err != nil {
		return nil, 0, false, fmt.Errorf("get record: %w", err)
	}
	lim, err := l.limit(name)
	if err != nil {
		return nil, 0, false, err
	}
	iv := lim.interval().Microseconds()
	tol := int64(lim.Burst-1) * iv
	keys := []string{l.keys.Record(id), l.keys.Limit(name), l.keys.Held(name, id)}
	reply, err := loadReserveScript.Run(ctx, l.rdb, keys, gen, string(jobs.StatePending),
		iv, tol, lim.late().Microseconds(), holdExtra.Milliseconds()).Slice()
	if err != nil {
		return nil, 0, false, fmt.Errorf("get record %s and take its %q call: %w", id, name, err)
	}
	head, _ := reply[0].(string)
	if head == "missing" {
		return nil, 0, false, noRecord(id)
	}
	us, err := strconv.ParseInt(head, 10, 64)
	if err != nil {
		return nil, 0, false, fmt.Errorf("get record %s: unexpected script reply %q", id, head)
	}
	if len(reply) != 1+len(pollFields) {
		return nil, 0, false, fmt.Errorf("get record %s: script reply of %d elements, want %d", id, len(reply), 1+len(pollFields))
	}
	d := recordDecoder{id: id, rec: &jobs.Record{}}
	for i, name := range pollFields {
		if v, ok := reply[1+i].(string); ok {
			d.set(name, v)
		}
	}
	if rec, err = d.done(); err != nil {
		return nil, 0, false, err
	}
	if us < 0 {
		return rec, 0, false, nil
	}
	return rec, time.Duration(us) * time.Microsecond, true, nil
}
