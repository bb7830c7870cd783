package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
)

func TestCounts(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newRecords(t)
	got, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range jobs.States {
		if n, ok := got[st]; !ok || n != 0 {
			t.Errorf("empty store: Counts[%s] = %d, %v; want 0, true", st, n, ok)
		}
	}
	at := time.Now()
	mustCreate(t, s, "mp4_a", jobs.StatePending, at)
	mustCreate(t, s, "mp4_b", jobs.StatePending, at.Add(time.Second))
	mustCreate(t, s, "mp4_c", jobs.StateReady, at)
	if _, err := s.Update(ctx, "mp4_c", jobs.Change{To: jobs.StateDownloading}); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Counts(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[jobs.State]int64{jobs.StatePending: 2, jobs.StateDownloading: 1}
	for _, st := range jobs.States {
		if got[st] != want[st] {
			t.Errorf("Counts[%s] = %d, want %d", st, got[st], want[st])
		}
	}
}
