package store_test

import (
	"context"
	"testing"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

// The store calls of one poll that finds the video pending: LoadReserve and a brief Update
// (the lean path), or Get, Reserve and Update (a limiter without LoadReserve). Run them on a
// real Redis (KIEMV_TEST_REDIS_URL) for figures that mean something.
func benchRecords(b *testing.B) (*store.Records, *store.Limiter, string) {
	rdb, _ := storetest.Redis(b)
	ns := storetest.Namespace(b)
	storetest.Clean(b, rdb, ns)
	recs := store.NewRecords(rdb, ns)
	lim, err := store.NewLimiter(rdb, ns, store.Limits(18, 1_000_000))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := recs.Create(context.Background(), &jobs.Record{TaskID: "mp4_bench"}); err != nil {
		b.Fatal(err)
	}
	return recs, lim, "mp4_bench"
}

func BenchmarkPollUpdatePending(b *testing.B) {
	recs, _, id := benchRecords(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := recs.Update(ctx, id, jobs.Change{AddPolls: 1, KIEStatus: "PENDING"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPollGet(b *testing.B) {
	recs, _, id := benchRecords(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := recs.Get(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPollReserve(b *testing.B) {
	_, lim, id := benchRecords(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lim.Reserve(ctx, jobs.LimitRecordInfo, id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPollUpdatePendingBrief(b *testing.B) {
	recs, _, id := benchRecords(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := recs.Update(ctx, id, jobs.Change{AddPolls: 1, KIEStatus: "PENDING", IfGen: 1, IfState: jobs.StatePending, Brief: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPollLoadReserve(b *testing.B) {
	_, lim, id := benchRecords(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := lim.LoadReserve(ctx, jobs.LimitRecordInfo, id, 1); err != nil {
			b.Fatal(err)
		}
	}
}
