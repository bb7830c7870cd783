// Package store keeps kiemv's state outside the process: Records (the followed MP4 tasks, in
// Redis hashes with one sorted set per state), Limiter (a GCRA rate limiter in Redis shared by
// every worker and CLI), ReplayGuard (the callbacks already acted on) and Dir (the download
// directory, with .part files and atomic renames). Its types implement the interfaces jobs
// declares: jobs.Store, jobs.Limiter, jobs.Reserver, jobs.ReplayGuard and jobs.Files. Every
// Redis key name is built in keys.go.
package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
)

// Records is the Redis-backed jobs.Store. Keys (see keys.go), under its namespace ns:
//
//	<ns>:rec:<id>      hash of the record's fields (snake_case names, times in Unix ms)
//	<ns>:state:<state> sorted set of ids by creation time (Unix ms)
//	<ns>:audio:<key>   a claim on, then the MP4 task id of, an audio key (see audio.go)
//
// Every write that touches a record and its state index is one Lua script, so readers never
// see the two disagree and racing writers never move a record backwards. A Records is safe for
// concurrent use.
type Records struct {
	rdb  redis.UniversalClient
	keys Keys
	now  func() time.Time
}

var _ jobs.Store = (*Records)(nil)

// NewRecords returns a store of records in rdb under namespace (DefaultNamespace if "").
func NewRecords(rdb redis.UniversalClient, namespace string) *Records {
	return &Records{rdb: rdb, keys: NewKeys(namespace), now: time.Now}
}

// createScript inserts a record and indexes it, unless the record exists.
// KEYS: record, state index. ARGV: id, score, field, value, ….
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
`)

// Create inserts rec unless a record with rec.TaskID exists, and reports whether it did. It
// fills in the zero fields it needs on rec itself: State (pending), CreatedAt and UpdatedAt
// (now), Generation (1).
func (s *Records) Create(ctx context.Context, rec *jobs.Record) (bool, error) {
	if err := jobs.ValidateID("task id", rec.TaskID); err != nil {
		return false, fmt.Errorf("create record: %w", err)
	}
	if rec.State == "" {
		rec.State = jobs.StatePending
	}
	if !rec.State.Valid() {
		return false, fmt.Errorf("create record %s: unknown state %q", rec.TaskID, rec.State)
	}
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = s.now()
	}
	if rec.UpdatedAt.IsZero() {
		rec.UpdatedAt = rec.CreatedAt
	}
	rec.Generation = max(rec.Generation, 1)
	args := append([]any{rec.TaskID, score(rec.CreatedAt)}, recordFields(rec)...)
	n, err := createScript.Run(ctx, s.rdb, []string{s.keys.Record(rec.TaskID), s.keys.State(rec.State)}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("create record %s: %w", rec.TaskID, err)
	}
	return n == 1, nil
}

// Get returns the record with that id, or an error wrapping jobs.ErrNoRecord.
func (s *Records) Get(ctx context.Context, id string) (*jobs.Record, error) {
	if err := jobs.ValidateID("task id", id); err != nil {
		return nil, fmt.Errorf("get record: %w", err)
	}
	h, err := s.rdb.HGetAll(ctx, s.keys.Record(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("get record %s: %w", id, err)
	}
	if len(h) == 0 {
		return nil, noRecord(id)
	}
	return decodeRecord(id, h)
}

func noRecord(id string) error { return fmt.Errorf("record %s: %w", id, jobs.ErrNoRecord) }

// List returns up to limit records (every one if limit <= 0), newest first. State "" means
// every state. It reads the index in one round trip and the records in a second.
func (s *Records) List(ctx context.Context, state jobs.State, limit int) ([]*jobs.Record, error) {
	if state != "" && !state.Valid() {
		_, err := jobs.ParseState(string(state))
		return nil, fmt.Errorf("list records: %w", err)
	}
	stop := int64(limit) - 1
	if limit <= 0 {
		stop = -1
	}
	var ids []string
	if state != "" {
		var err error
		if ids, err = s.rdb.ZRevRange(ctx, s.keys.State(state), 0, stop).Result(); err != nil {
			return nil, fmt.Errorf("list %s records: %w", state, err)
		}
	} else {
		var err error
		if ids, err = s.newestIDs(ctx, stop, limit); err != nil {
			return nil, fmt.Errorf("list records: %w", err)
		}
	}
	recs, err := s.getMany(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	out := recs[:0]
	for _, rec := range recs {
		if state != "" && rec.State != state {
			continue // moved on since the index was read
		}
		out = append(out, rec)
	}
	return out, nil
}

// getMany reads the records of ids in one round trip, skipping those that are gone.
func (s *Records) getMany(ctx context.Context, ids []string) ([]*jobs.Record, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.keys.Record(id))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*jobs.Record, 0, len(ids))
	for i, cmd := range cmds {
		if len(cmd.Val()) == 0 {
			continue // deleted since the index was read
		}
		rec, err := decodeRecord(ids[i], cmd.Val())
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// newestIDs merges the state indexes, newest first, keeping up to limit ids (all if <= 0).
func (s *Records) newestIDs(ctx context.Context, stop int64, limit int) ([]string, error) {
	cmds := make([]*redis.ZSliceCmd, len(jobs.States))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, st := range jobs.States {
			cmds[i] = p.ZRevRangeWithScores(ctx, s.keys.State(st), 0, stop)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var all []redis.Z
	for _, c := range cmds {
		all = append(all, c.Val()...)
	}
	slices.SortFunc(all, func(a, b redis.Z) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(b.Member.(string), a.Member.(string))
	})
	ids := make([]string, 0, len(all))
	seen := make(map[string]bool, len(all))
	for _, z := range all {
		id := z.Member.(string)
		if seen[id] {
			continue // in two indexes at once: never written so, but be robust
		}
		seen[id] = true
		if ids = append(ids, id); limit > 0 && len(ids) == limit {
			break
		}
	}
	return ids, nil
}
