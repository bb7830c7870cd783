package storetest

import (
	"fmt"
	"time"

	"github.com/kiemv/kiemv/jobs"
)

// createMixed creates mp4_0 … mp4_5, mp4_i created i seconds after t0 in the state listed,
// in an order other than their creation, so that List must order by creation time.
func (e *env) createMixed() {
	e.t.Helper()
	states := []jobs.State{jobs.StatePending, jobs.StateReady, jobs.StatePending,
		jobs.StateFailed, jobs.StateReady, jobs.StateDownloaded}
	for _, i := range []int{3, 0, 5, 1, 4, 2} {
		e.create(record(fmt.Sprintf("mp4_%d", i), states[i], t0.Add(time.Duration(i)*time.Second)))
	}
}

var listTests = []subtest{
	{"Empty", func(e *env) {
		for _, st := range []jobs.State{"", jobs.StatePending} {
			if got := e.list(st, 10); got != "" {
				e.t.Errorf("List(%q) of an empty store = %s", st, got)
			}
		}
	}},
	{"NewestFirst", func(e *env) {
		e.createMixed()
		if got, want := e.list("", all), "mp4_5,mp4_4,mp4_3,mp4_2,mp4_1,mp4_0"; got != want {
			e.t.Errorf("List = %s; want %s", got, want)
		}
	}},
	{"Limit", func(e *env) {
		e.createMixed()
		for _, c := range []struct {
			state jobs.State
			limit int
			want  string
		}{
			{"", 1, "mp4_5"},
			{"", 3, "mp4_5,mp4_4,mp4_3"},
			{"", 6, "mp4_5,mp4_4,mp4_3,mp4_2,mp4_1,mp4_0"},
			{jobs.StateReady, 1, "mp4_4"},
			{jobs.StatePending, 5, "mp4_2,mp4_0"},
		} {
			if got := e.list(c.state, c.limit); got != c.want {
				e.t.Errorf("List(%q, %d) = %s; want %s", c.state, c.limit, got, c.want)
			}
		}
	}},
	{"StateFilter", func(e *env) {
		e.createMixed()
		want := map[jobs.State]string{jobs.StatePending: "mp4_2,mp4_0", jobs.StateReady: "mp4_4,mp4_1",
			jobs.StateFailed: "mp4_3", jobs.StateDownloaded: "mp4_5"}
		for _, st := range jobs.States {
			if got := e.list(st, all); got != want[st] {
				e.t.Errorf("List(%s) = %s; want %q", st, got, want[st])
			}
		}
	}},
	{"RecordsComplete", func(e *env) {
		want := e.create(record("mp4_full", jobs.StateReady, t0))
		for _, st := range []jobs.State{"", jobs.StateReady} {
			recs, err := e.s.List(e.ctx, st, all)
			if err != nil || len(recs) != 1 {
				e.t.Fatalf("List(%q) = %d records, %v; want 1", st, len(recs), err)
			}
			if d := diff(recs[0], want); d != "" {
				e.t.Errorf("List(%q) gives another record than Get:%s", st, d)
			}
		}
	}},
	{"AfterMove", func(e *env) {
		e.createMixed()
		if _, err := e.s.Update(e.ctx, "mp4_0", jobs.Change{To: jobs.StateReady}); err != nil {
			e.t.Fatal(err)
		}
		if got, want := e.list(jobs.StateReady, all), "mp4_4,mp4_1,mp4_0"; got != want {
			e.t.Errorf("List(ready) after pending → ready = %s; want %s", got, want)
		}
		if got, want := e.list(jobs.StatePending, all), "mp4_2"; got != want {
			e.t.Errorf("List(pending) after pending → ready = %s; want %s", got, want)
		}
		if got, want := e.list("", all), "mp4_5,mp4_4,mp4_3,mp4_2,mp4_1,mp4_0"; got != want {
			e.t.Errorf("List after a move = %s; want %s (a move keeps the creation order)", got, want)
		}
	}},
}
