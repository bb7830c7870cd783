// Package storetest gives tests a Redis to talk to: an in-process miniredis by default, or the
// real server named by KIEMV_TEST_REDIS_URL (CI sets it). Tests on a shared real Redis keep
// apart by putting their keys under a Namespace of their own; nothing here ever runs FLUSHDB.
// StoreSuite is the conformance suite every jobs.Store implementation passes.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable that points the tests at a real Redis, e.g.
// redis://127.0.0.1:6379/0.
const EnvURL = "KIEMV_TEST_REDIS_URL"

// minis maps the address of every miniredis started by Redis to its server, for Elapse.
var minis sync.Map // string → *miniredis.Miniredis

// Redis returns a client and its URL. With KIEMV_TEST_REDIS_URL set it connects to that server
// and fails the test if it cannot be reached; otherwise it starts a fresh miniredis. Either way
// t.Cleanup closes what was opened. Put every key under a Namespace: a real Redis is shared.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	if url := os.Getenv(EnvURL); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			t.Fatalf("storetest: %s=%q is not a Redis URL: %v", EnvURL, url, err)
		}
		rdb := redis.NewClient(opt)
		t.Cleanup(func() { _ = rdb.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Fatalf("storetest: cannot reach the Redis at %s=%q: %v (start one, or unset %s to use miniredis)", EnvURL, url, err, EnvURL)
		}
		return rdb, url
	}
	mr, err := miniredis.Run()
	if err != nil {
		t.Fatalf("storetest: start miniredis: %v", err)
	}
	minis.Store(mr.Addr(), mr)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() {
		_ = rdb.Close()
		minis.Delete(mr.Addr())
		mr.Close()
	})
	return rdb, "redis://" + mr.Addr() + "/0"
}

// Namespace returns a key prefix no other test uses, such as "t3f9a0c21".
func Namespace(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("storetest: random namespace: %v", err)
	}
	return "t" + hex.EncodeToString(b)
}

// Clean registers a t.Cleanup that deletes every key under namespace ns (SCAN and DEL of
// "<ns>:*"), so that runs against a shared real Redis leave nothing behind.
func Clean(t testing.TB, rdb redis.UniversalClient, ns string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, ns+":*", 500).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Logf("storetest: scan %s:*: %v", ns, err)
			return
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			if err := rdb.Del(ctx, keys[:n]...).Err(); err != nil {
				t.Logf("storetest: delete %s:*: %v", ns, err)
				return
			}
			keys = keys[n:]
		}
	})
}

// Elapse lets d pass as far as key expiry is concerned: it fast-forwards the miniredis behind
// rdb, or sleeps when rdb talks to a real Redis. (Miniredis's TIME follows the wall clock, so
// code that reads TIME sees real time either way.)
func Elapse(t testing.TB, rdb *redis.Client, d time.Duration) {
	t.Helper()
	if v, ok := minis.Load(rdb.Options().Addr); ok {
		v.(*miniredis.Miniredis).FastForward(d)
		return
	}
	time.Sleep(d)
}
