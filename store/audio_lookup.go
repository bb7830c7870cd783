package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// AudioTask returns the MP4 task bound to an audio key (see jobs.AudioKey), or "" when there
// is none yet (no key, or a claim whose create is under way). It changes nothing: `submit
// --from FILE --dry-run` uses it to tell what a run would pay for.
func (s *Records) AudioTask(ctx context.Context, key string) (string, error) {
	if err := checkAudioKey(key); err != nil {
		return "", err
	}
	v, err := s.rdb.Get(ctx, s.keys.Audio(key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("read audio %s: %w", key, err)
	}
	if strings.HasPrefix(v, "(") {
		return "", nil
	}
	return v, nil
}
