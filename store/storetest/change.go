package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kiemv/kiemv/jobs"
)

// canMove reports whether the transition table lets a record in state from move to state to.
func canMove(from, to jobs.State) bool { return slices.Contains(jobs.SourcesOf(to), from) }

// sinceStart returns a check that t was taken between the call of sinceStart and the call of
// the check, to the millisecond.
func sinceStart() func(t time.Time) bool {
	before := time.Now().Truncate(time.Millisecond)
	return func(t time.Time) bool {
		return !t.Before(before) && !t.After(time.Now())
	}
}

var updateTests = []subtest{
	{"Fields", func(e *env) {
		e.create(&jobs.Record{TaskID: "mp4_f", MusicTaskID: "music_1", State: jobs.StatePending, CreatedAt: t0, UpdatedAt: t0})
		done := t0.Add(time.Minute)
		ch := jobs.Change{To: jobs.StateReady, KIEStatus: "SUCCESS", VideoURL: "https://cdn.example/v.mp4",
			File: "/videos/mp4_f.mp4", Bytes: 1 << 40, SHA256: "cd", Error: "flaky", AddPolls: 2,
			CompletedAt: done, DownloadedAt: done.Add(time.Second), PartETag: `W/"e"`, RetriedAt: done.Add(2 * time.Second),
			PartTotal: 5 << 30, API: jobs.APIJobs,
		}
		got, err := e.s.Update(e.ctx, "mp4_f", ch)
		if err != nil {
			e.t.Fatal(err)
		}
		want := &jobs.Record{TaskID: "mp4_f", MusicTaskID: "music_1", State: jobs.StateReady, Generation: 1, KIEStatus: "SUCCESS",
			Polls: 2, VideoURL: ch.VideoURL, File: ch.File, Bytes: ch.Bytes, SHA256: ch.SHA256, Error: ch.Error,
			CreatedAt: t0, UpdatedAt: got.UpdatedAt, CompletedAt: ch.CompletedAt, DownloadedAt: ch.DownloadedAt,
			PartETag: ch.PartETag, RetriedAt: ch.RetriedAt,
			PartTotal: ch.PartTotal, API: jobs.APIJobs,
		}
		if d := diff(got, want); d != "" {
			e.t.Errorf("Update returned:%s", d)
		}
		if d := diff(e.get("mp4_f"), got); d != "" {
			e.t.Errorf("Get after Update differs from what Update returned:%s", d)
		}
	}},
	{"ZeroFieldsKept", func(e *env) {
		want := e.create(record("mp4_z", jobs.StateReady, t0))
		got, err := e.s.Update(e.ctx, "mp4_z", jobs.Change{})
		if err != nil {
			e.t.Fatal(err)
		}
		want.UpdatedAt = got.UpdatedAt
		if d := diff(got, want); d != "" {
			e.t.Errorf("an empty Change changed more than UpdatedAt:%s", d)
		}
	}},
	{"AddPolls", func(e *env) {
		e.create(record("mp4_p", jobs.StatePending, t0)) // 3 polls
		for _, n := range []int{1, 1, 5} {
			if _, err := e.s.Update(e.ctx, "mp4_p", jobs.Change{AddPolls: n, KIEStatus: "GENERATING"}); err != nil {
				e.t.Fatal(err)
			}
		}
		if got := e.get("mp4_p").Polls; got != 10 {
			e.t.Errorf("polls = %d; want 3+1+1+5 = 10", got)
		}
	}},
	{"ClearError", func(e *env) {
		e.create(record("mp4_e", jobs.StateFailed, t0))
		got, err := e.s.Update(e.ctx, "mp4_e", jobs.Change{To: jobs.StatePending, ClearError: true})
		if err != nil {
			e.t.Fatal(err)
		}
		if got.Error != "" || e.get("mp4_e").Error != "" {
			e.t.Errorf("error after ClearError: %q", got.Error)
		}
	}},
	{"PartETagDashClears", func(e *env) {
		e.create(record("mp4_t", jobs.StateDownloading, t0))
		got, err := e.s.Update(e.ctx, "mp4_t", jobs.Change{PartETag: "-"})
		if err != nil {
			e.t.Fatal(err)
		}
		if got.PartETag != "" || e.get("mp4_t").PartETag != "" {
			e.t.Errorf("PartETag after \"-\": %q", got.PartETag)
		}
	}},
	{"PartTotalMinusOneClears", func(e *env) {
		e.create(record("mp4_n", jobs.StateDownloading, t0))
		got, err := e.s.Update(e.ctx, "mp4_n", jobs.Change{PartETag: "-", PartTotal: -1})
		if err != nil {
			e.t.Fatal(err)
		}
		if got.PartTotal != 0 || e.get("mp4_n").PartTotal != 0 || got.PartETag != "" {
			e.t.Errorf("PartTotal, PartETag after -1, \"-\": %d, %q", got.PartTotal, got.PartETag)
		}
		got, err = e.s.Update(e.ctx, "mp4_n", jobs.Change{PartETag: `"v2"`, PartTotal: 1234})
		if err != nil {
			e.t.Fatal(err)
		}
		if got.PartTotal != 1234 || e.get("mp4_n").PartTotal != 1234 {
			e.t.Errorf("PartTotal after 1234: %d", got.PartTotal)
		}
	}},
	{"UpdatedAtAlwaysSet", func(e *env) {
		e.create(record("mp4_u", jobs.StatePending, t0))
		for _, ch := range []jobs.Change{{}, {AddPolls: 1}, {To: jobs.StatePending}, {To: jobs.StateReady}} {
			ok := sinceStart()
			got, err := e.s.Update(e.ctx, "mp4_u", ch)
			if err != nil {
				e.t.Fatal(err)
			}
			if !ok(got.UpdatedAt) || !got.UpdatedAt.Equal(e.get("mp4_u").UpdatedAt) {
				e.t.Errorf("Update(%+v): UpdatedAt %v is not the time of the update", ch, got.UpdatedAt)
			}
			if !got.CreatedAt.Equal(t0) {
				e.t.Errorf("Update(%+v) moved CreatedAt to %v", ch, got.CreatedAt)
			}
		}
	}},
	{"Missing", func(e *env) {
		for _, ch := range []jobs.Change{{AddPolls: 1}, {To: jobs.StateReady}} {
			if _, err := e.s.Update(e.ctx, "mp4_missing", ch); !errors.Is(err, jobs.ErrNoRecord) {
				e.t.Errorf("Update(missing, %+v) = %v; want ErrNoRecord", ch, err)
			}
		}
		if _, err := e.s.Get(e.ctx, "mp4_missing"); !errors.Is(err, jobs.ErrNoRecord) {
			e.t.Errorf("Update of a missing record created it: Get = %v", err)
		}
		if got := e.list("", all); got != "" {
			e.t.Errorf("Update of a missing record listed %s", got)
		}
	}},
	{"KeepStateAlwaysAllowed", func(e *env) {
		for i, st := range jobs.States {
			id := fmt.Sprintf("mp4_k%d", i)
			e.create(record(id, st, t0))
			got, err := e.s.Update(e.ctx, id, jobs.Change{AddPolls: 1, KIEStatus: "SUCCESS"})
			if err != nil || got.State != st {
				e.t.Errorf("Update without To in state %s = %v, %v; want the state kept", st, got, err)
			}
			e.checkListed(id, st)
		}
	}},
	{"Transitions", func(e *env) {
		for i, from := range jobs.States {
			for j, to := range jobs.States {
				id := fmt.Sprintf("mp4_%d_%d", i, j)
				created := t0.Add(time.Duration(i*len(jobs.States)+j) * time.Second)
				before := e.create(record(id, from, created))
				got, err := e.s.Update(e.ctx, id, jobs.Change{To: to, KIEStatus: "SUCCESS", AddPolls: 1, Error: "e"})
				if canMove(from, to) {
					if err != nil {
						e.t.Errorf("%s → %s: %v", from, to, err)
					} else if got.State != to || got.KIEStatus != "SUCCESS" || got.Polls != before.Polls+1 || got.Error != "e" {
						e.t.Errorf("%s → %s: got %+v", from, to, got)
					}
					e.checkListed(id, to)
					continue
				}
				if !isConflict(err) || got != nil {
					e.t.Errorf("%s → %s = %v, %v; want nil and an error wrapping ErrConflict", from, to, got, err)
				}
				if d := diff(e.get(id), before); d != "" {
					e.t.Errorf("%s → %s was refused but written:%s", from, to, d)
				}
				e.checkListed(id, from)
			}
		}
	}},
	{"RacingMovesFromPending", racingMoves},
	{"RacingWriters", racingWriters},
}

// racingMoves races two updates of a pending record to two different states, for every pair of
// states a pending record may move to. Every update succeeds or fails with ErrConflict, the
// record ends in the state of an update that succeeded, and when neither state may follow the
// other (such as ready and timed_out) exactly one wins.
func racingMoves(e *env) {
	var targets []jobs.State
	for _, st := range jobs.States {
		if st != jobs.StatePending && canMove(jobs.StatePending, st) {
			targets = append(targets, st)
		}
	}
	exclusive := 0
	for i, a := range targets {
		for _, b := range targets[i+1:] {
			excl := !canMove(a, b) && !canMove(b, a)
			if excl {
				exclusive++
			}
			for round := range 5 {
				id := fmt.Sprintf("mp4_%s_%s_%d", a, b, round)
				e.create(record(id, jobs.StatePending, t0))
				pair := [2]jobs.State{a, b}
				if round%2 == 1 {
					pair[0], pair[1] = b, a
				}
				var errs [2]error
				start := make(chan struct{})
				var wg sync.WaitGroup
				for k, to := range pair {
					wg.Go(func() {
						<-start
						_, errs[k] = e.s.Update(e.ctx, id, jobs.Change{To: to})
					})
				}
				close(start)
				wg.Wait()
				var won []jobs.State
				for k, err := range errs {
					switch {
					case err == nil:
						won = append(won, pair[k])
					case !isConflict(err):
						e.t.Errorf("%s: move to %s: %v; want success or ErrConflict", id, pair[k], err)
					}
				}
				final := e.get(id).State
				switch {
				case len(won) == 0:
					e.t.Errorf("%s: both moves (to %s and %s) failed", id, a, b)
				case excl && len(won) != 1:
					e.t.Errorf("%s: both moves won (to %s and %s), though neither may follow the other", id, a, b)
				case !slices.Contains(won, final):
					e.t.Errorf("%s: ends %s; the moves that won were to %v", id, final, won)
				}
				e.checkListed(id, final)
			}
		}
	}
	if exclusive == 0 {
		e.t.Fatal("the transition table has no two states a pending record may move to that exclude each other")
	}
}

// racingWriters races many updates of one record along different paths, each adding a poll.
// Every update succeeds or fails with ErrConflict, a refused one writes nothing (the polls
// count the updates that succeeded, none lost), and the record is listed under its state once.
func racingWriters(e *env) {
	for round := range 4 {
		id := fmt.Sprintf("mp4_race%d", round)
		before := e.create(record(id, jobs.StatePending, t0.Add(time.Duration(round)*time.Second)))
		const writers = 16
		var mu sync.Mutex
		won := 0
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				<-start
				ch := jobs.Change{AddPolls: 1}
				if g%4 != 0 { // a quarter keep the state, as pending polls do
					ch.To = jobs.States[(g+round)%len(jobs.States)]
				}
				_, err := e.s.Update(e.ctx, id, ch)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case !isConflict(err):
					e.t.Errorf("%s: Update(%+v): %v", id, ch, err)
				}
			})
		}
		close(start)
		wg.Wait()
		got := e.get(id)
		if got.Polls != before.Polls+won {
			e.t.Errorf("%s: polls %d after %d updates won; want %d", id, got.Polls, won, before.Polls+won)
		}
		e.checkListed(id, got.State)
	}
}
