package store

import (
	"cmp"
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
)

// updateScript is the compare-and-set behind Update: check the generation and the move,
// write the fields, move the id between the state indexes and return the record, all in one
// round trip.
//
// KEYS: record, then the state index of every state in jobs.States order.
// ARGV: to ("" keeps the state), updated_at, now (unix ms, the score if no index has the id),
// polls increment, clear error (1/0), if-generation (0: any), if-state ("" any), bump the
// generation (1/0), requeued increment, n states, brief (1: reply without the record's other
// fields), the n state names (aligned with KEYS[2..]), m sources, the m states allowed to move
// to "to", then field, value, … to HSET.
//
// Reply: {"missing"}, {"stale", generation}, {"conflict", current state} or {"ok", field, value, …}
// (brief: only state and gen).
var updateScript = redis.NewScript(`
local rec = KEYS[1]
local cur = redis.call('HGET', rec, 'state')
if not cur then return {'missing'} end
local gen = tonumber(redis.call('HGET', rec, 'gen')) or 1
if ARGV[6] ~= '0' and tonumber(ARGV[6]) ~= gen then return {'stale', tostring(gen)} end
if ARGV[7] ~= '' and ARGV[7] ~= cur then return {'conflict', cur} end
local to = ARGV[1]
local nstates = tonumber(ARGV[10])
local i = 12 + nstates
local nsources = tonumber(ARGV[i])
if to ~= '' then
  local allowed = false
  for j = i + 1, i + nsources do
    if ARGV[j] == cur then allowed = true; break end
  end
  if not allowed then return {'conflict', cur} end
end
i = i + nsources + 1
if ARGV[5] == '1' then redis.call('HDEL', rec, 'error') end
if i <= #ARGV then redis.call('HSET', rec, unpack(ARGV, i)) end
if ARGV[4] ~= '0' then redis.call('HINCRBY', rec, 'polls', ARGV[4]) end
if ARGV[9] ~= '0' then redis.call('HINCRBY', rec, 'requeued', ARGV[9]) end
if ARGV[8] == '1' then redis.call('HSET', rec, 'gen', gen + 1) end
redis.call('HSET', rec, 'updated_at', ARGV[2])
if to ~= '' then
  local id = string.match(rec, ':rec:([^:]+)$') -- namespaces and ids hold no ':'
  local score = false
  for j = 1, nstates do
    if ARGV[11 + j] == cur then score = redis.call('ZSCORE', KEYS[1 + j], id) end
  end
  if not score then score = ARGV[3] end
  for j = 1, nstates do
    if ARGV[11 + j] == to then
      redis.call('ZADD', KEYS[1 + j], score, id)
    else
      redis.call('ZREM', KEYS[1 + j], id)
    end
  end
  redis.call('HSET', rec, 'state', to)
  cur = to
end
if ARGV[11] == '1' then
  if ARGV[8] == '1' then gen = gen + 1 end
  return {'ok', 'state', cur, 'gen', tostring(gen)}
end
return {'ok', unpack(redis.call('HGETALL', rec))}
`)

// Update applies ch atomically and returns the record as it is afterwards. When ch.To is set,
// the current state must be one of jobs.SourcesOf(ch.To), or the error wraps jobs.ErrConflict,
// names the current state, and nothing is written. A missing record gives an error wrapping
// jobs.ErrNoRecord. UpdatedAt is always set to now. With ch.Brief the record returned holds only
// TaskID, State and Generation (one reply of five short strings instead of the whole hash).
func (s *Records) Update(ctx context.Context, id string, ch jobs.Change) (*jobs.Record, error) {
	if err := jobs.ValidateID("task id", id); err != nil {
		return nil, fmt.Errorf("update record: %w", err)
	}
	if (ch.To != "" && !ch.To.Valid()) || (ch.IfState != "" && !ch.IfState.Valid()) {
		return nil, fmt.Errorf("update record %s: unknown state %q", id, cmp.Or(ch.To, ch.IfState))
	}
	now := s.now()
	clearErr := "0"
	if ch.ClearError && ch.Error == "" {
		clearErr = "1"
	}
	// A change that keeps the state (every poll that finds the video pending) touches only
	// the record: it sends no state index keys, names or sources.
	states := jobs.States
	var sources []jobs.State
	if ch.To != "" {
		sources = jobs.SourcesOf(ch.To)
	} else {
		states = nil
	}
	keys := make([]string, 0, 1+len(states))
	keys = append(keys, s.keys.Record(id))
	args := make([]any, 0, 32)
	args = append(args, string(ch.To), formatTime(now), now.UnixMilli(), ch.AddPolls, clearErr,
		max(ch.IfGen, 0), string(ch.IfState), flag(ch.BumpGen), ch.AddRequeued, len(states), flag(ch.Brief))
	for _, st := range states {
		keys = append(keys, s.keys.State(st))
		args = append(args, string(st))
	}
	args = append(args, len(sources))
	for _, st := range sources {
		args = append(args, string(st))
	}
	args = append(args, changeFields(ch)...)

	reply, err := updateScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("update record %s: %w", id, err)
	}
	if len(reply) == 0 {
		return nil, fmt.Errorf("update record %s: empty script reply", id)
	}
	switch status, _ := reply[0].(string); status {
	case "missing":
		return nil, noRecord(id)
	case "stale":
		gen, _ := reply[1].(string)
		return nil, fmt.Errorf("record %s is at generation %s, not %d: %w", id, gen, ch.IfGen, jobs.ErrStale)
	case "conflict":
		cur, _ := reply[1].(string)
		if ch.IfState != "" && cur != string(ch.IfState) {
			return nil, fmt.Errorf("record %s is %s, not %s: %w", id, cur, ch.IfState, jobs.ErrConflict)
		}
		return nil, fmt.Errorf("record %s: cannot move from %s to %s: %w", id, cur, ch.To, jobs.ErrConflict)
	case "ok":
		return decodeRecordPairs(id, reply[1:])
	default:
		return nil, fmt.Errorf("update record %s: unexpected script reply %q", id, status)
	}
}

// flag is a boolean script argument.
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
