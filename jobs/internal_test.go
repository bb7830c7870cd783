package jobs

// Internal tests of unexported helpers. Everything that needs a store lives in the external
// jobs_test package (store imports jobs).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestWaitErrorsAreNotFailures(t *testing.T) {
	t.Parallel()
	b := Backoff{Base: time.Second, Max: 5 * time.Minute}
	for _, c := range []struct {
		err   error
		delay time.Duration
	}{
		{&notReadyError{id: "x", delay: 7 * time.Second}, 7 * time.Second},
		{fmt.Errorf("wrapped: %w", &notReadyError{id: "x", delay: 3 * time.Second}), 3 * time.Second},
		{&rateLimitedError{delay: 90 * time.Second, cause: "KIE"}, 90 * time.Second},
	} {
		if IsFailure(c.err) {
			t.Errorf("IsFailure(%v) = true", c.err)
		}
		// Their own delay wins over the backoff, whatever the retry count.
		for _, n := range []int{0, 10, 39} {
			if d := b.RetryDelay(n, c.err, nil); d < c.delay || d > c.delay+1100*time.Millisecond {
				t.Errorf("RetryDelay(%d, %v) = %v, want %v (rounded up to a whole second)", n, c.err, d, c.delay)
			}
		}
	}
}

func TestHTTPStatusRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("download: %w", &httpStatusError{status: 503, retryAfter: 2 * time.Minute})
	b := Backoff{Base: time.Second, Max: 5 * time.Minute}
	if d := b.RetryDelay(0, err, nil); d < 2*time.Minute {
		t.Errorf("RetryDelay = %v, want at least the Retry-After of 2m", d)
	}
	// But never more than Max: a file host's Retry-After of 95 years parks nothing for years.
	far := fmt.Errorf("download: %w", &httpStatusError{status: 503, retryAfter: 95 * 365 * 24 * time.Hour})
	if d := b.RetryDelay(0, far, nil); d > 5*time.Minute+1100*time.Millisecond {
		t.Errorf("RetryDelay with Retry-After 95 years = %v; want at most Max (5m)", d)
	}
	if d := b.RetryDelay(0, &rateLimitedError{delay: time.Hour, cause: "KIE"}, nil); d > 5*time.Minute+1100*time.Millisecond {
		t.Errorf("a rate limit's wait of 1h = %v; want at most Max (5m)", d)
	}
	if !IsFailure(err) {
		t.Error("an HTTP 503 is a (counted) failure")
	}
}

func TestJitterBounds(t *testing.T) {
	t.Parallel()
	lo, hi := time.Hour, time.Duration(0)
	for range 5000 {
		d := jitter(10*time.Second, 0.25)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 7500*time.Millisecond || hi > 12500*time.Millisecond || hi-lo < 4*time.Second {
		t.Errorf("jitter(10s, 25%%) ranged over [%v, %v]", lo, hi)
	}
	if jitter(0, 0.5) != 0 || jitter(-time.Second, 0.5) != -time.Second {
		t.Error("jitter of a non-positive duration must leave it alone")
	}
}

func TestParseContentRange(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/1", 0, 1, true},
		{"bytes 5-9/*", 5, -1, true},
		{"", 0, 0, false},
		{"bytes */200", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
	} {
		start, total, ok := parseContentRange(c.in)
		if ok != c.ok || (ok && (start != c.start || total != c.total)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", c.in, start, total, ok)
		}
	}
}

func TestParseUnsatisfied(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in    string
		total int64
		ok    bool
	}{
		{"bytes */200", 200, true},
		{"bytes */0", 0, true},
		{"bytes */*", 0, false},
		{"bytes */-1", 0, false},
		{"bytes */200x", 0, false},
		{"bytes 0-9/200", 0, false},
		{"", 0, false},
	} {
		total, ok := parseUnsatisfied(c.in)
		if ok != c.ok || total != c.total {
			t.Errorf("parseUnsatisfied(%q) = %d, %v", c.in, total, ok)
		}
	}
}

func TestStrongETag(t *testing.T) {
	t.Parallel()
	if strongETag(`"abc"`) != `"abc"` || strongETag(`W/"abc"`) != "" || strongETag("") != "" {
		t.Error("strongETag")
	}
}

func TestCheckRedirect(t *testing.T) {
	t.Parallel()
	req := func(raw string) *http.Request {
		u, _ := url.Parse(raw)
		return &http.Request{URL: u}
	}
	via := func(n int) []*http.Request {
		v := make([]*http.Request, n)
		for i := range v {
			v[i] = req("http://h/")
		}
		return v
	}
	// The request that follows redirect number k has k earlier requests in via.
	for k := 1; k <= maxRedirects; k++ {
		if err := checkRedirect(req("https://h/x"), via(k)); err != nil {
			t.Errorf("redirect %d of at most %d refused: %v", k, maxRedirects, err)
		}
	}
	if err := checkRedirect(req("https://h/x"), via(maxRedirects+1)); err == nil {
		t.Errorf("redirect %d allowed", maxRedirects+1)
	}
	for _, raw := range []string{"ftp://h/x", "file:///etc/passwd", "gopher://h/"} {
		err := checkRedirect(req(raw), via(1))
		if _, ok := err.(*permanentError); !ok {
			t.Errorf("redirect to %s: %v, want a permanent error", raw, err)
		}
	}
}

// quickPayload reads what newTask writes, and whatever it accepts the JSON decoder reads
// the same way.
func FuzzQuickPayload(f *testing.F) {
	for _, p := range []payload{{ID: "mp4_a"}, {ID: "mp4_b", Gen: 7}, {ID: "x", Gen: 1 << 40}} {
		b, _ := json.Marshal(p)
		f.Add(b)
	}
	for _, s := range []string{`{"id":"a\u0062"}`, `{"id":"a","gen":+5}`, `{"id":"a","gen":05}`, `{"id":"a","gen":-1}`,
		`{"id":"a","gen":1.5}`, `{"id":"a"} `, `{"id":"a","gen":}`, `{"id":"a","gen":99999999999999999999}`, `{"gen":2,"id":"a"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := quickPayload(b)
		if !ok {
			return
		}
		var want payload
		if err := json.Unmarshal(b, &want); err != nil || want != p {
			t.Fatalf("quickPayload(%q) = %+v; encoding/json says %+v, %v", b, p, want, err)
		}
	})
}

func TestQuickPayloadReadsWhatNewTaskWrites(t *testing.T) {
	for _, gen := range []int64{1, 2, 1234567} {
		task := NewPollTask("mp4_q", gen, QueuesFor("t"), 0)
		if _, ok := quickPayload(task.Payload()); !ok {
			t.Errorf("payload %s took the slow path", task.Payload())
		}
		if id, g, err := taskRef(task); err != nil || id != "mp4_q" || g != gen {
			t.Errorf("taskRef(%s) = %s, %d, %v", task.Payload(), id, g, err)
		}
	}
}
