package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

func TestLedgerCountsPerDayAndTotal(t *testing.T) {
	ctx := context.Background()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	l := store.NewLedger(rdb, ns)
	day1 := time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC)
	day2 := day1.Add(2 * time.Minute) // the next UTC day
	if d, tot, err := l.Creates(ctx, day1); err != nil || d != 0 || tot != 0 {
		t.Fatalf("empty ledger: %d %d %v", d, tot, err)
	}
	if err := l.CountCreate(ctx, day1); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.CountCreate(ctx, day2.In(time.FixedZone("UTC-5", -5*3600))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if d, tot, err := l.Creates(ctx, day1); err != nil || d != 1 || tot != 6 {
		t.Errorf("day 1: %d of %d, %v; want 1 of 6", d, tot, err)
	}
	if d, tot, err := l.Creates(ctx, day2); err != nil || d != 5 || tot != 6 {
		t.Errorf("day 2: %d of %d, %v; want 5 of 6", d, tot, err)
	}
	if got := rdb.HGetAll(ctx, ns+":credits").Val(); len(got) != 3 || got["2026-11-30"] != "1" || got["2026-12-01"] != "5" || got["total"] != "6" {
		t.Errorf("hash %v", got)
	}
	rdb.HSet(ctx, ns+":credits", "total", "x")
	if _, _, err := l.Creates(ctx, day1); err == nil {
		t.Error("a corrupt total read without an error")
	}
}

func TestRecordAPIRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, rdb, ns := newRecords(t)
	mustCreate(t, s, "mp4_old", jobs.StatePending, time.Now())
	if got, err := s.Get(ctx, "mp4_old"); err != nil || got.API != "" || rdb.HExists(ctx, ns+":rec:mp4_old", "api").Val() {
		t.Fatalf("a record without an API: %+v %v", got, err)
	}
	if _, err := s.Update(ctx, "mp4_old", jobsChangeAPI("jobs")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "mp4_old"); err != nil || got.API != "jobs" {
		t.Errorf("after the change: %+v %v", got, err)
	}
}

func jobsChangeAPI(api string) jobs.Change { return jobs.Change{API: api} }
