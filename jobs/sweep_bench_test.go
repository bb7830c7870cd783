package jobs_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

// BenchmarkReconcilerSweep measures what the reconciler costs: a full walk of N pending
// records whose polls are all live (the common case: nothing to do), in sweeps of the default
// 100,000 records. N is KIEMV_BENCH_RECORDS (default 20,000). For the README's figure:
//
//	KIEMV_TEST_REDIS_URL=redis://127.0.0.1:6379/0 KIEMV_BENCH_RECORDS=1000000 \
//	  go test -run '^$' -bench ReconcilerSweep -benchtime 1x ./jobs
//
// The records and the Asynq task hashes the sweep reads (state only) are written directly,
// in pipelines, so that setting up a million takes seconds, not an hour of enqueues.
func BenchmarkReconcilerSweep(b *testing.B) {
	n := 20_000
	if v, err := strconv.Atoi(os.Getenv("KIEMV_BENCH_RECORDS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	rdb, _ := storetest.Redis(b)
	ns := storetest.Namespace(b)
	q := jobs.QueuesFor(ns)
	keys := store.NewKeys(ns)
	b.Cleanup(func() {
		for _, p := range []string{ns + ":*", "asynq:{" + q.Poll + "}*"} {
			deleteKeys(ctx, rdb, p)
		}
	})
	now := time.Now().Add(-time.Hour)
	for i := 0; i < n; i += 10_000 {
		pipe := rdb.Pipeline()
		for j := i; j < min(i+10_000, n); j++ {
			id := fmt.Sprintf("mp4_%016x", j)
			pipe.HSet(ctx, keys.Record(id), "state", "pending", "created_at", now.UnixMilli(), "updated_at", now.UnixMilli(), "polls", 3)
			pipe.ZAdd(ctx, keys.State(jobs.StatePending), redis.Z{Score: float64(now.UnixMilli() + int64(j)), Member: id})
			pipe.HSet(ctx, "asynq:{"+q.Poll+"}:t:"+jobs.PollTaskID(id, 1), "state", "scheduled")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	recs := store.NewRecords(rdb, ns)
	r := &jobs.Reconciler{Service: &jobs.Service{Store: recs, Queues: q}, Scanner: recs, Tasks: store.NewTasks(rdb),
		Lock: store.NewLock(rdb, ns, "reconcile"), Log: quietLog()}
	cpu0 := redisCPU(ctx, rdb)
	b.ResetTimer()
	start, sweeps, examined := time.Now(), 0, 0
	for range b.N {
		for walked := 0; walked < n; sweeps++ {
			res, err := r.Sweep(ctx)
			if err != nil || res.Requeued+res.Ended != 0 {
				b.Fatalf("sweep %+v, %v", res, err)
			}
			walked += res.Examined
			examined += res.Examined
			if sweeps > 10*(n/100_000+1)*b.N {
				b.Fatalf("%d sweeps examined %d of %d", sweeps, walked, n)
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(sweeps)/float64(b.N), "sweeps/walk")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/walk")
	b.ReportMetric(float64(elapsed.Microseconds())/float64(examined), "µs/record")
	if cpu := redisCPU(ctx, rdb) - cpu0; cpu >= 0 {
		b.ReportMetric(cpu/float64(b.N), "redis-cpu-s/walk")
	}
}

// redisCPU is the Redis server's used CPU in seconds (user + system), -1 when unknown.
func redisCPU(ctx context.Context, rdb *redis.Client) float64 {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return -1
	}
	total, found := 0.0, false
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				total, found = total+f, true
			}
		}
	}
	if !found {
		return -1
	}
	return total
}

func deleteKeys(ctx context.Context, rdb *redis.Client, pattern string) {
	iter := rdb.Scan(ctx, 0, pattern, 10_000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 10_000 {
			rdb.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		rdb.Unlink(ctx, batch...)
	}
}
