package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

const hookKey = "whk_TEST-SECRET-key"

// fakeWaker counts wakes; err, when set, is returned by each. It follows every id but those
// in unknown.
type fakeWaker struct {
	mu      sync.Mutex
	woken   []string
	err     error
	unknown map[string]bool
}

func (f *fakeWaker) Follows(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.unknown[id], nil
}

func (f *fakeWaker) Wake(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.woken = append(f.woken, id)
	return f.err
}

func (f *fakeWaker) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.woken...)
}

// fakeGuard is an in-memory ReplayGuard that counts its calls; block, when set, makes
// FirstSeen hang until ctx ends.
type fakeGuard struct {
	mu      sync.Mutex
	seen    map[string]bool
	calls   int
	forgets int
	block   bool
}

func (g *fakeGuard) FirstSeen(ctx context.Context, id, stamp string, ttl time.Duration) (bool, error) {
	g.mu.Lock()
	g.calls++
	block := g.block
	if g.seen == nil {
		g.seen = map[string]bool{}
	}
	first := !g.seen[id+":"+stamp]
	g.seen[id+":"+stamp] = true
	g.mu.Unlock()
	if block {
		<-ctx.Done()
		return false, ctx.Err()
	}
	return first, nil
}

func (g *fakeGuard) Forget(_ context.Context, id, stamp string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forgets++
	delete(g.seen, id+":"+stamp)
	return nil
}

type hookEnv struct {
	h      *jobs.Webhook
	waker  *fakeWaker
	guard  *fakeGuard
	logs   *bytes.Buffer
	now    time.Time
	result []string
}

func newHookEnv(key string) *hookEnv {
	e := &hookEnv{waker: &fakeWaker{}, guard: &fakeGuard{}, logs: &bytes.Buffer{}, now: time.Unix(1740910449, 0)}
	e.h = &jobs.Webhook{Waker: e.waker, Replay: e.guard, Key: []byte(key), NowFunc: func() time.Time { return e.now },
		Log: slog.New(slog.NewTextHandler(e.logs, nil)), ResultFunc: func(r string) { e.result = append(e.result, r) }}
	if key == "" {
		e.h.Key = nil
	}
	return e
}

// post sends body with the given timestamp and signature headers ("" leaves one out).
func (e *hookEnv) post(body, ts, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/kie/mp4", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if ts != "" {
		req.Header.Set(kie.HeaderTimestamp, ts)
	}
	if sig != "" {
		req.Header.Set(kie.HeaderSignature, sig)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

func successBody(id string) string {
	return `{"code":200,"msg":"MP4 generated successfully.","data":{"task_id":"` + id + `","video_url":"https://tempfile.example/v/ab12.mp4"}}`
}

func stamp(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func TestWebhookSignatures(t *testing.T) {
	const id = "mp4_9f21c0d4"
	body := successBody(id)
	tests := []struct {
		name       string
		ts, sig    func(e *hookEnv) (string, string)
		wantStatus int
		wantResult string
	}{
		{"good", nil, nil, 200, jobs.CallbackWoken},
		{"wrong key", nil, func(e *hookEnv) (string, string) { return "", kie.Sign("other", id, stamp(e.now)) }, 401, jobs.CallbackBadSignature},
		{"other task's signature", nil, func(e *hookEnv) (string, string) { return "", kie.Sign(hookKey, "mp4_other", stamp(e.now)) }, 401, jobs.CallbackBadSignature},
		{"missing signature", nil, func(e *hookEnv) (string, string) { return "", "-" }, 401, jobs.CallbackBadSignature},
		{"missing timestamp", func(e *hookEnv) (string, string) { return "-", kie.Sign(hookKey, id, "") }, nil, 401, jobs.CallbackBadSignature},
		{"timestamp not an integer", func(e *hookEnv) (string, string) { return "1740910449.5", kie.Sign(hookKey, id, "1740910449.5") }, nil, 401, jobs.CallbackBadSignature},
		{"6 minutes old", skewed(-6 * time.Minute), nil, 401, jobs.CallbackStale},
		{"6 minutes ahead", skewed(6 * time.Minute), nil, 401, jobs.CallbackStale},
		{"4 minutes old", skewed(-4 * time.Minute), nil, 200, jobs.CallbackWoken},
		{"4 minutes ahead", skewed(4 * time.Minute), nil, 200, jobs.CallbackWoken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newHookEnv(hookKey)
			ts, sig := stamp(e.now), ""
			if tc.ts != nil {
				ts, sig = tc.ts(e)
			}
			if tc.sig != nil {
				_, sig = tc.sig(e)
			}
			if sig == "" {
				sig = kie.Sign(hookKey, id, ts)
			}
			ts, sig = strings.TrimPrefix(ts, "-"), strings.TrimPrefix(sig, "-")
			w := e.post(body, ts, sig)
			if w.Code != tc.wantStatus || len(e.result) != 1 || e.result[0] != tc.wantResult {
				t.Fatalf("status %d, results %v; want %d %s (body %s)", w.Code, e.result, tc.wantStatus, tc.wantResult, w.Body)
			}
			woken := e.waker.calls()
			if tc.wantStatus == 200 && (len(woken) != 1 || woken[0] != id) {
				t.Errorf("woken %v; want [%s]", woken, id)
			}
			if tc.wantStatus != 200 && (len(woken) != 0 || e.guard.calls != 0) {
				t.Errorf("a refused callback reached Redis: %d wakes, %d replay checks", len(woken), e.guard.calls)
			}
			if out := e.logs.String(); strings.Contains(out, hookKey) || (sig != "" && strings.Contains(out, sig)) {
				t.Errorf("the log shows the HMAC key or the signature: %s", out)
			}
		})
	}
}

// skewed returns a timestamp d away from the env's now, with its valid signature.
func skewed(d time.Duration) func(e *hookEnv) (string, string) {
	return func(e *hookEnv) (string, string) {
		ts := stamp(e.now.Add(d))
		return ts, kie.Sign(hookKey, "mp4_9f21c0d4", ts)
	}
}

func TestWebhookHostileInput(t *testing.T) {
	e := newHookEnv(hookKey)
	ts := stamp(e.now)
	signed := func(id string) string { return kie.Sign(hookKey, id, ts) }
	big := `{"code":200,"msg":"` + strings.Repeat("x", jobs.MaxCallbackBytes) + `","data":{"task_id":"mp4_a"}}`
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"oversized", big, 413},
		{"malformed JSON", `{"code":200,"data":{"task_id":"mp4_a"`, 400},
		{"not an object", `["mp4_a"]`, 400},
		{"empty", ``, 400},
		{"no task id", `{"code":200,"data":{"video_url":"u"}}`, 400},
		{"task id with a colon", `{"code":200,"data":{"task_id":"mp4_a:x"}}`, 400},
		{"task id with a slash", `{"code":200,"data":{"task_id":"../../etc"}}`, 400},
	} {
		w := e.post(tc.body, ts, signed("mp4_a"))
		if w.Code != tc.want {
			t.Errorf("%s: status %d; want %d", tc.name, w.Code, tc.want)
		}
	}
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodHead} {
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, httptest.NewRequest(m, "/kie/mp4", nil))
		if w.Code != 405 || w.Header().Get("Allow") != http.MethodPost {
			t.Errorf("%s: status %d, Allow %q; want 405 and POST", m, w.Code, w.Header().Get("Allow"))
		}
	}
	if n := len(e.waker.calls()); n != 0 || e.guard.calls != 0 {
		t.Errorf("refused requests reached Redis: %d wakes, %d replay checks", n, e.guard.calls)
	}
}

func TestWebhookBothCasingsAndFailures(t *testing.T) {
	e := newHookEnv(hookKey)
	ts := stamp(e.now)
	bodies := map[string]string{
		"mp4_snake": successBody("mp4_snake"),
		"mp4_camel": `{"code":200,"msg":"ok","data":{"taskId":"mp4_camel","videoUrl":"https://tempfile.example/v/1.mp4"}}`,
		"mp4_top":   `{"code":200,"msg":"ok","taskId":"mp4_top","data":{"video_url":"u"}}`,
		"mp4_fail":  `{"code":501,"msg":"Generate mp4 failed","data":{"task_id":"mp4_fail","video_url":null}}`,
	}
	for id, body := range bodies {
		if w := e.post(body, ts, kie.Sign(hookKey, id, ts)); w.Code != 200 {
			t.Errorf("%s: status %d: %s", id, w.Code, w.Body)
		}
	}
	woken := map[string]bool{}
	for _, id := range e.waker.calls() {
		woken[id] = true
	}
	for id := range bodies {
		if !woken[id] {
			t.Errorf("%s was not woken (woken: %v)", id, e.waker.calls())
		}
	}
}

func TestWebhookReplayWithRedis(t *testing.T) {
	rdb, _ := storetest.Redis(t)
	ns := storetest.Namespace(t)
	storetest.Clean(t, rdb, ns)
	e := newHookEnv(hookKey)
	e.h.Replay = store.NewReplayGuard(rdb, ns)
	const id = "mp4_replayed"
	ts := stamp(e.now)
	for i := range 3 {
		if w := e.post(successBody(id), ts, kie.Sign(hookKey, id, ts)); w.Code != 200 {
			t.Fatalf("delivery %d: status %d", i, w.Code)
		}
	}
	if n := len(e.waker.calls()); n != 1 {
		t.Errorf("%d wakes for one callback delivered 3 times; want 1", n)
	}
	if want := []string{jobs.CallbackWoken, jobs.CallbackReplay, jobs.CallbackReplay}; strings.Join(e.result, ",") != strings.Join(want, ",") {
		t.Errorf("results %v; want %v", e.result, want)
	}
	ts2 := stamp(e.now.Add(time.Second)) // a genuine redelivery carries a new timestamp
	if w := e.post(successBody(id), ts2, kie.Sign(hookKey, id, ts2)); w.Code != 200 || len(e.waker.calls()) != 2 {
		t.Errorf("a new timestamp: status %d, %d wakes; want 200 and a second wake", w.Code, len(e.waker.calls()))
	}
	if ttl := rdb.TTL(context.Background(), ns+":cb:"+id+":"+ts).Val(); ttl < 10*time.Minute || ttl > jobs.ReplayTTL {
		t.Errorf("replay mark TTL %v; want over the 10-minute acceptance window", ttl)
	}
}

func TestWebhookInsecure(t *testing.T) {
	e := newHookEnv("")
	body := successBody("mp4_open")
	for range 2 {
		if w := e.post(body, "", ""); w.Code != 200 {
			t.Fatalf("unsigned callback without a key: status %d", w.Code)
		}
	}
	if n := len(e.waker.calls()); n != 1 {
		t.Errorf("%d wakes for the same unsigned body twice; want 1 (deduplicated on the body)", n)
	}
	if w := e.post(successBody("mp4_open2"), stamp(e.now.Add(-time.Hour)), ""); w.Code != 401 {
		t.Errorf("a stale timestamp without a key: status %d; want 401", w.Code)
	}
	// Unsigned callbacks for tasks kiemv does not follow change nothing and write nothing.
	e.waker.unknown = map[string]bool{}
	e.guard.mu.Lock()
	seen := e.guard.calls
	e.guard.mu.Unlock()
	for i := range 50 {
		id := fmt.Sprintf("mp4_forged%d", i)
		e.waker.unknown[id] = true
		if w := e.post(successBody(id), "", ""); w.Code != 200 {
			t.Fatalf("unsigned callback for an unknown task: status %d; want 200 (nothing said)", w.Code)
		}
	}
	if n := len(e.waker.calls()); n != 1 {
		t.Errorf("%d wakes after 50 unsigned callbacks for unknown tasks; want still 1", n)
	}
	e.guard.mu.Lock()
	got := e.guard.calls
	e.guard.mu.Unlock()
	if got != seen {
		t.Errorf("replay marks written for unknown tasks: %d calls, was %d", got, seen)
	}
}

func TestWebhookUnavailable(t *testing.T) {
	t.Run("wake fails", func(t *testing.T) {
		e := newHookEnv(hookKey)
		e.waker.err = errors.New("redis: connection refused")
		ts := stamp(e.now)
		sig := kie.Sign(hookKey, "mp4_x", ts)
		if w := e.post(successBody("mp4_x"), ts, sig); w.Code != 200 {
			t.Fatalf("status %d; want 200 whatever happens downstream", w.Code)
		}
		e.waker.err = nil
		if w := e.post(successBody("mp4_x"), ts, sig); w.Code != 200 || len(e.waker.calls()) != 2 {
			t.Errorf("redelivery after a failed wake: status %d, %d wakes; want 200 and a second wake (not a replay)", w.Code, len(e.waker.calls()))
		}
	})
	t.Run("redis hangs", func(t *testing.T) {
		e := newHookEnv(hookKey)
		e.guard.block = true
		e.h.Budget = 100 * time.Millisecond
		ts := stamp(e.now)
		start := time.Now()
		w := e.post(successBody("mp4_y"), ts, kie.Sign(hookKey, "mp4_y", ts))
		if w.Code != 200 || time.Since(start) > time.Second {
			t.Errorf("status %d after %v; want 200 within a second", w.Code, time.Since(start))
		}
	})
}
