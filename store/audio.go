package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
)

// An audio key holds "(creating:<owner token>)" while its MP4 task is being created, then the
// task id for good. The brackets keep a claim apart from every task id, which jobs.ValidateID
// limits to [A-Za-z0-9_-]; the scripts take any value that starts with "(" for a claim (so the
// tokenless "(creating)" of older versions is someone else's claim, and lapses).
const claimPrefix = "(creating:"

// claimValue is the value of key while the caller holding token claims it.
func claimValue(token string) string { return claimPrefix + token + ")" }

func checkAudioKey(key string) error {
	if key == "" || len(key) > 256 {
		return fmt.Errorf("%w: audio key %.40q must be 1–256 characters long", jobs.ErrBadID, key)
	}
	return nil
}

// checkClaim checks the key and owner token of a claim.
func checkClaim(key, token string) error {
	if err := checkAudioKey(key); err != nil {
		return err
	}
	if token == "" || strings.ContainsAny(token, "()") {
		return fmt.Errorf("audio %s: %q is not an owner token from ReserveAudio", key, token)
	}
	return nil
}

// ttlMillis converts a claim ttl for PX and PEXPIRE, refusing one that is not positive.
func ttlMillis(key string, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("audio %s: the claim needs a positive ttl, got %s", key, ttl)
	}
	return max(ttl.Milliseconds(), 1), nil
}

// reserveScript returns what the key holds (a bound task id or someone's claim), or "" after
// claiming it. KEYS: audio key. ARGV: claim value, ttl in ms.
var reserveScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ''
`)

// ReserveAudio claims the right to create the MP4 task for an audio key (see jobs.AudioKey)
// for ttl, under a new random owner token, which it returns. If a task is bound to the key it
// returns that task's id instead; if another caller holds a live claim it returns "", "".
func (s *Records) ReserveAudio(ctx context.Context, key string, ttl time.Duration) (existing, token string, err error) {
	if err := checkAudioKey(key); err != nil {
		return "", "", fmt.Errorf("reserve audio: %w", err)
	}
	ms, err := ttlMillis(key, ttl)
	if err != nil {
		return "", "", fmt.Errorf("reserve %w", err)
	}
	token = rand.Text()
	v, err := reserveScript.Run(ctx, s.rdb, []string{s.keys.Audio(key)}, claimValue(token), ms).Text()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", "", fmt.Errorf("reserve audio %s: %w", key, err)
	}
	switch {
	case v == "":
		return "", token, nil
	case strings.HasPrefix(v, "("):
		return "", "", nil
	default:
		return v, "", nil
	}
}

// renewScript extends the key's expiry if it holds the claim. KEYS: audio key. ARGV: claim
// value, ttl in ms.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

// RenewAudio extends the claim token holds on key to ttl from now, and reports whether key
// still held that claim.
func (s *Records) RenewAudio(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if err := checkClaim(key, token); err != nil {
		return false, fmt.Errorf("renew audio claim: %w", err)
	}
	ms, err := ttlMillis(key, ttl)
	if err != nil {
		return false, fmt.Errorf("renew %w", err)
	}
	n, err := renewScript.Run(ctx, s.rdb, []string{s.keys.Audio(key)}, claimValue(token), ms).Int()
	if err != nil {
		return false, fmt.Errorf("renew audio claim %s: %w", key, err)
	}
	return n == 1, nil
}

// bindScript sets the task id unless a task id is bound already, and returns what the key
// holds afterwards. KEYS: audio key. ARGV: task id.
var bindScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) ~= '(' then return v end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)

// BindAudio records, with no expiry, that MP4 task id was created for key, replacing any claim;
// a task id already bound is kept and returned instead of id.
func (s *Records) BindAudio(ctx context.Context, key, id string) (string, error) {
	if err := checkAudioKey(key); err != nil {
		return "", fmt.Errorf("bind audio: %w", err)
	}
	if err := jobs.ValidateID("task id", id); err != nil {
		return "", fmt.Errorf("bind audio %s: %w", key, err)
	}
	bound, err := bindScript.Run(ctx, s.rdb, []string{s.keys.Audio(key)}, id).Text()
	if err != nil {
		return "", fmt.Errorf("bind audio %s to %s: %w", key, id, err)
	}
	return bound, nil
}

// releaseScript deletes the key if it holds the claim. KEYS: audio key. ARGV: claim value.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// ReleaseAudio drops the claim token holds on key after a failed create, so that a later
// submit may try again. Another caller's claim and a bound task are left alone.
func (s *Records) ReleaseAudio(ctx context.Context, key, token string) error {
	if err := checkClaim(key, token); err != nil {
		return fmt.Errorf("release audio claim: %w", err)
	}
	if err := releaseScript.Run(ctx, s.rdb, []string{s.keys.Audio(key)}, claimValue(token)).Err(); err != nil {
		return fmt.Errorf("release audio claim %s: %w", key, err)
	}
	return nil
}
