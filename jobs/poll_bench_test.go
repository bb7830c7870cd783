package jobs_test

import (
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
)

// BenchmarkPollPending runs the poll handler of a task KIE says is pending: the steady state
// of a worker (two Redis round trips, one record-info call at the simulator over loopback
// HTTP). Its allocations are the handler's, go-redis's and net/http's (client and server);
// run it on a real Redis for times that mean something:
//
//	KIEMV_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test ./jobs -run '^$' -bench PollPending -benchtime 20000x
func BenchmarkPollPending(b *testing.B) {
	e := newEnv(b, kiesim.Config{})
	id := e.simTask("mp4_bench", kiesim.Fate{Outcome: kiesim.OutcomeNever})
	e.record(id, jobs.StatePending, time.Time{}, "")
	lim, err := store.NewLimiter(e.rdb, e.ns, store.Limits(18, 1_000_000))
	if err != nil {
		b.Fatal(err)
	}
	p := e.poller()
	p.Limiter = lim
	task := jobs.NewPollTask(id, 1, e.q, 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.ProcessTask(e.ctx, task); jobs.IsFailure(err) {
			b.Fatal(err)
		}
	}
}
