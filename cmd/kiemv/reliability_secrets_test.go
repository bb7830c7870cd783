//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// TestReliabilityNoSecrets makes a full run, through worker and `kiemv callbacks` processes
// and signed simulator callbacks, with every kind of failure, then searches the process logs,
// the CLI's output (`list --json` included), every Redis key of the namespace and Asynq's task
// payloads and error strings for the API key and the HMAC key. Neither may appear anywhere.
func TestReliabilityNoSecrets(t *testing.T) {
	needRealRedis(t)
	hmacKey := secret("whk-RELIABILITY-SECRET-")
	r := newRig(t, kiesim.Config{HMACKey: hmacKey, CallbackRetryDelays: []time.Duration{200 * time.Millisecond}}, rigOptions{})
	r.env = append(r.env, envWebhookKey+"="+hmacKey) // every process holds it; none may show it

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r.start("callbacks", "callbacks", "--listen", addr)
	r.waitFor("kiemv callbacks to answer", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	cb := "http://" + addr + "/kie/mp4"

	faults := [][]kiesim.Fault{{kiesim.FaultHTML500}, {kiesim.Fault455}, {kiesim.Fault500}, {kiesim.Fault429}}
	fates := map[string]kiesim.Fate{"fail-sec": {Outcome: kiesim.OutcomeGenerateFailed, ReadyAfter: time.Second},
		"createfail-sec": {Outcome: kiesim.OutcomeCreateFailed, ReadyAfter: time.Second}, "never-sec": {Outcome: kiesim.OutcomeNever},
		"expire-sec": {ExpireURL: true, ReadyAfter: time.Second}, "cut-sec": {CutAt: 100_000, ReadyAfter: time.Second}}
	for i, f := range faults {
		fates[fmt.Sprintf("ok-sec-%d", i)] = kiesim.Fate{ReadyAfter: 2 * time.Second, PollFaults: f}
	}
	r.sim.FailNextCreates(1, kiesim.Fault500)
	var ids []string
	idOf := map[string]string{}
	for audio, f := range fates {
		r.sim.SetFate(audio, f)
		idOf[audio] = r.submit(audio, "--callback-url", cb)
		ids = append(ids, idOf[audio])
	}
	r.worker("worker", "--poll-timeout", "8s", "--not-found-grace", "2s")
	if _, stderr, code := r.cli("track", "mp4_not_at_kie"); code != 0 { // KIE: "recordInfo is null"
		t.Fatalf("track: exit %d: %s", code, stderr)
	}
	ids = append(ids, "mp4_not_at_kie")
	// A task that finishes has a callback to forge (map order is random: ids[0] may be "never").
	if st, err := r.sim.SendForged(idOf["ok-sec-0"]); err != nil || st != http.StatusUnauthorized {
		t.Errorf("forged callback: HTTP %d, %v; want 401", st, err)
	}
	r.cli("submit", "--task-id", "music-rel", "--audio-id", "bad audio id")
	r.cli("--api-key", "", "submit", "--task-id", "music-rel", "--audio-id", "a")
	r.cli(append([]string{"wait", "--timeout", "90s"}, ids...)...)
	r.cli("list", "--json")
	r.cli("status", ids[0], "--json")

	var found []string
	check := func(where string, b []byte) {
		for name, key := range map[string]string{"API key": r.apiKey, "HMAC key": hmacKey} {
			if bytes.Contains(b, []byte(key)) {
				found = append(found, fmt.Sprintf("the %s appears in %s", name, where))
			}
		}
	}
	var all bytes.Buffer // everything searched, to check the search saw real data
	add := func(where string, b []byte) { check(where, b); all.Write(b); all.WriteByte('\n') }
	r.mu.Lock()
	add("the CLI's output", r.cliOut.Bytes())
	procs := append([]*proc(nil), r.procs...)
	r.mu.Unlock()
	for _, p := range procs {
		b, _ := os.ReadFile(p.log)
		add(p.name+"'s log", b)
	}
	ctx := context.Background()
	for _, pattern := range []string{r.ns + ":*", "asynq:{" + r.ns + ":*", "asynq:servers:*", "asynq:workers:*"} {
		iter := r.rdb.Scan(ctx, 0, pattern, 200).Iterator()
		for iter.Next(ctx) {
			add("Redis key "+iter.Val(), r.dumpKey(ctx, iter.Val()))
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{r.q.Poll, r.q.Download} {
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){r.insp.ListPendingTasks,
			r.insp.ListActiveTasks, r.insp.ListScheduledTasks, r.insp.ListRetryTasks, r.insp.ListArchivedTasks, r.insp.ListCompletedTasks} {
			infos, err := list(q)
			if err != nil {
				t.Fatal(err)
			}
			for _, info := range infos {
				add("Asynq task "+info.ID, []byte(string(info.Payload)+" "+info.LastErr+" "+string(info.Result)))
			}
		}
	}
	for _, f := range found {
		t.Error(f)
	}
	for _, want := range []string{`"id":"mp4_`, "state change", "GENERATE_MP4_FAILED", "poll budget", "KIE has no MP4 task", "KIE callback refused", "skip retry"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("the searched output lacks %q: the search did not see a full run", want)
		}
	}
	t.Logf("searched %d bytes of output, records, keys and tasks", all.Len())
}

// dumpKey returns every value held at a Redis key, whatever its type.
func (r *rig) dumpKey(ctx context.Context, key string) []byte {
	var vals []string
	switch typ, _ := r.rdb.Type(ctx, key).Result(); typ {
	case "string":
		vals = []string{r.rdb.Get(ctx, key).Val()}
	case "hash":
		for k, v := range r.rdb.HGetAll(ctx, key).Val() {
			vals = append(vals, k, v)
		}
	case "list":
		vals = r.rdb.LRange(ctx, key, 0, -1).Val()
	case "set":
		vals = r.rdb.SMembers(ctx, key).Val()
	case "zset":
		vals = r.rdb.ZRange(ctx, key, 0, -1).Val()
	}
	return []byte(strings.Join(vals, "\n"))
}
