package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store/storetest"
)

func TestAudioKey(t *testing.T) {
	k := jobs.AudioKey("au_1", "me", "example.com")
	if len(k) != len("au_1:")+16 || k[:5] != "au_1:" {
		t.Errorf("AudioKey = %q", k)
	}
	if k != jobs.AudioKey("au_1", "me", "example.com") {
		t.Error("AudioKey is not deterministic")
	}
	for _, other := range []string{jobs.AudioKey("au_2", "me", "example.com"), jobs.AudioKey("au_1", "you", "example.com"),
		jobs.AudioKey("au_1", "me", "example.org"), jobs.AudioKey("au_1", "mee", "xample.com"), jobs.AudioKey("au_1", "", "")} {
		if other == k {
			t.Errorf("AudioKey collides: %q", other)
		}
	}
}

func TestAudioReserveBindRelease(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newRecords(t)
	key := jobs.AudioKey("au_1", "", "")
	existing, ok, err := s.ReserveAudio(ctx, key, time.Minute)
	if err != nil || !ok || existing != "" {
		t.Fatalf("first Reserve = %q, %v, %v; want \"\", true", existing, ok, err)
	}
	if existing, ok, err = s.ReserveAudio(ctx, key, time.Minute); err != nil || ok || existing != "" {
		t.Fatalf("Reserve while claimed = %q, %v, %v; want \"\", false", existing, ok, err)
	}
	// A failed create releases the claim; the next caller gets it.
	if err := s.ReleaseAudio(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, ok, err = s.ReserveAudio(ctx, key, time.Minute); err != nil || !ok {
		t.Fatalf("Reserve after release = %v, %v; want true", ok, err)
	}
	if err := s.BindAudio(ctx, key, "mp4_done"); err != nil {
		t.Fatal(err)
	}
	if existing, ok, err = s.ReserveAudio(ctx, key, time.Minute); err != nil || ok || existing != "mp4_done" {
		t.Fatalf("Reserve after bind = %q, %v, %v; want mp4_done, false", existing, ok, err)
	}
	// Release never drops a bound task.
	if err := s.ReleaseAudio(ctx, key); err != nil {
		t.Fatal(err)
	}
	if existing, _, _ = s.ReserveAudio(ctx, key, time.Minute); existing != "mp4_done" {
		t.Errorf("Release dropped the binding: %q", existing)
	}
	if err := s.BindAudio(ctx, key, "../x"); err == nil {
		t.Error("BindAudio accepted a bad task id")
	}
	if _, _, err := s.ReserveAudio(ctx, "", time.Minute); err == nil {
		t.Error("ReserveAudio accepted an empty key")
	}
	if _, _, err := s.ReserveAudio(ctx, key, 0); err == nil {
		t.Error("ReserveAudio accepted a zero ttl")
	}
}

func TestAudioClaimLapses(t *testing.T) {
	ctx := context.Background()
	s, rdb, ns := newRecords(t)
	key := jobs.AudioKey("au_lapse", "", "")
	if _, ok, err := s.ReserveAudio(ctx, key, 50*time.Millisecond); err != nil || !ok {
		t.Fatalf("Reserve = %v, %v", ok, err)
	}
	storetest.Elapse(t, rdb, 100*time.Millisecond)
	if _, ok, err := s.ReserveAudio(ctx, key, time.Minute); err != nil || !ok {
		t.Fatalf("Reserve after the claim lapsed = %v, %v; want true", ok, err)
	}
	// A bound key never lapses.
	if err := s.BindAudio(ctx, key, "mp4_kept"); err != nil {
		t.Fatal(err)
	}
	if ttl, err := rdb.PTTL(ctx, ns+":audio:"+key).Result(); err != nil || ttl != -1 {
		t.Errorf("bound key has ttl %v, %v; want none (-1)", ttl, err)
	}
}

func TestAudioConcurrentReserve(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newRecords(t)
	for round := range 5 {
		key := jobs.AudioKey("au_race", "", string(rune('a'+round)))
		var winners atomic.Int32
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				existing, ok, err := s.ReserveAudio(ctx, key, time.Minute)
				if err != nil || existing != "" {
					t.Errorf("Reserve = %q, %v", existing, err)
				}
				if ok {
					winners.Add(1)
				}
			})
		}
		wg.Wait()
		if n := winners.Load(); n != 1 {
			t.Errorf("round %d: %d reservers got the claim; want exactly 1", round, n)
		}
	}
}
