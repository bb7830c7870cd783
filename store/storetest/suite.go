package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
)

// Fixture is one store under test, as StoreSuite's newStore makes it for one subtest.
type Fixture struct {
	// Store is a fresh store: it holds no records and no audio keys.
	Store jobs.Store
	// ElapseFunc lets d pass as far as the expiry of Store's audio claims is concerned, e.g.
	// func(d time.Duration) { Elapse(t, rdb, d) }. Nil means time.Sleep.
	ElapseFunc func(d time.Duration)
}

// StoreSuite checks that a jobs.Store keeps the contract documented in jobs/ports.go: Create,
// Get, Update (the transition table, atomicity under racing writers, UpdatedAt), the fencing
// of jobs' changes by state and generation, List and the audio claims. Every subtest calls newStore once, with its own t, for a fresh store; register
// cleanups on that t. The suite keeps times to whole milliseconds, ids to jobs.ValidateID and
// claim TTLs to at least 50ms, so that every store kiemv has can pass it as it is.
func StoreSuite(t *testing.T, newStore func(t *testing.T) Fixture) {
	groups := []struct {
		name  string
		tests []subtest
	}{
		{"Create", createTests},
		{"Get", getTests},
		{"Update", updateTests},
		{"Fencing", fenceTests},
		{"List", listTests},
		{"Audio", audioTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, st := range g.tests {
				t.Run(st.name, func(t *testing.T) { st.run(newEnv(t, newStore)) })
			}
		})
	}
}

// subtest is one named check of the suite.
type subtest struct {
	name string
	run  func(e *env)
}

// all is a List limit above the number of records any subtest creates.
const all = 1000

// t0 is the creation time of the suite's records: whole milliseconds, as every store keeps.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// env is the store of one subtest with the helpers the checks share.
type env struct {
	t      *testing.T
	ctx    context.Context
	s      jobs.Store
	elapse func(time.Duration)
}

func newEnv(t *testing.T, newStore func(t *testing.T) Fixture) *env {
	t.Helper()
	f := newStore(t)
	if f.Store == nil {
		t.Fatal("storetest: newStore returned no Store")
	}
	e := &env{t: t, ctx: context.Background(), s: f.Store, elapse: f.ElapseFunc}
	if e.elapse == nil {
		e.elapse = time.Sleep
	}
	return e
}

// record returns a record in state st created at, with every field set.
func record(id string, st jobs.State, at time.Time) *jobs.Record {
	return &jobs.Record{TaskID: id, MusicTaskID: "music_1", AudioID: "audio_1", State: st,
		KIEStatus: "GENERATING", Polls: 3, VideoURL: "https://cdn.example/" + id + ".mp4",
		File: "/videos/" + id + ".mp4", Bytes: 1 << 33, SHA256: strings.Repeat("ab", 32),
		Error: "an earlier error", CreatedAt: at, UpdatedAt: at.Add(time.Second),
		CompletedAt: at.Add(2 * time.Second), DownloadedAt: at.Add(3 * time.Second),
		PartETag: `"etag-1"`, RetriedAt: at.Add(4 * time.Second), Generation: 3, Requeued: 2,
		PartOwner: "host-a:/videos", PartTotal: 1<<33 + 7, API: jobs.APIJobs,
	}
}

// create stores rec, failing the test unless it is new.
func (e *env) create(rec *jobs.Record) *jobs.Record {
	e.t.Helper()
	want := *rec
	want.Generation = max(want.Generation, 1) // a record's generation starts at 1
	if ok, err := e.s.Create(e.ctx, rec); err != nil || !ok {
		e.t.Fatalf("Create(%s) = %v, %v; want true, nil", rec.TaskID, ok, err)
	}
	return &want
}

// get returns the record id, failing the test on any error.
func (e *env) get(id string) *jobs.Record {
	e.t.Helper()
	rec, err := e.s.Get(e.ctx, id)
	if err != nil {
		e.t.Fatalf("Get(%s): %v", id, err)
	}
	if rec == nil {
		e.t.Fatalf("Get(%s) = nil, nil", id)
	}
	return rec
}

// list returns the ids List gives, comma-separated.
func (e *env) list(st jobs.State, limit int) string {
	e.t.Helper()
	recs, err := e.s.List(e.ctx, st, limit)
	if err != nil {
		e.t.Fatalf("List(%q, %d): %v", st, limit, err)
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.TaskID
	}
	return strings.Join(ids, ",")
}

// listedIn returns the states whose List holds id, once per time it appears.
func (e *env) listedIn(id string) []jobs.State {
	e.t.Helper()
	var in []jobs.State
	for _, st := range jobs.States {
		for _, got := range strings.Split(e.list(st, all), ",") {
			if got == id {
				in = append(in, st)
			}
		}
	}
	return in
}

// checkListed fails the test unless id is listed under exactly state st.
func (e *env) checkListed(id string, st jobs.State) {
	e.t.Helper()
	if in := e.listedIn(id); len(in) != 1 || in[0] != st {
		e.t.Errorf("%s is listed under %v; want [%s] only", id, in, st)
	}
}

// diff describes how got differs from want, or returns "" if they are the same record.
func diff(got, want *jobs.Record) string {
	g, w := norm(*got), norm(*want)
	if reflect.DeepEqual(g, w) {
		return ""
	}
	return fmt.Sprintf("\n got %+v\nwant %+v", g, w)
}

// norm puts every time of r in UTC without a monotonic reading, so equal records compare equal.
func norm(r jobs.Record) jobs.Record {
	for _, p := range []*time.Time{&r.CreatedAt, &r.UpdatedAt, &r.CompletedAt, &r.DownloadedAt, &r.RetriedAt} {
		*p = p.UTC()
	}
	return r
}

// isConflict reports whether err wraps jobs.ErrConflict.
func isConflict(err error) bool { return errors.Is(err, jobs.ErrConflict) }

var createTests = []subtest{
	{"InsertsOnce", func(e *env) {
		first := e.create(record("mp4_once", jobs.StatePending, t0))
		again := record("mp4_once", jobs.StateReady, t0.Add(time.Hour))
		again.VideoURL, again.Polls = "https://cdn.example/other.mp4", 99
		ok, err := e.s.Create(e.ctx, again)
		if err != nil || ok {
			e.t.Fatalf("second Create = %v, %v; want false, nil", ok, err)
		}
		if d := diff(e.get("mp4_once"), first); d != "" {
			e.t.Errorf("second Create changed the record:%s", d)
		}
		e.checkListed("mp4_once", jobs.StatePending)
	}},
	{"DistinctIDs", func(e *env) {
		e.create(record("mp4_a", jobs.StatePending, t0))
		e.create(record("mp4_b", jobs.StateReady, t0))
		if got := e.get("mp4_a"); got.State != jobs.StatePending {
			e.t.Errorf("mp4_a is %s; want pending", got.State)
		}
		if got := e.get("mp4_b"); got.State != jobs.StateReady {
			e.t.Errorf("mp4_b is %s; want ready", got.State)
		}
	}},
	{"InAnyState", func(e *env) {
		for i, st := range jobs.States {
			id := fmt.Sprintf("mp4_s%d", i)
			e.create(record(id, st, t0))
			e.checkListed(id, st)
		}
	}},
}

var getTests = []subtest{
	{"RoundTrip", func(e *env) {
		want := e.create(record("mp4_rt", jobs.StateDownloaded, t0))
		if d := diff(e.get("mp4_rt"), want); d != "" {
			e.t.Errorf("Get returns another record than was created:%s", d)
		}
		sparse := e.create(&jobs.Record{TaskID: "mp4_sparse", State: jobs.StatePending, CreatedAt: t0, UpdatedAt: t0})
		if d := diff(e.get("mp4_sparse"), sparse); d != "" {
			e.t.Errorf("zero fields do not read back as zero:%s", d)
		}
	}},
	{"Missing", func(e *env) {
		rec, err := e.s.Get(e.ctx, "mp4_missing")
		if !errors.Is(err, jobs.ErrNoRecord) || rec != nil {
			e.t.Errorf("Get(missing) = %v, %v; want nil and an error wrapping ErrNoRecord", rec, err)
		}
		e.create(record("mp4_other", jobs.StatePending, t0))
		if _, err := e.s.Get(e.ctx, "mp4_missing"); !errors.Is(err, jobs.ErrNoRecord) {
			e.t.Errorf("Get(missing) beside another record = %v; want ErrNoRecord", err)
		}
	}},
}
