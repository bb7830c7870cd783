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
	existing, token, err := s.ReserveAudio(ctx, key, time.Minute)
	if err != nil || token == "" || existing != "" {
		t.Fatalf("first Reserve = %q, %q, %v; want \"\", a token", existing, token, err)
	}
	if existing, other, err := s.ReserveAudio(ctx, key, time.Minute); err != nil || other != "" || existing != "" {
		t.Fatalf("Reserve while claimed = %q, %q, %v; want \"\", no token", existing, other, err)
	}
	// A failed create releases the claim; the next caller gets it.
	if err := s.ReleaseAudio(ctx, key, token); err != nil {
		t.Fatal(err)
	}
	if _, token, err = s.ReserveAudio(ctx, key, time.Minute); err != nil || token == "" {
		t.Fatalf("Reserve after release = %q, %v; want a token", token, err)
	}
	if bound, err := s.BindAudio(ctx, key, "mp4_done"); err != nil || bound != "mp4_done" {
		t.Fatalf("BindAudio = %q, %v", bound, err)
	}
	if existing, other, err := s.ReserveAudio(ctx, key, time.Minute); err != nil || other != "" || existing != "mp4_done" {
		t.Fatalf("Reserve after bind = %q, %q, %v; want mp4_done, no token", existing, other, err)
	}
	// Release never drops a bound task.
	if err := s.ReleaseAudio(ctx, key, token); err != nil {
		t.Fatal(err)
	}
	if existing, _, _ = s.ReserveAudio(ctx, key, time.Minute); existing != "mp4_done" {
		t.Errorf("Release dropped the binding: %q", existing)
	}
	if _, err := s.BindAudio(ctx, key, "../x"); err == nil {
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
	if _, token, err := s.ReserveAudio(ctx, key, 50*time.Millisecond); err != nil || token == "" {
		t.Fatalf("Reserve = %q, %v", token, err)
	}
	storetest.Elapse(t, rdb, 100*time.Millisecond)
	if _, token, err := s.ReserveAudio(ctx, key, time.Minute); err != nil || token == "" {
		t.Fatalf("Reserve after the claim lapsed = %q, %v; want a token", token, err)
	}
	// A bound key never lapses.
	if _, err := s.BindAudio(ctx, key, "mp4_kept"); err != nil {
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
				existing, token, err := s.ReserveAudio(ctx, key, time.Minute)
				if err != nil || existing != "" {
					t.Errorf("Reserve = %q, %v", existing, err)
				}
				if token != "" {
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

// TestAudioClaimTokens covers what only Records can be asked: the owner token in Redis, bad
// tokens and ttls, and the tokenless claim marker older versions wrote.
func TestAudioClaimTokens(t *testing.T) {
	ctx := context.Background()
	s, rdb, ns := newRecords(t)
	key := jobs.AudioKey("au_tok", "", "")
	_, token, err := s.ReserveAudio(ctx, key, time.Minute)
	if err != nil || len(token) < 16 {
		t.Fatalf("Reserve = %q, %v; want a random token", token, err)
	}
	if v, err := rdb.Get(ctx, ns+":audio:"+key).Result(); err != nil || v != "(creating:"+token+")" {
		t.Errorf("claim value %q, %v", v, err)
	}
	for _, bad := range []string{"", "(creating)", "x)"} {
		if _, err := s.RenewAudio(ctx, key, bad, time.Minute); err == nil {
			t.Errorf("RenewAudio accepted token %q", bad)
		}
		if err := s.ReleaseAudio(ctx, key, bad); err == nil {
			t.Errorf("ReleaseAudio accepted token %q", bad)
		}
	}
	if _, err := s.RenewAudio(ctx, key, token, 0); err == nil {
		t.Error("RenewAudio accepted a zero ttl")
	}
	// A claim written by an older kiemv is someone else's: it blocks, cannot be renewed or
	// released with a token, lapses, and gives way to a task.
	old := jobs.AudioKey("au_old", "", "")
	if err := rdb.Set(ctx, ns+":audio:"+old, "(creating)", 100*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if existing, other, err := s.ReserveAudio(ctx, old, time.Minute); err != nil || existing != "" || other != "" {
		t.Errorf("Reserve of an old claim = %q, %q, %v; want blocked", existing, other, err)
	}
	if ok, err := s.RenewAudio(ctx, old, token, time.Minute); err != nil || ok {
		t.Errorf("RenewAudio of an old claim = %v, %v", ok, err)
	}
	if bound, err := s.BindAudio(ctx, old, "mp4_over_old"); err != nil || bound != "mp4_over_old" {
		t.Errorf("BindAudio over an old claim = %q, %v", bound, err)
	}
	if ttl, err := rdb.PTTL(ctx, ns+":audio:"+old).Result(); err != nil || ttl != -1 {
		t.Errorf("key bound over a claim has ttl %v, %v; want none (-1)", ttl, err)
	}
}
