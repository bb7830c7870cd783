package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

// LoadReserve reads the record and takes its call exactly as Reserve would, but only for a
// pending record of the asked generation: others take nothing from the limit.
func TestLoadReserve(t *testing.T) {
	ctx := context.Background()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	recs := store.NewRecords(rdb, ns)
	// 4 calls per second, no burst: one every 250ms.
	lim, err := store.NewLimiter(rdb, ns, map[string]store.Limit{"x": {Rate: 4, Period: time.Second, Burst: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*jobs.Record{
		{TaskID: "mp4_a", MusicTaskID: "m1", AudioID: "a1", API: jobs.APIJobs},
		{TaskID: "mp4_b"},
		{TaskID: "mp4_done", State: jobs.StateDownloaded, File: "/x/mp4_done.mp4"},
	} {
		if _, err := recs.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	if _, _, _, err := lim.LoadReserve(ctx, "x", "mp4_gone", 1); !errors.Is(err, jobs.ErrNoRecord) {
		t.Errorf("missing record: %v; want ErrNoRecord", err)
	}
	if _, _, _, err := lim.LoadReserve(ctx, "x", "../x", 1); !errors.Is(err, jobs.ErrBadID) {
		t.Errorf("bad id: %v; want ErrBadID", err)
	}
	if _, _, _, err := lim.LoadReserve(ctx, "nope", "mp4_a", 1); err == nil {
		t.Error("an unknown limit was accepted")
	}
	// Not pending, or another generation: the record, no call taken.
	for _, c := range []struct {
		id  string
		gen int64
	}{{"mp4_done", 1}, {"mp4_a", 2}} {
		rec, wait, booked, err := lim.LoadReserve(ctx, "x", c.id, c.gen)
		if err != nil || rec == nil || booked || wait != 0 || rec.TaskID != c.id {
			t.Errorf("%s gen %d: %+v, %v, %v, %v; want the record and no call", c.id, c.gen, rec, wait, booked, err)
		}
	}
	retried := time.UnixMilli(time.Now().UnixMilli()).UTC()
	if _, err := recs.Update(ctx, "mp4_a", jobs.Change{RetriedAt: retried}); err != nil {
		t.Fatal(err)
	}
	// The first pending record goes ahead: the limit was untouched by the calls above.
	rec, wait, booked, err := lim.LoadReserve(ctx, "x", "mp4_a", 1)
	if err != nil || !booked || wait != 0 {
		t.Fatalf("mp4_a: %v, %v, %v; want a call now", wait, booked, err)
	}
	// What a poll needs: state, generation, the times its budget counts from, the API to ask.
	if rec.TaskID != "mp4_a" || rec.State != jobs.StatePending || rec.Generation != 1 || rec.CreatedAt.IsZero() ||
		!rec.RetriedAt.Equal(retried) || rec.API != jobs.APIJobs {
		t.Errorf("mp4_a read back as %+v", rec)
	}
	// The next books its turn in line, ~250ms away, as Reserve would; mp4_b has none of the
	// optional fields (generation, retried_at, api): the reply holds them all the same.
	rec, wait, booked, err = lim.LoadReserve(ctx, "x", "mp4_b", 1)
	if err != nil || !booked || wait < 150*time.Millisecond || wait > 260*time.Millisecond {
		t.Fatalf("mp4_b: %v, %v, %v; want its turn, ~250ms away", wait, booked, err)
	}
	if rec.Generation != 1 || rec.API != "" || !rec.RetriedAt.IsZero() || rec.State != jobs.StatePending {
		t.Errorf("mp4_b read back as %+v", rec)
	}
	// … and its booking is Reserve's: asking again early keeps it, at its time it goes once.
	if d, err := lim.Reserve(ctx, "x", "mp4_b"); err != nil || d <= 0 || d > wait {
		t.Errorf("mp4_b asking again: %v, %v; want (0, %v]", d, err, wait)
	}
	time.Sleep(wait + 20*time.Millisecond)
	if d, err := lim.Reserve(ctx, "x", "mp4_b"); err != nil || d != 0 {
		t.Errorf("mp4_b at its time: %v, %v; want 0", d, err)
	}
}

// A brief update returns only the state and the generation (after a bump too), and writes
// the same as a full one.
func TestUpdateBrief(t *testing.T) {
	ctx := context.Background()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	recs := store.NewRecords(rdb, ns)
	if _, err := recs.Create(ctx, &jobs.Record{TaskID: "mp4_x", AudioID: "a1"}); err != nil {
		t.Fatal(err)
	}
	rec, err := recs.Update(ctx, "mp4_x", jobs.Change{AddPolls: 1, KIEStatus: "PENDING", Brief: true, IfGen: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rec.TaskID != "mp4_x" || rec.State != jobs.StatePending || rec.Generation != 1 || rec.AudioID != "" || rec.Polls != 0 {
		t.Errorf("brief reply %+v; want only id, state and generation", rec)
	}
	rec, err = recs.Update(ctx, "mp4_x", jobs.Change{To: jobs.StateCanceled, BumpGen: true, Brief: true})
	if err != nil || rec.State != jobs.StateCanceled || rec.Generation != 2 {
		t.Fatalf("brief cancel: %+v, %v; want canceled at generation 2", rec, err)
	}
	full, err := recs.Get(ctx, "mp4_x")
	if err != nil || full.Polls != 1 || full.KIEStatus != "PENDING" || full.AudioID != "a1" || full.State != jobs.StateCanceled || full.Generation != 2 {
		t.Errorf("stored %+v, %v", full, err)
	}
	if _, err := recs.Update(ctx, "mp4_x", jobs.Change{AddPolls: 1, Brief: true, IfGen: 1}); !errors.Is(err, jobs.ErrStale) {
		t.Errorf("brief stale update: %v; want ErrStale", err)
	}
}
