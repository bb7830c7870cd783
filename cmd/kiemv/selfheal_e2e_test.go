package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/redis/go-redis/v9"
)

// TestLostQueuesAreRebuilt is issue 10's check: every Asynq key of the namespace is deleted
// while 20 records are pending (a restore of an older snapshot, an operator's "delete all");
// with --reconcile-interval 5s all 20 must be downloaded within a minute, nothing created twice.
func TestLostQueuesAreRebuilt(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~20s")
	}
	const n = 20
	e := newEnv(t, kiesim.Config{ReadyAfter: 6 * time.Second, FileSize: 50_000})
	opt, _ := redis.ParseURL(e.url)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	forgetQueues(t, rdb, e.ns)
	e.globals = append(e.globals, "--create-limit", "1000", "--record-info-limit", "1000")
	e.worker("--poll-interval", "1s", "--reconcile-interval", "5s")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ids := make([]string, n)
	for i := range ids {
		out, stderr, code := e.kiemv(ctx, "submit", "--task-id", "music-heal", "--audio-id", fmt.Sprintf("heal-%d", i), "--first-poll", "0s")
		if code != 0 {
			t.Fatalf("submit: exit %d: %s", code, stderr)
		}
		ids[i] = strings.TrimSpace(out)
	}
	time.Sleep(1500 * time.Millisecond) // every record polled once, none ready yet

	q := jobs.QueuesFor(e.ns)
	var deleted int
	for _, pattern := range []string{"asynq:{" + q.Poll + "}*", "asynq:{" + q.Download + "}*"} {
		keys, err := rdb.Keys(ctx, pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			deleted += int(rdb.Del(ctx, keys...).Val())
		}
	}
	if deleted < n {
		all, _ := rdb.Keys(ctx, "asynq*").Result()
		t.Fatalf("deleted %d Asynq keys; want at least one per task (%d); keys: %v", deleted, n, all)
	}
	lost := time.Now()
	recs := map[string]*jobs.Record{}
	for time.Since(lost) < time.Minute {
		recs = listRecords(t, e, ctx)
		done := 0
		for _, id := range ids {
			if r := recs[id]; r != nil && r.State == jobs.StateDownloaded {
				done++
			}
		}
		if done == n {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	took := time.Since(lost)
	for _, id := range ids {
		r := recs[id]
		if r == nil || r.State != jobs.StateDownloaded {
			t.Errorf("%s: %+v; want downloaded within a minute of losing the queues", id, r)
			continue
		}
		want, _ := e.sim.FileSHA256(id)
		if got := fileSHA256(t, r.File); got != want || r.SHA256 != want || r.Generation < 2 || r.Requeued < 1 {
			t.Errorf("%s: file sha256 %s, record %s, simulator %s, generation %d, requeued %d (want re-adopted by the reconciler)", id, got, r.SHA256, want, r.Generation, r.Requeued)
		}
	}
	st := e.sim.Stats()
	for i := range n {
		if c := st.Creates[fmt.Sprintf("heal-%d", i)]; c != 1 {
			t.Errorf("audio heal-%d created %d times at KIE", i, c)
		}
	}
	if st.CreateCalls != n {
		t.Errorf("%d create calls; want %d", st.CreateCalls, n)
	}
	if !t.Failed() {
		t.Logf("all %d downloaded %v after their queues were lost", n, took.Round(100*time.Millisecond))
	}
}
