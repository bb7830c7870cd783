package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Conn is an open connection to the shared Redis, checked with a PING.
type Conn struct {
	Redis  redis.UniversalClient // kiemv's own keys
	Opt    asynq.RedisConnOpt    // for Asynq servers and Asynqmon: their clients retry like Redis
	Client *asynq.Client         // enqueues tasks over Redis
}

// Connect opens and pings the Redis of c.RedisURL; while it does not answer it tries again for
// up to c.RedisWait (a Redis restarting), saying so once in the log, then fails with an error
// that says how to get one running.
func (c Config) Connect(ctx context.Context) (*Conn, error) {
	deadline := time.Now().Add(c.RedisWait)
	for said := false; ; said = true {
		conn, err := Connect(ctx, c.RedisURL)
		var ce *ConfigError
		if err == nil || errors.As(err, &ce) || time.Now().After(deadline) || ctx.Err() != nil {
			return conn, err
		}
		if !said && c.Log != nil {
			c.Log.Warn("Redis does not answer; waiting for it", "redis", RedactURL(c.RedisURL), "up_to", c.RedisWait)
		}
		t := time.NewTimer(min(500*time.Millisecond, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// Connect opens and pings Redis once, with an error that says how to get one running. The URL
// is parsed by Asynq, so redis://, rediss:// (TLS) and redis-sentinel:// (failover through
// Sentinel: redis-sentinel://[:password@]host:port[,host:port]/db?master=NAME) all work.
func Connect(ctx context.Context, redisURL string) (*Conn, error) {
	aopt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		return nil, configErrorf("--redis-url %q is not a Redis URL (redis://[user:pass@]host:port/db, rediss://…, redis-sentinel://…): %s", RedactURL(redisURL), RedactURL(err.Error()))
	}
	rdb, ok := aopt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, configErrorf("--redis-url %q: unsupported kind of Redis connection", RedactURL(redisURL))
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("cannot reach Redis at %s (%v): start one with `redis-server` (Debian: apt-get install redis-server), point REDIS_URL at yours, or try `kiemv dev` for an embedded one", RedactURL(redisURL), err)
	}
	makePatient(rdb) // after the PING: fail fast at start, ride out a restart later
	return &Conn{Redis: rdb, Opt: patientRedis{aopt}, Client: asynq.NewClientFromRedisClient(rdb)}, nil
}

// Close releases the connection.
func (c *Conn) Close() error { return c.Redis.Close() }

// RedactURL hides a password in a URL, or in any text holding one (a parser's error that
// quotes a malformed URL, for instance).
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && !strings.ContainsAny(raw, " \t\n\"") {
		if u.User == nil {
			return raw
		}
		return u.Redacted()
	}
	raw = userinfoPassword.ReplaceAllString(raw, "${1}xxxxx@")
	return barePassword.ReplaceAllString(raw, "${1}xxxxx@")
}

// userinfoPassword matches the password part of "scheme://user:password@"; barePassword that
// of "user:password@host" written without a scheme.
var (
	userinfoPassword = regexp.MustCompile(`(://[^/@:\s"]*:)[^\s"]*@`)
	barePassword     = regexp.MustCompile(`((?:^|[\s"'(])[\w.~-]+:)[^\s"'/@:]+@`)
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
