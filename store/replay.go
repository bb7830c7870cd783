package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
)

// ReplayGuard is the Redis-backed jobs.ReplayGuard of the callback endpoint. Each callback
// acted on leaves one short-lived key, shared by every `kiemv callbacks` process:
//
//	<ns>:cb:<mp4 task id>:<stamp>   "1", set with SET NX and a TTL
//
// where stamp is the callback's X-Webhook-Timestamp (or a hash of its body when it has none).
type ReplayGuard struct {
	rdb  redis.UniversalClient
	keys Keys
}

var _ jobs.ReplayGuard = (*ReplayGuard)(nil)

// NewReplayGuard returns a guard keeping its keys in rdb under namespace (DefaultNamespace
// if "").
func NewReplayGuard(rdb redis.UniversalClient, namespace string) *ReplayGuard {
	return &ReplayGuard{rdb: rdb, keys: NewKeys(namespace)}
}

// key returns the key of (taskID, stamp), refusing parts that could collide with other keys.
func (g *ReplayGuard) key(taskID, stamp string) (string, error) {
	if err := jobs.ValidateID("callback task id", taskID); err != nil {
		return "", err
	}
	if err := jobs.ValidateID("callback stamp", stamp); err != nil {
		return "", err
	}
	return g.keys.Callback(taskID, stamp), nil
}

// FirstSeen marks (taskID, stamp) as seen for ttl and reports whether it was new, in one
// atomic SET NX: of two racing deliveries, exactly one is first.
func (g *ReplayGuard) FirstSeen(ctx context.Context, taskID, stamp string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errors.New("replay guard: the ttl must be positive")
	}
	key, err := g.key(taskID, stamp)
	if err != nil {
		return false, err
	}
	first, err := g.rdb.SetNX(ctx, key, "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("replay guard for callback of %s: %w", taskID, err)
	}
	return first, nil
}

// Forget removes the mark of (taskID, stamp); forgetting an unmarked pair is not an error.
func (g *ReplayGuard) Forget(ctx context.Context, taskID, stamp string) error {
	key, err := g.key(taskID, stamp)
	if err != nil {
		return err
	}
	if err := g.rdb.Del(ctx, key).Err(); err != nil {
		return fmt.Errorf("replay guard: forget callback of %s: %w", taskID, err)
	}
	return nil
}
