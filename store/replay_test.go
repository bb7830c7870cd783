package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

func TestReplayGuard(t *testing.T) {
	ctx := context.Background()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	g := store.NewReplayGuard(rdb, ns)

	first, err := g.FirstSeen(ctx, "mp4_a", "1740910449", time.Minute)
	if err != nil || !first {
		t.Fatalf("first delivery: %v, %v; want true", first, err)
	}
	if again, err := g.FirstSeen(ctx, "mp4_a", "1740910449", time.Minute); err != nil || again {
		t.Fatalf("replay: %v, %v; want false", again, err)
	}
	if other, _ := g.FirstSeen(ctx, "mp4_a", "1740910450", time.Minute); !other {
		t.Error("another timestamp of the same task counted as a replay")
	}
	if other, _ := g.FirstSeen(ctx, "mp4_b", "1740910449", time.Minute); !other {
		t.Error("the same timestamp of another task counted as a replay")
	}
	if ttl := rdb.TTL(ctx, ns+":cb:mp4_a:1740910449").Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("key %s:cb:mp4_a:1740910449 has TTL %v; want (0, 1m]", ns, ttl)
	}

	if err := g.Forget(ctx, "mp4_a", "1740910449"); err != nil {
		t.Fatal(err)
	}
	if again, _ := g.FirstSeen(ctx, "mp4_a", "1740910449", time.Minute); !again {
		t.Error("a forgotten callback is still taken for a replay")
	}
	if err := g.Forget(ctx, "mp4_never", "1"); err != nil {
		t.Errorf("forgetting an unmarked pair: %v", err)
	}

	storetest.Elapse(t, rdb, 2*time.Second)
	if first, _ := g.FirstSeen(ctx, "mp4_short", "1", time.Second); !first {
		t.Fatal("mp4_short should be new")
	}
	storetest.Elapse(t, rdb, 1500*time.Millisecond)
	if again, _ := g.FirstSeen(ctx, "mp4_short", "1", time.Second); !again {
		t.Error("the mark outlived its TTL")
	}
}

func TestReplayGuardRefusesBadParts(t *testing.T) {
	ctx := context.Background()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	g := store.NewReplayGuard(rdb, ns)
	for _, tc := range []struct{ task, stamp string }{{"", "1"}, {"a:b", "1"}, {"mp4_a", ""}, {"mp4_a", "1:2"}, {"mp4_a", "*"}} {
		if _, err := g.FirstSeen(ctx, tc.task, tc.stamp, time.Minute); err == nil {
			t.Errorf("FirstSeen(%q, %q) accepted", tc.task, tc.stamp)
		}
	}
	if _, err := g.FirstSeen(ctx, "mp4_a", "1", 0); err == nil {
		t.Error("a zero TTL was accepted")
	}
	if n := len(rdb.Keys(ctx, ns+":*").Val()); n != 0 {
		t.Errorf("refused calls wrote %d keys", n)
	}
}

func TestReplayGuardRace(t *testing.T) {
	ctx := context.Background()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	g := store.NewReplayGuard(rdb, ns)
	var firsts atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := g.FirstSeen(ctx, "mp4_race", "42", time.Minute); err != nil {
				t.Error(err)
			} else if ok {
				firsts.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := firsts.Load(); n != 1 {
		t.Errorf("%d of 20 racing deliveries were first; want exactly 1", n)
	}
}
