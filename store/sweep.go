package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
)

var (
	_ jobs.RecordScanner = (*Records)(nil)
	_ jobs.TaskStates    = (*Tasks)(nil)
	_ jobs.Lock          = (*Lock)(nil)
)

// Scan returns about count records of the state index st from cursor (0 to start), and the
// cursor to go on from (0 when the index was walked through). It is ZSCAN's contract: every
// id in the index for the whole walk is returned at least once, some may come twice, and a
// walk costs O(index size) in total, spread over bounded calls.
func (s *Records) Scan(ctx context.Context, st jobs.State, cursor uint64, count int) ([]*jobs.Record, uint64, error) {
	if !st.Valid() {
		return nil, 0, fmt.Errorf("scan records: unknown state %q", st)
	}
	pairs, next, err := s.rdb.ZScan(ctx, s.keys.State(st), cursor, "", int64(max(count, 1))).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("scan %s records: %w", st, err)
	}
	ids := make([]string, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 { // member, score, member, score…
		ids = append(ids, pairs[i])
	}
	recs, err := s.getMany(ctx, ids)
	if err != nil {
		return nil, 0, fmt.Errorf("scan %s records: %w", st, err)
	}
	return recs, next, nil
}

// Tasks reads the state of Asynq's tasks in bulk, for the reconciler: one pipelined round
// trip for any number of tasks, where the Inspector takes one per task. It reads the "state"
// field of Asynq's task hash, asynq:{<queue>}:t:<task id> (Asynq v0.26's layout, pinned by
// sweep_test.go against the real Asynq); it never writes Asynq's keys.
type Tasks struct{ rdb redis.UniversalClient }

// NewTasks returns the bulk reader of Asynq's task states on rdb.
func NewTasks(rdb redis.UniversalClient) *Tasks { return &Tasks{rdb: rdb} }

// TaskStates returns the state of each task of queue named in taskIDs ("pending",
// "scheduled", "retry", "active", "archived", "completed", "aggregating"), or "" for a task
// that does not exist.
func (t *Tasks) TaskStates(ctx context.Context, queue string, taskIDs []string) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(taskIDs))
	_, err := t.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range taskIDs {
			cmds[i] = p.HGet(ctx, "asynq:{"+queue+"}:t:"+id, "state")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read the state of %d tasks of queue %s: %w", len(taskIDs), queue, err)
	}
	out := make([]string, len(taskIDs))
	for i, cmd := range cmds {
		out[i] = cmd.Val() // "" for redis.Nil
	}
	return out, nil
}

// Lock is a lease in Redis that one process at a time holds, such as the reconciler's.
// Holders tell themselves apart by a token; a holder that dies loses it when the lease lapses.
type Lock struct {
	rdb redis.UniversalClient
	key string
}

// NewLock returns the lock of that name in namespace.
func NewLock(rdb redis.UniversalClient, namespace, name string) *Lock {
	return &Lock{rdb: rdb, key: NewKeys(namespace).Lock(name)}
}

// holdScript takes the lock for the token, or extends it if the token holds it already.
// KEYS: lock. ARGV: token, ttl in ms. Reply: 1 if the token holds the lock, else 0.
var holdScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// Hold takes the lock for token, or extends the lease of a token that holds it already, for
// ttl; it reports whether token holds the lock now.
func (l *Lock) Hold(ctx context.Context, token string, ttl time.Duration) (bool, error) {
	n, err := holdScript.Run(ctx, l.rdb, []string{l.key}, token, max(ttl.Milliseconds(), 1)).Int()
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", l.key, err)
	}
	return n == 1, nil
}

// unlockScript deletes the lock if the token holds it. KEYS: lock. ARGV: token.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Release gives the lock up if token holds it.
func (l *Lock) Release(ctx context.Context, token string) error {
	if err := unlockScript.Run(ctx, l.rdb, []string{l.key}, token).Err(); err != nil {
		return fmt.Errorf("unlock %s: %w", l.key, err)
	}
	return nil
}
