package jobs_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
)

// roundTrips counts the round trips a Redis client makes: one per command, one per pipeline.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// countingPoller is e's poller on a Redis client that counts its round trips; plain hides
// the limiter's LoadReserve (the path of a limiter without it).
func (e *env) countingPoller(plain bool) (*jobs.Poller, *roundTrips) {
	e.t.Helper()
	opt, err := redis.ParseURL(e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	e.t.Cleanup(func() { rdb.Close() })
	h := &roundTrips{}
	rdb.AddHook(h)
	// A record-info limit no poll here comes near: an unthrottled poll, the steady state.
	lim, err := store.NewLimiter(rdb, e.ns, store.Limits(1000, 1_000_000))
	if err != nil {
		e.t.Fatal(err)
	}
	p := e.poller()
	p.Store, p.Limiter = store.NewRecords(rdb, e.ns), lim
	if plain {
		p.Limiter = struct {
			jobs.Limiter
			jobs.Reserver
		}{lim, lim}
	}
	return p, h
}

// The lean poll path: a poll that finds the video pending makes two Redis round trips, one
// to read the record and take its record-info call, one to write the outcome (issue 11 §4);
// without a LoadReserver it takes three (read, reserve, write), and both count alike.
func TestPollSteadyStateRoundTrips(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		plain bool
		want  int64
	}{{"lean", false, 2}, {"without LoadReserve", true, 3}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, kiesim.Config{})
			id := e.simTask("mp4_steady", kiesim.Fate{Outcome: kiesim.OutcomeNever})
			e.record(id, jobs.StatePending, time.Time{}, "")
			p, h := e.countingPoller(c.plain)
			poll := func() {
				t.Helper()
				if err := p.ProcessTask(e.ctx, jobs.NewPollTask(id, 1, e.q, 0)); jobs.IsFailure(err) {
					t.Fatal(err)
				}
			}
			poll() // loads the scripts into Redis (EVALSHA, then EVAL once)
			const polls = 5
			before := h.n.Load()
			for range polls {
				poll()
			}
			if got := (h.n.Load() - before) / polls; got != c.want || (h.n.Load()-before)%polls != 0 {
				t.Errorf("%d round trips in %d polls; want %d per poll", h.n.Load()-before, polls, c.want)
			}
			if rec := e.get(id); rec.Polls != polls+1 || rec.State != jobs.StatePending || rec.KIEStatus != "PENDING" {
				t.Errorf("record after %d polls: %+v", polls+1, rec)
			}
			if n := e.pollCount(id); n != polls+1 {
				t.Errorf("KIE saw %d record-info calls; want %d", n, polls+1)
			}
		})
	}
}

// A poll that finds its record no longer pending, or of another generation, takes no call
// from the shared limit: the lean path books only for a poll that will call KIE.
func TestPollTakesNoCallForAnEndedRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{})
	lim, err := store.NewLimiter(e.rdb, e.ns, store.Limits(10, 1)) // one call every ~1s
	if err != nil {
		t.Fatal(err)
	}
	done := e.simTask("mp4_done", kiesim.Fate{})
	e.record(done, jobs.StateCanceled, time.Time{}, "")
	p := e.poller()
	p.Limiter = lim
	if err := p.ProcessTask(e.ctx, jobs.NewPollTask(done, 1, e.q, 0)); err != nil {
		t.Fatalf("poll of a canceled record: %v", err)
	}
	if err := p.ProcessTask(e.ctx, jobs.NewPollTask(done, 7, e.q, 0)); err != nil {
		t.Fatalf("stale poll: %v", err)
	}
	// The one call of this second is still free.
	if wait, err := lim.Allow(e.ctx, jobs.LimitRecordInfo); wait != 0 || err != nil {
		t.Errorf("the limit was used by polls that called nobody: wait %v, %v", wait, err)
	}
	if n := e.pollCount(done); n != 0 {
		t.Errorf("KIE saw %d calls for a canceled record", n)
	}
}
