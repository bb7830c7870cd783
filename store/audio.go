package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
)

// audioClaim is the value of an audio key while its MP4 task is being created. The brackets
// keep it apart from every task id, which jobs.ValidateID limits to [A-Za-z0-9_-].
const audioClaim = "(creating)"

func checkAudioKey(key string) error {
	if key == "" || len(key) > 256 {
		return fmt.Errorf("%w: audio key %.40q must be 1–256 characters long", jobs.ErrBadID, key)
	}
	return nil
}

// reserveScript returns the bound task id, or the claim marker if someone holds a claim, or ""
// after taking the claim itself. KEYS: audio key. ARGV: claim marker, ttl in ms.
var reserveScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ''
`)

// ReserveAudio claims the right to create the MP4 task for an audio key (see jobs.AudioKey). If a
// task was already created for it, it returns that task's id and ok false. If another caller
// holds a live claim, ok is false and existing is "". Otherwise ok is true: the caller creates
// the task, then calls BindAudio, or ReleaseAudio if the create failed. The claim lapses after
// ttl, so a crashed caller blocks the key for ttl at most.
func (s *Records) ReserveAudio(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	if err := checkAudioKey(key); err != nil {
		return "", false, fmt.Errorf("reserve audio: %w", err)
	}
	if ttl <= 0 {
		return "", false, fmt.Errorf("reserve audio %s: the claim needs a positive ttl, got %s", key, ttl)
	}
	ms := max(ttl.Milliseconds(), 1)
	v, err := reserveScript.Run(ctx, s.rdb, []string{s.keys.Audio(key)}, audioClaim, ms).Text()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", false, fmt.Errorf("reserve audio %s: %w", key, err)
	}
	switch v {
	case "":
		return "", true, nil
	case audioClaim:
		return "", false, nil
	default:
		return v, false, nil
	}
}

// BindAudio records, with no expiry, that MP4 task id was created for key.
func (s *Records) BindAudio(ctx context.Context, key, id string) error {
	if err := checkAudioKey(key); err != nil {
		return fmt.Errorf("bind audio: %w", err)
	}
	if err := jobs.ValidateID("task id", id); err != nil {
		return fmt.Errorf("bind audio %s: %w", key, err)
	}
	if err := s.rdb.Set(ctx, s.keys.Audio(key), id, 0).Err(); err != nil {
		return fmt.Errorf("bind audio %s to %s: %w", key, id, err)
	}
	return nil
}

// releaseScript deletes a claim, but never a bound task id. KEYS: audio key. ARGV: marker.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// ReleaseAudio drops the claim on key after a failed create, so that a later submit may try
// again. A key already bound to a task is left alone.
func (s *Records) ReleaseAudio(ctx context.Context, key string) error {
	if err := checkAudioKey(key); err != nil {
		return fmt.Errorf("release audio: %w", err)
	}
	if err := releaseScript.Run(ctx, s.rdb, []string{s.keys.Audio(key)}, audioClaim).Err(); err != nil {
		return fmt.Errorf("release audio %s: %w", key, err)
	}
	return nil
}
