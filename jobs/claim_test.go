package jobs_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

// testClaimTTL is the claim ttl of the claim tests: short, so that a wait "longer than the
// claim ttl" takes a second, not minutes.
const testClaimTTL = 300 * time.Millisecond

// waitingMsg is what a submit logs (once) while another submit of its audio holds the claim.
const waitingMsg = "waiting for another submit of this audio"

// gate is a jobs.Limiter that holds every create until opened, as a create limiter whose
// slots are all taken does; other limits pass at once.
type gate struct {
	open    chan struct{}
	once    sync.Once
	waiting atomic.Int32 // create calls refused so far
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) Allow(_ context.Context, name string) (time.Duration, error) {
	if name != jobs.LimitCreate {
		return 0, nil
	}
	select {
	case <-g.open:
		return 0, nil
	default:
		g.waiting.Add(1)
		return 10 * time.Millisecond, nil
	}
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// logBuf collects a Service's log lines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

func (l *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// submitted is what one Submit returned.
type submitted struct {
	rec     *jobs.Record
	created bool
	err     error
}

// submitAsync runs svc.Submit in a goroutine; the channel gives its result.
func submitAsync(ctx context.Context, svc *jobs.Service, req jobs.SubmitRequest) <-chan submitted {
	ch := make(chan submitted, 1)
	go func() {
		rec, created, err := svc.Submit(ctx, req)
		ch <- submitted{rec, created, err}
	}()
	return ch
}

// result waits for a submitAsync result, failing the test after 10 s.
func result(t *testing.T, ch <-chan submitted, what string) submitted {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("%s: %v", what, r.err)
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return within 10s", what)
		return submitted{}
	}
}

// eventually polls cond every 5 ms for up to 5 s, failing the test if it never holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// outlast lets total pass for the audio claims in Redis, in steps of half the claim ttl with a
// real pause of the same length after each, so that a live claimer renews between any two
// steps (it renews every third of its ttl). On miniredis the steps fast-forward key expiry.
func (e *env) outlast(total time.Duration) {
	for step := testClaimTTL / 2; total > 0; total -= step {
		storetest.Elapse(e.t, e.rdb, step)
		time.Sleep(step)
	}
}

// claimService is a Service with the short claim ttl and limiter lim.
func (e *env) claimService(lim jobs.Limiter, log *slog.Logger) *jobs.Service {
	svc := e.service()
	svc.Limiter, svc.ClaimTTL = lim, testClaimTTL
	if log != nil {
		svc.Log = log
	}
	return svc
}

// TestSubmitOutwaitsTheClaimTTL is issue 10's "Paid twice": two submits of one audio, the
// second started while the first waits longer than the claim ttl for a create slot, return the
// same MP4 task without an error, and KIE sees one create call.
func TestSubmitOutwaitsTheClaimTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Hour})
	g := newGate()
	logs := &logBuf{}
	req := submitReq("audioSlow", "Nova")
	first := submitAsync(e.ctx, e.claimService(g, nil), req)
	eventually(t, "the first submit to wait for a create slot", func() bool { return g.waiting.Load() > 0 })
	second := submitAsync(e.ctx, e.claimService(g, logs.logger()), req)
	e.outlast(4 * testClaimTTL)
	g.release()
	r1, r2 := result(t, first, "first submit"), result(t, second, "second submit")
	if r1.rec.TaskID != r2.rec.TaskID || !r1.created || r2.created {
		t.Errorf("first %s (created %v), second %s (created %v); want one task, created by the first",
			r1.rec.TaskID, r1.created, r2.rec.TaskID, r2.created)
	}
	if st := e.sim.Stats(); st.Creates["audioSlow"] != 1 || st.CreateCalls != 1 {
		t.Errorf("KIE saw %d create calls, %d creates; want 1 and 1", st.CreateCalls, st.Creates["audioSlow"])
	}
	if n := logs.count(waitingMsg); n != 1 {
		t.Errorf("the second submit logged %q %d times; want once", waitingMsg, n)
	}
}

// TestSubmitFromAnotherProcess: a submit from another process (its own Service, Redis client,
// store, KIE client and Asynq client on the same Redis namespace) waits for the first one's
// slow create and follows its task; later, at any time, it gets the same task at once.
func TestSubmitFromAnotherProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Hour})
	g := newGate()
	req := submitReq("audioProc", "")
	first := submitAsync(e.ctx, e.claimService(g, nil), req)
	eventually(t, "the first submit to wait for a create slot", func() bool { return g.waiting.Load() > 0 })
	logs := &logBuf{}
	other := e.otherProcess(logs.logger())
	second := submitAsync(e.ctx, other, req)
	eventually(t, "the other process to wait", func() bool { return logs.count(waitingMsg) == 1 })
	e.outlast(3 * testClaimTTL)
	g.release()
	r1, r2 := result(t, first, "first submit"), result(t, second, "other process's submit")
	if r1.rec.TaskID != r2.rec.TaskID || !r1.created || r2.created {
		t.Errorf("first %s (created %v), other %s (created %v); want one task", r1.rec.TaskID, r1.created, r2.rec.TaskID, r2.created)
	}
	later := result(t, submitAsync(e.ctx, other, req), "a later submit")
	if later.rec.TaskID != r1.rec.TaskID || later.created {
		t.Errorf("later submit: %s, created %v; want %s", later.rec.TaskID, later.created, r1.rec.TaskID)
	}
	if st := e.sim.Stats(); st.Creates["audioProc"] != 1 || st.CreateCalls != 1 {
		t.Errorf("KIE saw %d create calls, %d creates; want 1 and 1", st.CreateCalls, st.Creates["audioProc"])
	}
	if n := logs.count(waitingMsg); n != 1 {
		t.Errorf("the other process logged %q %d times; want once", waitingMsg, n)
	}
}

// otherProcess builds a Service as another kiemv process on the same Redis and namespace
// would: nothing shared with e but the servers.
func (e *env) otherProcess(log *slog.Logger) *jobs.Service {
	e.t.Helper()
	opt, err := redis.ParseURL(e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	e.t.Cleanup(func() { _ = rdb.Close() })
	client, err := kie.New(kie.Config{BaseURL: e.srv.URL, APIKey: "test-key", Timeout: 5 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	lim, err := store.NewLimiter(rdb, e.ns, store.Limits(1000, 1000))
	if err != nil {
		e.t.Fatal(err)
	}
	return &jobs.Service{KIE: client, Store: store.NewRecords(rdb, e.ns), Limiter: lim,
		Enqueuer: asynq.NewClientFromRedisClient(rdb), Queues: e.q, Tasks: asynq.NewInspectorFromRedisClient(rdb),
		ClaimTTL: testClaimTTL, Log: log}
}

// TestSubmitTakesOverACrashedClaim: a claimer that died (its claim is never renewed) blocks
// the audio until its claim lapses; then the waiting submit takes the claim over and creates.
func TestSubmitTakesOverACrashedClaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Hour})
	req := submitReq("audioCrash", "")
	const crashedTTL = 2 * testClaimTTL
	if _, token, err := e.recs.ReserveAudio(e.ctx, jobs.AudioKey(req.AudioID, "", ""), crashedTTL); err != nil || token == "" {
		t.Fatalf("the crashed claimer's claim: %q, %v", token, err)
	}
	logs := &logBuf{}
	done := submitAsync(e.ctx, e.claimService(e.lim, logs.logger()), req)
	eventually(t, "the submit to wait for the crashed claim", func() bool { return logs.count(waitingMsg) == 1 })
	if n := e.sim.Stats().CreateCalls; n != 0 {
		t.Fatalf("%d create calls while another claim was live", n)
	}
	e.outlast(crashedTTL + testClaimTTL)
	r := result(t, done, "submit after the crashed claim")
	if kieID, _ := e.sim.TaskFor(req.AudioID); !r.created || r.rec.TaskID != kieID {
		t.Errorf("submit: %s, created %v; want the task KIE made (%s)", r.rec.TaskID, r.created, kieID)
	}
	if st := e.sim.Stats(); st.Creates[req.AudioID] != 1 || st.CreateCalls != 1 {
		t.Errorf("KIE saw %d create calls, %d creates; want 1 and 1", st.CreateCalls, st.Creates[req.AudioID])
	}
}

// TestSubmitFollowsATaskBoundWhileItWaits: when another submit binds the audio while this one
// waits for a create slot (it took over a claim that had lapsed), this one's next renewal
// fails and it follows that task without asking KIE.
func TestSubmitFollowsATaskBoundWhileItWaits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Hour})
	g := newGate()
	req := submitReq("audioBound", "")
	done := submitAsync(e.ctx, e.claimService(g, nil), req)
	eventually(t, "the submit to wait for a create slot", func() bool { return g.waiting.Load() > 0 })
	id := e.simTask("mp4_boundelsewhere", kiesim.Fate{})
	if bound, err := e.recs.BindAudio(e.ctx, jobs.AudioKey(req.AudioID, "", ""), id); err != nil || bound != id {
		t.Fatalf("BindAudio = %q, %v", bound, err)
	}
	r := result(t, done, "submit") // the gate stays shut
	if r.rec.TaskID != id || r.created {
		t.Errorf("submit: %s, created %v; want %s, not created", r.rec.TaskID, r.created, id)
	}
	if n := e.sim.Stats().CreateCalls; n != 0 {
		t.Errorf("%d create calls; want none", n)
	}
}

// TestSubmitDuplicateFollowsTheBoundTask: KIE answers "already exists" without an id while
// another submit has bound the audio key meanwhile (it took over this submit's lapsed claim):
// the submit follows that task and succeeds instead of failing.
func TestSubmitDuplicateFollowsTheBoundTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Hour})
	made, _, err := e.service().Submit(e.ctx, submitReq("audioDup", "Nova"))
	if err != nil {
		t.Fatal(err)
	}
	// Another author is another audio key; KIE still has the video. Just before KIE answers,
	// another submit binds this key to the task.
	key := jobs.AudioKey("audioDup", "Lane", "")
	front := e.serve(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/mp4/generate") {
			if _, err := e.recs.BindAudio(r.Context(), key, made.TaskID); err != nil {
				t.Errorf("BindAudio: %v", err)
			}
		}
		e.sim.ServeHTTP(w, r)
	})
	svc := e.claimService(e.lim, nil)
	if svc.KIE, err = kie.New(kie.Config{BaseURL: front.URL, APIKey: "test-key", Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	rec, created, err := svc.Submit(e.ctx, submitReq("audioDup", "Lane"))
	if err != nil || rec.TaskID != made.TaskID || created {
		t.Fatalf("submit: %+v, created %v, %v; want %s, not created", rec, created, err, made.TaskID)
	}
	if st := e.sim.Stats(); st.Creates["audioDup"] != 1 || st.CreateCalls != 2 {
		t.Errorf("KIE saw %d create calls, %d creates; want 2 and 1", st.CreateCalls, st.Creates["audioDup"])
	}
}
