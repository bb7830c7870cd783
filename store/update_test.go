package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
)

// indexOf returns the states whose index holds id, with the scores found.
func indexOf(t testing.TB, rdb *redis.Client, ns, id string) (states []jobs.State, scores []float64) {
	t.Helper()
	for _, st := range jobs.States {
		sc, err := rdb.ZScore(context.Background(), ns+":state:"+string(st), id).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, st)
		scores = append(scores, sc)
	}
	return states, scores
}

// TestTransitions tries every move between two states and checks that exactly the allowed
// ones happen, and that a refused one writes nothing.
func TestTransitions(t *testing.T) {
	ctx := context.Background()
	s, rdb, ns := newRecords(t)
	created := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, from := range jobs.States {
		for _, to := range jobs.States {
			id := fmt.Sprintf("mp4_%s_%s", from, to)
			mustCreate(t, s, id, from, created)
			before, err := s.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Update(ctx, id, jobs.Change{To: to, KIEStatus: "SUCCESS", AddPolls: 1, Error: "e"})
			if slices.Contains(jobs.SourcesOf(to), from) {
				if err != nil {
					t.Errorf("%s → %s: %v", from, to, err)
					continue
				}
				if got.State != to || got.KIEStatus != "SUCCESS" || got.Polls != 1 || got.Error != "e" {
					t.Errorf("%s → %s: got %+v", from, to, got)
				}
				if !got.UpdatedAt.After(created) {
					t.Errorf("%s → %s: UpdatedAt %v not set", from, to, got.UpdatedAt)
				}
			} else {
				want := fmt.Sprintf("record %s: cannot move from %s to %s: state change not allowed", id, from, to)
				if !errors.Is(err, jobs.ErrConflict) || err.Error() != want {
					t.Errorf("%s → %s: err %v; want %q", from, to, err, want)
				}
				after, _ := s.Get(ctx, id)
				if fmt.Sprint(*after) != fmt.Sprint(*before) {
					t.Errorf("%s → %s refused but written: %+v", from, to, *after)
				}
				to = from // the index must not have moved
			}
			states, scores := indexOf(t, rdb, ns, id)
			if len(states) != 1 || states[0] != to || scores[0] != float64(created.UnixMilli()) {
				t.Errorf("%s → %s: index %v %v; want [%s] [%d]", from, to, states, scores, to, created.UnixMilli())
			}
		}
	}
}

func TestUpdateFields(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newRecords(t)
	mustCreate(t, s, "mp4_f", jobs.StatePending, time.Now())
	done := time.Date(2025, 5, 6, 7, 8, 9, 10_000_000, time.UTC) // stored to the millisecond
	got, err := s.Update(ctx, "mp4_f", jobs.Change{To: jobs.StateReady, KIEStatus: "SUCCESS",
		VideoURL: "https://cdn/v.mp4", AddPolls: 3, CompletedAt: done, Error: "flaky"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Polls != 3 || got.VideoURL != "https://cdn/v.mp4" || !got.CompletedAt.Equal(done) || got.Error != "flaky" {
		t.Errorf("after first update: %+v", got)
	}
	// A change with no state keeps the state and leaves zero fields alone.
	got, err = s.Update(ctx, "mp4_f", jobs.Change{AddPolls: 2, ClearError: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != jobs.StateReady || got.Polls != 5 || got.Error != "" || got.VideoURL == "" || got.MusicTaskID != "music1" {
		t.Errorf("after second update: %+v", got)
	}
	fetched, _ := s.Get(ctx, "mp4_f")
	if fmt.Sprint(*fetched) != fmt.Sprint(*got) {
		t.Errorf("Update returned %+v\nGet returns %+v", *got, *fetched)
	}
	got, err = s.Update(ctx, "mp4_f", jobs.Change{To: jobs.StateDownloaded, File: "/v/mp4_f.mp4", Bytes: 1 << 40,
		SHA256: strings.Repeat("ab", 32), DownloadedAt: done})
	if err != nil {
		t.Fatal(err)
	}
	if got.Bytes != 1<<40 || got.File != "/v/mp4_f.mp4" || !got.DownloadedAt.Equal(done) || len(got.SHA256) != 64 {
		t.Errorf("after download: %+v", got)
	}
	if _, err := s.Update(ctx, "mp4_nope", jobs.Change{AddPolls: 1}); !errors.Is(err, jobs.ErrNoRecord) || !strings.Contains(err.Error(), "mp4_nope") {
		t.Errorf("Update(missing) = %v; want ErrNoRecord naming the id", err)
	}
	if _, err := s.Update(ctx, "mp4_f", jobs.Change{To: "bogus"}); err == nil {
		t.Error("Update to an unknown state succeeded")
	}
}

// TestUpdateRace races goroutines moving one record along different paths. Whatever wins, the
// record ends in one state, every loser gets ErrConflict, and the index holds the id once.
func TestUpdateRace(t *testing.T) {
	ctx := context.Background()
	s, rdb, ns := newRecords(t)
	targets := []jobs.State{jobs.StateReady, jobs.StateFailed, jobs.StateDownloading,
		jobs.StateDownloaded, jobs.StateCanceled, jobs.StateExpired, jobs.StateTimedOut}
	for round := range 10 {
		id := fmt.Sprintf("mp4_race%d", round)
		created := time.Now().Add(time.Duration(round) * time.Millisecond)
		mustCreate(t, s, id, jobs.StatePending, created)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for g := range 20 {
			wg.Go(func() {
				_, err := s.Update(ctx, id, jobs.Change{To: targets[(g+round)%len(targets)], AddPolls: 1})
				if err != nil && !errors.Is(err, jobs.ErrConflict) {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		rec, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		states, scores := indexOf(t, rdb, ns, id)
		if len(states) != 1 || states[0] != rec.State || scores[0] != float64(created.UnixMilli()) {
			t.Errorf("round %d: record %s, index %v %v", round, rec.State, states, scores)
		}
		if rec.Polls < 1 || rec.Polls > 20 {
			t.Errorf("round %d: polls %d", round, rec.Polls)
		}
	}
}

func TestPollsAtomic(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newRecords(t)
	mustCreate(t, s, "mp4_p", jobs.StatePending, time.Now())
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 25 {
				if _, err := s.Update(ctx, "mp4_p", jobs.Change{AddPolls: 1, KIEStatus: "PENDING"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	rec, err := s.Get(ctx, "mp4_p")
	if err != nil || rec.Polls != 500 {
		t.Errorf("polls = %d, %v; want 500", rec.Polls, err)
	}
}

// BenchmarkUpdate measures one Update round trip (a poll being counted).
func BenchmarkUpdate(b *testing.B) {
	ctx := context.Background()
	s, _, _ := newRecords(b)
	mustCreate(b, s, "mp4_bench", jobs.StatePending, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Update(ctx, "mp4_bench", jobs.Change{To: jobs.StatePending, AddPolls: 1, KIEStatus: "PENDING"}); err != nil {
			b.Fatal(err)
		}
	}
}

var _ jobs.Store = (*store.Records)(nil)
