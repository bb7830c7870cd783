package storetest

import (
	"errors"
	"sync"

	"github.com/kiemv/kiemv/jobs"
)

// fenceTests check the compare-and-set a job's change is: on the state the job read (IfState)
// and on the generation its task was queued for (IfGen); and that BumpGen starts a new one.
var fenceTests = []subtest{
	{"StartsAtOne", func(e *env) {
		e.create(&jobs.Record{TaskID: "mp4_g1", State: jobs.StatePending, CreatedAt: t0, UpdatedAt: t0})
		if g := e.get("mp4_g1").Generation; g != 1 {
			e.t.Errorf("a new record's generation is %d; want 1", g)
		}
	}},
	{"BumpGen", func(e *env) {
		e.create(&jobs.Record{TaskID: "mp4_b", State: jobs.StatePending, CreatedAt: t0, UpdatedAt: t0})
		for want := int64(2); want <= 4; want++ {
			got, err := e.s.Update(e.ctx, "mp4_b", jobs.Change{BumpGen: true})
			if err != nil || got.Generation != want {
				e.t.Fatalf("bump: generation %v, %v; want %d", got, err, want)
			}
		}
		if g := e.get("mp4_b").Generation; g != 4 {
			e.t.Errorf("generation read back %d; want 4", g)
		}
	}},
	{"StaleGenerationWritesNothing", func(e *env) {
		want := e.create(record("mp4_s", jobs.StatePending, t0)) // generation 3
		for _, ch := range []jobs.Change{
			{IfGen: 2, To: jobs.StateFailed, Error: "stale"},
			{IfGen: 4, AddPolls: 1},
			{IfGen: 2, BumpGen: true},
		} {
			_, err := e.s.Update(e.ctx, "mp4_s", ch)
			if !errors.Is(err, jobs.ErrStale) || errors.Is(err, jobs.ErrConflict) {
				e.t.Errorf("Update(%+v) = %v; want only ErrStale", ch, err)
			}
		}
		if d := diff(e.get("mp4_s"), want); d != "" {
			e.t.Errorf("a stale change wrote:%s", d)
		}
		e.checkListed("mp4_s", jobs.StatePending)
		got, err := e.s.Update(e.ctx, "mp4_s", jobs.Change{IfGen: 3, To: jobs.StateReady})
		if err != nil || got.State != jobs.StateReady || got.Generation != 3 {
			e.t.Errorf("the current generation's change: %+v, %v; want ready at generation 3", got, err)
		}
	}},
	{"IfStateWritesNothingElsewhere", func(e *env) {
		want := e.create(record("mp4_i", jobs.StateDownloading, t0))
		for _, ch := range []jobs.Change{
			{IfState: jobs.StateReady, To: jobs.StateDownloading},
			{IfState: jobs.StatePending, AddPolls: 1, Bytes: 7},
		} {
			if _, err := e.s.Update(e.ctx, "mp4_i", ch); !errors.Is(err, jobs.ErrConflict) {
				e.t.Errorf("Update(%+v) = %v; want ErrConflict", ch, err)
			}
		}
		if d := diff(e.get("mp4_i"), want); d != "" {
			e.t.Errorf("a change on another state wrote:%s", d)
		}
		if got, err := e.s.Update(e.ctx, "mp4_i", jobs.Change{IfState: jobs.StateDownloading, IfGen: 3, To: jobs.StateDownloaded}); err != nil || got.State != jobs.StateDownloaded {
			e.t.Errorf("the matching change: %+v, %v; want downloaded", got, err)
		}
	}},
	{"AddRequeued", func(e *env) {
		e.create(record("mp4_r", jobs.StateReady, t0)) // requeued 2
		got, err := e.s.Update(e.ctx, "mp4_r", jobs.Change{AddRequeued: 1, BumpGen: true})
		if err != nil || got.Requeued != 3 || got.Generation != 4 {
			e.t.Errorf("requeue: %+v, %v; want requeued 3 at generation 4", got, err)
		}
	}},
	{"RacingRetryAndStaleJob", func(e *env) {
		// A retry (bump) racing a stale job's move: whatever the order, the job's change is
		// made only if it came first, and the bump always lands.
		for i := range 20 {
			id := "mp4_race" + string(rune('a'+i))
			e.create(&jobs.Record{TaskID: id, State: jobs.StatePending, CreatedAt: t0, UpdatedAt: t0})
			var wg sync.WaitGroup
			var jobErr error
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, jobErr = e.s.Update(e.ctx, id, jobs.Change{IfGen: 1, IfState: jobs.StatePending, To: jobs.StateReady})
			}()
			go func() { defer wg.Done(); e.s.Update(e.ctx, id, jobs.Change{BumpGen: true}) }()
			wg.Wait()
			got := e.get(id)
			switch {
			case got.Generation != 2:
				e.t.Errorf("%s: generation %d; want 2", id, got.Generation)
			case jobErr == nil && got.State != jobs.StateReady, jobErr != nil && (got.State != jobs.StatePending || !errors.Is(jobErr, jobs.ErrStale)):
				e.t.Errorf("%s: job error %v, state %s", id, jobErr, got.State)
			}
		}
	}},
}
