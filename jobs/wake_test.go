package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

type wakeEnv struct {
	svc  *jobs.Service
	recs *store.Records
	insp *asynq.Inspector
	q    jobs.Queues
}

func newWakeEnv(t *testing.T) *wakeEnv {
	t.Helper()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	q := jobs.QueuesFor(ns)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for _, name := range []string{q.Poll, q.Download} { // Asynq's keys live outside the namespace
		t.Cleanup(func() { _ = insp.DeleteQueue(name, true) })
	}
	recs := store.NewRecords(rdb, ns)
	svc := &jobs.Service{Store: recs, Enqueuer: asynq.NewClientFromRedisClient(rdb), Queues: q,
		Tasks: insp}
	return &wakeEnv{svc: svc, recs: recs, insp: insp, q: q}
}

// runTaskFunc is the Inspector with RunTask replaced.
type runTaskFunc struct {
	*asynq.Inspector
	run func(queue, taskID string) error
}

func (r runTaskFunc) RunTask(queue, taskID string) error { return r.run(queue, taskID) }

// state returns the Asynq state of a task, or 0 when there is none.
func (e *wakeEnv) state(t *testing.T, queue, taskID string) asynq.TaskState {
	t.Helper()
	info, err := e.insp.GetTaskInfo(queue, taskID)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

func TestWakeMovesAScheduledPollToNow(t *testing.T) {
	ctx := context.Background()
	e := newWakeEnv(t)
	if _, _, err := e.svc.Track(ctx, "mp4_sched", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if st := e.state(t, e.q.Poll, jobs.PollTaskID("mp4_sched", e.gen(t, "mp4_sched"))); st != asynq.TaskStateScheduled {
		t.Fatalf("poll is %v before the wake; want scheduled", st)
	}
	for range 2 { // a second wake finds it pending already: fine
		if err := e.svc.Wake(ctx, "mp4_sched"); err != nil {
			t.Fatal(err)
		}
		if st := e.state(t, e.q.Poll, jobs.PollTaskID("mp4_sched", e.gen(t, "mp4_sched"))); st != asynq.TaskStatePending {
			t.Fatalf("poll is %v after the wake; want pending", st)
		}
	}
}

func TestWakeFollowsAnUnknownTask(t *testing.T) {
	ctx := context.Background()
	e := newWakeEnv(t)
	if err := e.svc.Wake(ctx, "mp4_new"); err != nil {
		t.Fatal(err)
	}
	rec, err := e.recs.Get(ctx, "mp4_new")
	if err != nil || rec.State != jobs.StatePending {
		t.Fatalf("record after waking an unknown task: %+v, %v; want pending", rec, err)
	}
	if st := e.state(t, e.q.Poll, jobs.PollTaskID("mp4_new", e.gen(t, "mp4_new"))); st != asynq.TaskStatePending {
		t.Errorf("poll is %v; want pending", st)
	}
}

func TestWakeEnqueuesALostPoll(t *testing.T) {
	ctx := context.Background()
	e := newWakeEnv(t)
	if _, err := e.recs.Create(ctx, &jobs.Record{TaskID: "mp4_lost", State: jobs.StatePending, CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Wake(ctx, "mp4_lost"); err != nil {
		t.Fatal(err)
	}
	if st := e.state(t, e.q.Poll, jobs.PollTaskID("mp4_lost", e.gen(t, "mp4_lost"))); st != asynq.TaskStatePending {
		t.Errorf("poll is %v; want pending", st)
	}
}

func TestWakeReadyAndFinished(t *testing.T) {
	ctx := context.Background()
	e := newWakeEnv(t)
	for _, id := range []string{"mp4_ready", "mp4_done"} {
		if _, err := e.recs.Create(ctx, &jobs.Record{TaskID: id, State: jobs.StatePending, CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.recs.Update(ctx, id, jobs.Change{To: jobs.StateReady, VideoURL: "https://x.example/v.mp4"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.recs.Update(ctx, "mp4_done", jobs.Change{To: jobs.StateFailed, Error: "gave up"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"mp4_ready", "mp4_done"} {
		if err := e.svc.Wake(ctx, id); err != nil {
			t.Fatalf("wake %s: %v", id, err)
		}
	}
	if st := e.state(t, e.q.Download, jobs.DownloadTaskID("mp4_ready", e.gen(t, "mp4_ready"))); st != asynq.TaskStatePending {
		t.Errorf("download of a ready task is %v; want pending", st)
	}
	if st := e.state(t, e.q.Download, jobs.DownloadTaskID("mp4_done", e.gen(t, "mp4_done"))); st != 0 {
		t.Errorf("a finished task got a download task (%v)", st)
	}
	if st := e.state(t, e.q.Poll, jobs.PollTaskID("mp4_done", e.gen(t, "mp4_done"))); st != 0 {
		t.Errorf("a finished task got a poll task (%v)", st)
	}
}

func TestWakeWaitsForARunningPoll(t *testing.T) {
	ctx := context.Background()
	e := newWakeEnv(t)
	if _, _, err := e.svc.Track(ctx, "mp4_busy", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	busy := errors.New("asynq: rdb.RunTask: FAILED_PRECONDITION: task is already running")
	calls := 0
	e.svc.Tasks = runTaskFunc{e.insp, func(q, id string) error {
		calls++
		if calls < 3 {
			return busy
		}
		return nil
	}}
	if err := e.svc.Wake(ctx, "mp4_busy"); err != nil || calls != 3 {
		t.Errorf("wake: %v after %d RunTask calls; want nil after 3", err, calls)
	}
	e.svc.Tasks = runTaskFunc{e.insp, func(q, id string) error { return busy }}
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := e.svc.Wake(tctx, "mp4_busy"); !errors.Is(err, jobs.ErrPollBusy) {
		t.Errorf("wake of a poll running all along: %v; want ErrPollBusy", err)
	}
	if err := e.svc.Wake(ctx, "bad:id"); !errors.Is(err, jobs.ErrBadID) {
		t.Errorf("wake of a bad id: %v", err)
	}
}

// gen is the generation of id's record.
func (e *wakeEnv) gen(t *testing.T, id string) int64 {
	t.Helper()
	rec, err := e.recs.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Generation
}
