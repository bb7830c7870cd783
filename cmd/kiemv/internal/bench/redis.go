package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// benchRedis is the Redis a bench runs on: the one --redis-url names; else a throwaway
// redis-server on a free loopback port (no persistence), when one is on PATH; else an
// embedded miniredis, whose figures say little about a real Redis.
type benchRedis struct {
	URL  string
	Kind string // "given", "redis-server" or "miniredis"
	Desc string // for the report
	rdb  *redis.Client
	stop func()
}

// startBenchRedis connects to given (when not ""), or starts a Redis of its own.
func startBenchRedis(ctx context.Context, given string) (*benchRedis, error) {
	b := &benchRedis{stop: func() {}}
	switch path := lookPath("redis-server"); {
	case given != "":
		b.URL, b.Kind = given, "given"
	case path != "":
		if err := b.startServer(path); err != nil {
			return nil, err
		}
	default:
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("embedded Redis: %w", err)
		}
		b.URL, b.Kind, b.stop = "redis://"+mr.Addr()+"/0", "miniredis", mr.Close
	}
	opt, err := redis.ParseURL(b.URL)
	if err != nil {
		b.stop()
		return nil, &app.ConfigError{Err: fmt.Errorf("--redis-url %q: %v (bench needs a plain redis:// URL)", app.RedactURL(b.URL), err)}
	}
	b.rdb = redis.NewClient(opt)
	if err := b.wait(ctx); err != nil {
		b.Close()
		return nil, err
	}
	version := b.info(ctx, "server", "redis_version")
	switch b.Kind {
	case "given":
		b.Desc = fmt.Sprintf("Redis %s at %s (given; shared figures such as memory and CPU include other users)", version, app.RedactURL(b.URL))
	case "redis-server":
		b.Desc = fmt.Sprintf("redis-server %s, throwaway on %s (--save '' --appendonly no)", version, opt.Addr)
	default:
		b.Desc = "embedded miniredis (no redis-server on PATH): single-threaded Go in this process; capacity and memory figures do not describe a real Redis"
	}
	return b, nil
}

// startServer runs redis-server on a free loopback port in a temporary directory.
func (b *benchRedis) startServer(path string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("bench: find a free port for redis-server: %w", err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	dir, err := os.MkdirTemp("", "kiemv-bench-redis-")
	if err != nil {
		return err
	}
	cmd := exec.Command(path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", "")
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("bench: start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	b.URL, b.Kind = "redis://127.0.0.1:"+port+"/0", "redis-server"
	b.stop = func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		os.RemoveAll(dir)
	}
	return nil
}

// wait pings until Redis answers (a fresh redis-server needs a moment).
func (b *benchRedis) wait(ctx context.Context) error {
	var err error
	for range 50 {
		if err = b.rdb.Ping(ctx).Err(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("bench: Redis at %s does not answer: %w", app.RedactURL(b.URL), err)
}

// Close disconnects and stops a Redis the bench started.
func (b *benchRedis) Close() {
	if b.rdb != nil {
		b.rdb.Close()
	}
	b.stop()
}

// info returns one field of INFO section ("" when unknown, as on miniredis).
func (b *benchRedis) info(ctx context.Context, section, field string) string {
	s, err := b.rdb.Info(ctx, section).Result()
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), field+":"); ok {
			return v
		}
	}
	return ""
}

// usedMemory is INFO memory's used_memory in bytes, -1 when unknown.
func (b *benchRedis) usedMemory(ctx context.Context) int64 {
	n, err := strconv.ParseInt(b.info(ctx, "memory", "used_memory"), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// cpu is the CPU time the Redis server has used (INFO cpu), -1 when unknown.
func (b *benchRedis) cpu(ctx context.Context) time.Duration {
	s, err := b.rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return -1
	}
	var total float64
	found := false
	for _, l := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
			found = true
		}
	}
	if !found {
		return -1
	}
	return time.Duration(total * float64(time.Second))
}

// keysMemory sums MEMORY USAGE (exact: SAMPLES 0) over every key matching the patterns:
// what one namespace and its Asynq queues occupy, whoever else shares the server.
func (b *benchRedis) keysMemory(ctx context.Context, patterns ...string) (int64, error) {
	var total int64
	for _, pat := range patterns {
		iter := b.rdb.Scan(ctx, 0, pat, 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return -1, err
		}
		for len(keys) > 0 {
			batch := keys[:min(len(keys), 1000)]
			keys = keys[len(batch):]
			cmds := make([]*redis.IntCmd, len(batch))
			_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, k := range batch {
					cmds[i] = p.MemoryUsage(ctx, k, 0)
				}
				return nil
			})
			if err != nil && !errors.Is(err, redis.Nil) {
				return -1, err
			}
			for _, c := range cmds {
				total += c.Val()
			}
		}
	}
	return total, nil
}

// memoryUsage is MEMORY USAGE key SAMPLES 0 (exact), -1 when unknown.
func (b *benchRedis) memoryUsage(ctx context.Context, key string) int64 {
	n, err := b.rdb.MemoryUsage(ctx, key, 0).Result()
	if err != nil {
		return -1
	}
	return n
}

// nsPatterns are the key patterns of namespace ns: kiemv's own keys and its Asynq queues'.
func nsPatterns(ns string) []string { return []string{ns + ":*", "asynq:{" + ns + ":*"} }

// clean deletes every key of namespace ns and forgets its queues.
func (b *benchRedis) clean(ctx context.Context, ns string) {
	for _, pat := range nsPatterns(ns) {
		iter := b.rdb.Scan(ctx, 0, pat, 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			if keys = append(keys, iter.Val()); len(keys) == 500 {
				b.rdb.Unlink(ctx, keys...)
				keys = keys[:0]
			}
		}
		if len(keys) > 0 {
			b.rdb.Unlink(ctx, keys...)
		}
	}
	b.rdb.SRem(ctx, "asynq:queues", ns+":poll", ns+":download")
}

// benchNamespace returns a fresh namespace for one scenario, such as "c3fa9b" for capacity:
// as short as the default "kiemv", since the namespace is part of every key and Asynq
// message, and so of the memory per task.
func benchNamespace(scenario string) string {
	buf := make([]byte, 3)
	rand.Read(buf)
	return scenario[:1] + hex.EncodeToString(buf)[:5]
}
