package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store/storetest"
)

// TestTaskStatesReadsAsynqsLayout pins the one place kiemv reads Asynq's keys: the states it
// reads in bulk must be those the Inspector reports, task by task.
func TestTaskStatesReadsAsynqsLayout(t *testing.T) {
	ctx := context.Background()
	rdb, _ := storetest.Redis(t)
	q := storetest.Namespace(t) + ":poll"
	insp := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() { _ = insp.DeleteQueue(q, true) })
	client := asynq.NewClientFromRedisClient(rdb)
	for _, c := range []struct {
		id  string
		opt asynq.Option
	}{{"t_pending", asynq.ProcessIn(0)}, {"t_sched", asynq.ProcessIn(time.Hour)}, {"t_arch", asynq.ProcessIn(time.Hour)}} {
		if _, err := client.Enqueue(asynq.NewTask("x", nil), asynq.Queue(q), asynq.TaskID(c.id), c.opt); err != nil {
			t.Fatal(err)
		}
	}
	if err := insp.ArchiveTask(q, "t_arch"); err != nil {
		t.Fatal(err)
	}
	ids := []string{"t_pending", "t_sched", "t_arch", "t_none"}
	got, err := NewTasks(rdb).TaskStates(ctx, q, ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		want := ""
		if info, err := insp.GetTaskInfo(q, id); err == nil {
			want = info.State.String()
		}
		if got[i] != want {
			t.Errorf("%s: TaskStates says %q, the Inspector %q", id, got[i], want)
		}
	}
	if fmt.Sprint(got) != "[pending scheduled archived ]" {
		t.Errorf("states %q", got)
	}
}

func TestLockOneHolder(t *testing.T) {
	ctx := context.Background()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	a, b := NewLock(rdb, ns, "reconcile"), NewLock(rdb, ns, "reconcile")
	if ok, err := a.Hold(ctx, "tok-a", time.Minute); err != nil || !ok {
		t.Fatalf("a: %v, %v", ok, err)
	}
	if ok, err := b.Hold(ctx, "tok-b", time.Minute); err != nil || ok {
		t.Errorf("b while a holds it: %v, %v; want false", ok, err)
	}
	if ok, err := a.Hold(ctx, "tok-a", time.Minute); err != nil || !ok {
		t.Errorf("a renews: %v, %v", ok, err)
	}
	if err := b.Release(ctx, "tok-b"); err != nil {
		t.Fatal(err)
	}
	if v := rdb.Get(ctx, NewKeys(ns).Lock("reconcile")).Val(); v != "tok-a" {
		t.Errorf("a release by another token dropped the lock: %q", v)
	}
	if err := a.Release(ctx, "tok-a"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Hold(ctx, "tok-b", 100*time.Millisecond); err != nil || !ok {
		t.Errorf("b after a released: %v, %v", ok, err)
	}
	storetest.Elapse(t, rdb, 200*time.Millisecond)
	if ok, err := a.Hold(ctx, "tok-a", time.Minute); err != nil || !ok {
		t.Errorf("a after b's lease lapsed: %v, %v", ok, err)
	}
}

func TestScanWalksAStateIndex(t *testing.T) {
	ctx := context.Background()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	recs := NewRecords(rdb, ns)
	var want []string
	for i := range 300 {
		id := fmt.Sprintf("mp4_%03d", i)
		st := jobs.StatePending
		if i%3 == 0 {
			st = jobs.StateReady
		} else {
			want = append(want, id)
		}
		if _, err := recs.Create(ctx, &jobs.Record{TaskID: id, State: st}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	cursor, calls := uint64(0), 0
	for {
		page, next, err := recs.Scan(ctx, jobs.StatePending, cursor, 50)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		for _, r := range page {
			if r.State != jobs.StatePending {
				t.Errorf("%s is %s in the pending index", r.TaskID, r.State)
			}
			seen[r.TaskID] = true
		}
		if cursor = next; cursor == 0 {
			break
		}
		if calls > 100 {
			t.Fatal("the walk does not end")
		}
	}
	got := make([]string, 0, len(seen))
	for id := range seen {
		got = append(got, id)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) || calls < 3 {
		t.Errorf("walked %d of %d pending records in %d calls; want all, in bounded calls", len(got), len(want), calls)
	}
	if _, _, err := recs.Scan(ctx, "bogus", 0, 10); err == nil {
		t.Error("an unknown state was scanned")
	}
}
