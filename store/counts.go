package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
)

// Counts returns how many records are in each state (every state present, zeros included),
// read from the state indexes with one pipelined round trip of ZCARDs.
func (s *Records) Counts(ctx context.Context) (map[jobs.State]int64, error) {
	cmds := make([]*redis.IntCmd, len(jobs.States))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, st := range jobs.States {
			cmds[i] = p.ZCard(ctx, s.keys.State(st))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count records by state: %w", err)
	}
	out := make(map[jobs.State]int64, len(jobs.States))
	for i, st := range jobs.States {
		out[st] = cmds[i].Val()
	}
	return out, nil
}
