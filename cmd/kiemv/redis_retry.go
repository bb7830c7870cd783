package main

import (
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// A Redis restart or failover must stall kiemv, not fail its tasks. go-redis retries a command
// that could not reach the server (a refused dial, a connection closed under it, LOADING while
// the AOF is read back), by default 3 times within about a second. kiemv's clients keep trying
// for about 10–15 s instead. That matters most for Asynq's own writes after a task ran: when
// one fails, Asynq v0.26 "retries syncing" with a context that is already canceled, so the task
// stays active until its lease is recovered, up to two minutes later.
const (
	redisMaxRetries      = 12
	redisMinRetryBackoff = 100 * time.Millisecond
	redisMaxRetryBackoff = 2 * time.Second
)

// patientRedis is an asynq.RedisConnOpt whose clients retry as described above.
type patientRedis struct{ asynq.RedisConnOpt }

// MakeRedisClient implements asynq.RedisConnOpt.
func (p patientRedis) MakeRedisClient() any {
	c := p.RedisConnOpt.MakeRedisClient()
	makePatient(c)
	return c
}

// makePatient sets the retry options on a go-redis client (plain or Sentinel failover; others
// are left alone). go-redis reads them at every command, so setting them on a client that no
// other goroutine uses yet is safe.
func makePatient(c any) {
	if rc, ok := c.(*redis.Client); ok {
		o := rc.Options()
		o.MaxRetries, o.MinRetryBackoff, o.MaxRetryBackoff = redisMaxRetries, redisMinRetryBackoff, redisMaxRetryBackoff
	}
}
