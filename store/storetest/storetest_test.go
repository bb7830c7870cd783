package storetest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/store/storetest"
)

func TestRedis(t *testing.T) {
	ctx := context.Background()
	rdb, url := storetest.Redis(t)
	if !strings.HasPrefix(url, "redis://") {
		t.Errorf("url %q", url)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	other := redis.NewClient(opt)
	defer other.Close()
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	if err := rdb.Set(ctx, ns+":k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := other.Get(ctx, ns+":k").Result(); err != nil || v != "v" {
		t.Errorf("a second client on the URL reads %q, %v", v, err)
	}
	if err := rdb.Set(ctx, ns+":ttl", "v", 50*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	storetest.Elapse(t, rdb, 100*time.Millisecond)
	if n, _ := rdb.Exists(ctx, ns+":ttl").Result(); n != 0 {
		t.Error("key did not expire after Elapse")
	}
}

func TestNamespace(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		ns := storetest.Namespace(t)
		if seen[ns] || !strings.HasPrefix(ns, "t") || len(ns) != 9 {
			t.Fatalf("Namespace = %q (seen %v)", ns, seen[ns])
		}
		seen[ns] = true
	}
}

func TestClean(t *testing.T) {
	ctx := context.Background()
	rdb, _ := storetest.Redis(t)
	ns, keep := storetest.Namespace(t), storetest.Namespace(t)
	t.Cleanup(func() { rdb.Del(ctx, keep+":k") })
	t.Run("inner", func(t *testing.T) {
		storetest.Clean(t, rdb, ns)
		for _, k := range []string{ns + ":a", ns + ":b:c", keep + ":k"} {
			rdb.Set(ctx, k, "1", 0)
		}
	})
	if n, _ := rdb.Exists(ctx, ns+":a", ns+":b:c").Result(); n != 0 {
		t.Errorf("%d keys left under %s", n, ns)
	}
	if n, _ := rdb.Exists(ctx, keep+":k").Result(); n != 1 {
		t.Error("Clean deleted a key of another namespace")
	}
}
