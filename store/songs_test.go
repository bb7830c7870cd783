package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

func TestSongsLifecycle(t *testing.T) {
	ctx := context.Background()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	s := store.NewSongs(rdb, ns)
	at := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	sg := &jobs.Song{TaskID: "m1", State: jobs.SongPending, Author: "Nova", CallbackURL: "https://hooks.example.org/x?t=1", CreatedAt: at, UpdatedAt: at}
	if ok, err := s.CreateSong(ctx, sg); !ok || err != nil {
		t.Fatalf("CreateSong = %v, %v", ok, err)
	}
	if ok, err := s.CreateSong(ctx, &jobs.Song{TaskID: "m1", State: jobs.SongFailed}); ok || err != nil {
		t.Fatalf("second CreateSong = %v, %v; want false, nil", ok, err)
	}
	if _, err := s.GetSong(ctx, "m2"); !errors.Is(err, jobs.ErrNoSong) {
		t.Errorf("GetSong(unknown) = %v; want ErrNoSong", err)
	}
	if typ := rdb.Type(ctx, ns+":song:m1").Val(); typ != "string" {
		t.Errorf("song key is a %s; want string", typ)
	}
	open := func() []string { return rdb.ZRange(ctx, ns+":songs:open", 0, -1).Val() }
	if o := open(); len(o) != 1 || o[0] != "m1" {
		t.Errorf("open songs %v; want [m1]", o)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateSong(ctx, "m1", func(g *jobs.Song) error { g.Polls = 99; return boom }); !errors.Is(err, boom) {
		t.Errorf("UpdateSong whose fn fails = %v; want boom", err)
	}
	retried := at.Add(time.Hour)
	got, err := s.UpdateSong(ctx, "m1", func(g *jobs.Song) error {
		g.State, g.Polls, g.RetriedAt = jobs.SongSubmitting, g.Polls+1, retried
		g.Takes = []jobs.SongTake{{AudioID: "a1", Title: "Night Drive", MP4TaskID: "mp4_1", State: jobs.StateReady}, {AudioID: "a2"}}
		return nil
	})
	if err != nil || got.Polls != 1 {
		t.Fatalf("UpdateSong = %+v, %v", got, err)
	}
	back, err := s.GetSong(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if back.State != jobs.SongSubmitting || back.Polls != 1 || back.Author != "Nova" || back.CallbackURL != "https://hooks.example.org/x?t=1" ||
		!back.RetriedAt.Equal(retried) || !back.CreatedAt.Equal(at) || back.Generation != 1 || len(back.Takes) != 2 ||
		back.Takes[0].MP4TaskID != "mp4_1" || back.Takes[0].Title != "Night Drive" || back.Takes[0].State != "" {
		t.Errorf("read back %+v", back)
	}
	out, _ := json.Marshal(back)
	if !strings.Contains(string(out), `"kind":"song"`) || strings.Contains(string(out), "hooks.example.org") || strings.Contains(string(out), "retried") {
		t.Errorf("printed song %s: want kind song, no callback URL, no retried_at", out)
	}
	if _, err := s.UpdateSong(ctx, "m1", func(g *jobs.Song) error { g.State = jobs.SongSubmitted; return nil }); err != nil {
		t.Fatal(err)
	}
	if o := open(); len(o) != 0 {
		t.Errorf("open songs after submitted: %v; want none", o)
	}
}

func TestSongsConcurrentUpdatesAndScan(t *testing.T) {
	ctx := context.Background()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	s := store.NewSongs(rdb, ns)
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.CreateSong(ctx, &jobs.Song{TaskID: id, State: jobs.SongPending, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.UpdateSong(ctx, "a", func(g *jobs.Song) error { g.Polls++; return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if g, _ := s.GetSong(ctx, "a"); g.Polls != 20 {
		t.Errorf("polls after 20 racing increments: %d", g.Polls)
	}
	rdb.Del(ctx, ns+":song:c") // a document lost: the scan drops it from the index
	seen := map[string]bool{}
	var cursor uint64
	for {
		songs, next, err := s.ScanOpenSongs(ctx, cursor, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range songs {
			seen[g.TaskID] = true
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if len(seen) != 2 || !seen["a"] || !seen["b"] {
		t.Errorf("scan saw %v; want a and b", seen)
	}
	if n := rdb.ZCard(ctx, ns+":songs:open").Val(); n != 2 {
		t.Errorf("open index holds %d; want 2", n)
	}
}

func TestAudioTask(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newRecords(t)
	if id, err := s.AudioTask(ctx, "a1:00"); id != "" || err != nil {
		t.Errorf("no key: %q, %v", id, err)
	}
	if _, token, err := s.ReserveAudio(ctx, "a1:00", time.Minute); err != nil || token == "" {
		t.Fatal(err)
	}
	if id, err := s.AudioTask(ctx, "a1:00"); id != "" || err != nil {
		t.Errorf("a claim: %q, %v; want none", id, err)
	}
	if _, err := s.BindAudio(ctx, "a1:00", "mp4_1"); err != nil {
		t.Fatal(err)
	}
	if id, err := s.AudioTask(ctx, "a1:00"); id != "mp4_1" || err != nil {
		t.Errorf("bound: %q, %v; want mp4_1", id, err)
	}
}
