package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

// newRecords returns a Records in a fresh namespace, its client and the namespace.
func newRecords(t testing.TB) (*store.Records, *redis.Client, string) {
	t.Helper()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	return store.NewRecords(rdb, ns), rdb, ns
}

// mustCreate creates a record in state st created at the given time.
func mustCreate(t testing.TB, s *store.Records, id string, st jobs.State, at time.Time) *jobs.Record {
	t.Helper()
	rec := &jobs.Record{TaskID: id, State: st, CreatedAt: at, MusicTaskID: "music1", AudioID: "audio1"}
	ok, err := s.Create(context.Background(), rec)
	if err != nil || !ok {
		t.Fatalf("Create(%s) = %v, %v; want true, nil", id, ok, err)
	}
	return rec
}

func TestCreateGet(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newRecords(t)
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	in := &jobs.Record{TaskID: "mp4_a", MusicTaskID: "m1", AudioID: "au1", KIEStatus: "PENDING",
		Polls: 2, VideoURL: "https://x/v.mp4", Bytes: 42, CreatedAt: at, CompletedAt: at.Add(time.Minute)}
	if ok, err := s.Create(ctx, in); err != nil || !ok {
		t.Fatalf("Create = %v, %v", ok, err)
	}
	if in.State != jobs.StatePending || !in.UpdatedAt.Equal(at) {
		t.Errorf("Create defaults: state %q updated %v; want pending, %v", in.State, in.UpdatedAt, at)
	}
	got, err := s.Get(ctx, "mp4_a")
	if err != nil {
		t.Fatal(err)
	}
	// Times are kept to the millisecond.
	want := *in
	want.CreatedAt, want.UpdatedAt = at.Truncate(time.Millisecond), at.Truncate(time.Millisecond)
	want.CompletedAt = at.Add(time.Minute).Truncate(time.Millisecond)
	if fmt.Sprint(*got) != fmt.Sprint(want) {
		t.Errorf("Get = %+v\nwant %+v", *got, want)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.CompletedAt.Equal(want.CompletedAt) {
		t.Errorf("times: created %v completed %v", got.CreatedAt, got.CompletedAt)
	}
	again := &jobs.Record{TaskID: "mp4_a", State: jobs.StateReady}
	if ok, err := s.Create(ctx, again); err != nil || ok {
		t.Fatalf("second Create = %v, %v; want false, nil", ok, err)
	}
	if got, _ := s.Get(ctx, "mp4_a"); got.State != jobs.StatePending {
		t.Errorf("second Create overwrote the record: state %q", got.State)
	}
	if list, _ := s.List(ctx, jobs.StateReady, 0); len(list) != 0 {
		t.Errorf("second Create indexed the record as ready: %v", list)
	}
}

func TestCreateDefaultsNow(t *testing.T) {
	s, _, _ := newRecords(t)
	before := time.Now()
	rec := &jobs.Record{TaskID: "mp4_now"}
	if _, err := s.Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if rec.CreatedAt.Before(before) || rec.CreatedAt.After(time.Now()) || rec.UpdatedAt != rec.CreatedAt {
		t.Errorf("CreatedAt %v UpdatedAt %v", rec.CreatedAt, rec.UpdatedAt)
	}
}

func TestGetErrors(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newRecords(t)
	_, err := s.Get(ctx, "mp4_missing")
	if !errors.Is(err, jobs.ErrNoRecord) || !strings.Contains(err.Error(), "mp4_missing") {
		t.Errorf("Get(missing) = %v; want ErrNoRecord naming the id", err)
	}
	for _, id := range []string{"", "../x", "a:b", "a b", strings.Repeat("x", 129)} {
		if _, err := s.Get(ctx, id); !errors.Is(err, jobs.ErrBadID) {
			t.Errorf("Get(%q) = %v; want ErrBadID", id, err)
		}
		if _, err := s.Create(ctx, &jobs.Record{TaskID: id}); !errors.Is(err, jobs.ErrBadID) {
			t.Errorf("Create(%q) = %v; want ErrBadID", id, err)
		}
		if _, err := s.Update(ctx, id, jobs.Change{AddPolls: 1}); !errors.Is(err, jobs.ErrBadID) {
			t.Errorf("Update(%q) = %v; want ErrBadID", id, err)
		}
	}
	if _, err := s.Create(ctx, &jobs.Record{TaskID: "x", State: "bogus"}); err == nil {
		t.Error("Create with an unknown state succeeded")
	}
	if _, err := s.List(ctx, "bogus", 0); err == nil {
		t.Error("List of an unknown state succeeded")
	}
}

func ids(recs []*jobs.Record) string {
	var b []string
	for _, r := range recs {
		b = append(b, r.TaskID)
	}
	return strings.Join(b, ",")
}

func TestList(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newRecords(t)
	if got, err := s.List(ctx, "", 10); err != nil || len(got) != 0 {
		t.Fatalf("List of nothing = %v, %v", got, err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	states := []jobs.State{jobs.StatePending, jobs.StateReady, jobs.StatePending, jobs.StateFailed, jobs.StateReady, jobs.StateDownloaded}
	for i, st := range states {
		mustCreate(t, s, fmt.Sprintf("mp4_%d", i), st, t0.Add(time.Duration(i)*time.Second))
	}
	cases := []struct {
		state jobs.State
		limit int
		want  string
	}{
		{"", 0, "mp4_5,mp4_4,mp4_3,mp4_2,mp4_1,mp4_0"},
		{"", 3, "mp4_5,mp4_4,mp4_3"},
		{"", 100, "mp4_5,mp4_4,mp4_3,mp4_2,mp4_1,mp4_0"},
		{jobs.StatePending, 0, "mp4_2,mp4_0"},
		{jobs.StateReady, 1, "mp4_4"},
		{jobs.StateDownloading, 0, ""},
	}
	for _, c := range cases {
		got, err := s.List(ctx, c.state, c.limit)
		if err != nil {
			t.Fatalf("List(%q, %d): %v", c.state, c.limit, err)
		}
		if ids(got) != c.want {
			t.Errorf("List(%q, %d) = %s; want %s", c.state, c.limit, ids(got), c.want)
		}
	}
	// A move changes the state lists but not the order by creation.
	if _, err := s.Update(ctx, "mp4_0", jobs.Change{To: jobs.StateReady}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.List(ctx, jobs.StateReady, 0); ids(got) != "mp4_4,mp4_1,mp4_0" {
		t.Errorf("ready after move = %s", ids(got))
	}
	if got, _ := s.List(ctx, "", 0); ids(got) != "mp4_5,mp4_4,mp4_3,mp4_2,mp4_1,mp4_0" {
		t.Errorf("all after move = %s", ids(got))
	}
}

// TestNamespaces checks that two stores in different namespaces never see each other.
func TestNamespaces(t *testing.T) {
	ctx := context.Background()
	a, rdb, _ := newRecords(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	b := store.NewRecords(rdb, ns)
	mustCreate(t, a, "mp4_x", jobs.StatePending, time.Now())
	if _, err := b.Get(ctx, "mp4_x"); !errors.Is(err, jobs.ErrNoRecord) {
		t.Errorf("other namespace Get = %v", err)
	}
	if got, _ := b.List(ctx, "", 0); len(got) != 0 {
		t.Errorf("other namespace List = %s", ids(got))
	}
	keys, err := rdb.Keys(ctx, ns+":*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("keys under the other namespace: %v, %v", keys, err)
	}
}
