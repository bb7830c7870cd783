package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store/storetest"
)

// TestKeyNames pins the format of every key name: they name data already in Redis, so a
// change here must be a migration, never an accident.
func TestKeyNames(t *testing.T) {
	k, d := NewKeys("ns1"), NewKeys("")
	for _, c := range []struct{ got, want string }{
		{k.Record("mp4_1"), "ns1:rec:mp4_1"},
		{d.Record("mp4_1"), "kiemv:rec:mp4_1"},
		{k.State(jobs.StatePending), "ns1:state:pending"},
		{k.State(jobs.StateReady), "ns1:state:ready"},
		{k.State(jobs.StateDownloading), "ns1:state:downloading"},
		{k.State(jobs.StateDownloaded), "ns1:state:downloaded"},
		{k.State(jobs.StateFailed), "ns1:state:failed"},
		{k.State(jobs.StateTimedOut), "ns1:state:timed_out"},
		{k.State(jobs.StateExpired), "ns1:state:expired"},
		{d.State(jobs.StateCanceled), "kiemv:state:canceled"},
		{k.Audio("au_1:0123456789abcdef"), "ns1:audio:au_1:0123456789abcdef"},
		{d.Audio("au_1:0123456789abcdef"), "kiemv:audio:au_1:0123456789abcdef"},
		{k.Limit(jobs.LimitCreate), "ns1:rl:create"},
		{d.Limit(jobs.LimitRecordInfo), "kiemv:rl:record-info"},
		{k.Held(jobs.LimitRecordInfo, "mp4_1"), "ns1:rl:record-info:held:mp4_1"},
		{k.Freed(jobs.LimitCreate), "ns1:rl:create:freed"},
		{k.Callback("mp4_1", "1700000000"), "ns1:cb:mp4_1:1700000000"},
		{d.Callback("mp4_1", "1700000000"), "kiemv:cb:mp4_1:1700000000"},
		{k.Lock("reconcile"), "ns1:lock:reconcile"},
		{k.Outage("kie", "open"), "ns1:outage:kie:open"},
		{k.Credits(), "ns1:credits"},
		{k.Song("5c79aa01be8e"), "ns1:song:5c79aa01be8e"},
		{d.OpenSongs(), "kiemv:songs:open"},
	} {
		if c.got != c.want {
			t.Errorf("key %q; want %q", c.got, c.want)
		}
	}
}

// TestKeysWritten drives every type of store that writes to Redis through its exported methods
// and checks the keys found in Redis afterwards, literally: it proves that the stores use
// keys.go, and that the names are those earlier versions wrote.
func TestKeysWritten(t *testing.T) {
	ctx := context.Background()
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)

	recs := NewRecords(rdb, ns)
	if _, err := recs.Create(ctx, &jobs.Record{TaskID: "mp4_k", State: jobs.StatePending}); err != nil {
		t.Fatal(err)
	}
	if _, err := recs.Create(ctx, &jobs.Record{TaskID: "mp4_j", State: jobs.StatePending}); err != nil {
		t.Fatal(err)
	}
	if _, err := recs.Update(ctx, "mp4_k", jobs.Change{To: jobs.StateReady, AddPolls: 1}); err != nil {
		t.Fatal(err)
	}
	if _, token, err := recs.ReserveAudio(ctx, "au_k:0123456789abcdef", time.Minute); err != nil || token == "" {
		t.Fatalf("ReserveAudio = %q, %v", token, err)
	}
	if _, err := recs.BindAudio(ctx, "au_j:fedcba9876543210", "mp4_j"); err != nil {
		t.Fatal(err)
	}

	lim, err := NewLimiter(rdb, ns, map[string]Limit{"create": {Rate: 1, Period: time.Hour, Burst: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := lim.Reserve(ctx, "create", "mp4_a"); err != nil || d != 0 {
		t.Fatalf("first Reserve = %v, %v; want 0", d, err)
	}
	if d, err := lim.Reserve(ctx, "create", "mp4_b"); err != nil || d == 0 {
		t.Fatalf("second Reserve = %v, %v; want a wait", d, err)
	}
	if d, err := lim.Reserve(ctx, "create", "mp4_c"); err != nil || d == 0 {
		t.Fatalf("third Reserve = %v, %v; want a wait", d, err)
	}
	if err := lim.Release(ctx, "create", "mp4_b"); err != nil { // not the last: kept as freed
		t.Fatal(err)
	}

	if _, err := NewReplayGuard(rdb, ns).FirstSeen(ctx, "mp4_k", "1700000000", time.Minute); err != nil {
		t.Fatal(err)
	}

	if err := NewLedger(rdb, ns).CountCreate(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}

	got, err := rdb.Keys(ctx, ns+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		ns + ":rec:mp4_k",
		ns + ":rec:mp4_j",
		ns + ":state:pending",
		ns + ":state:ready",
		ns + ":audio:au_k:0123456789abcdef",
		ns + ":audio:au_j:fedcba9876543210",
		ns + ":rl:create",
		ns + ":rl:create:held:mp4_c",
		ns + ":rl:create:freed",
		ns + ":cb:mp4_k:1700000000",
		ns + ":credits",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("keys in Redis:\n%q\nwant\n%q", got, want)
	}
	if typ := rdb.Type(ctx, ns+":rec:mp4_k").Val(); typ != "hash" {
		t.Errorf("record key is a %s; want hash", typ)
	}
	if typ := rdb.Type(ctx, ns+":state:ready").Val(); typ != "zset" {
		t.Errorf("state key is a %s; want zset", typ)
	}
	// Counts and List read the same keys back.
	if n, err := recs.Counts(ctx); err != nil || n[jobs.StateReady] != 1 || n[jobs.StatePending] != 1 {
		t.Errorf("Counts = %v, %v", n, err)
	}
}
