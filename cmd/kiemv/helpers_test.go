package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store/storetest"
)

// testAPIKey is the key every test passes; no output may ever contain it.
const testAPIKey = "sk-kiemv-TEST-SECRET-0123456789"

// env is one isolated kiemv installation for a test: its own Redis namespace, simulator and
// download directory.
type env struct {
	t       *testing.T
	sim     *kiesim.Sim
	srv     *httptest.Server
	url     string
	ns      string
	dir     string
	mu      sync.Mutex
	allOut  bytes.Buffer // everything every command printed, for the secret check
	globals []string
}

func newEnv(t *testing.T, cfg kiesim.Config) *env {
	t.Helper()
	rdb, url := storetest.Redis(t)
	e := &env{t: t, url: url, ns: storetest.Namespace(t), dir: t.TempDir()}
	storetest.Clean(t, rdb, e.ns)
	cfg.APIKey = testAPIKey
	e.sim = kiesim.New(cfg)
	e.srv = httptest.NewServer(e.sim)
	t.Cleanup(e.srv.Close)
	e.globals = []string{"kiemv", "--redis-url", url, "--namespace", e.ns, "--kie-base-url", e.srv.URL,
		"--api-key", testAPIKey, "--download-dir", e.dir}
	return e
}

// kiemv runs the real CLI with the env's global flags and returns stdout, stderr and the exit code.
func (e *env) kiemv(ctx context.Context, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := run(ctx, append(append([]string(nil), e.globals...), args...), &out, &errb)
	e.mu.Lock()
	e.allOut.Write(out.Bytes())
	e.allOut.Write(errb.Bytes())
	e.mu.Unlock()
	return out.String(), errb.String(), code
}

// worker starts `kiemv worker` with args until the test ends; it logs into the env's output.
func (e *env) worker(args ...string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, stderr, code := e.kiemv(ctx, append([]string{"worker"}, args...)...)
		if code != 0 {
			e.t.Errorf("worker exited %d: %s", code, tail(stderr, 2000))
		}
	}()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			e.t.Error("worker did not stop within 20s of cancel")
		}
	})
}

// output returns everything printed so far.
func (e *env) output() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.allOut.String()
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// dumpFor logs every output line that mentions id, to explain a failure.
func dumpFor(t *testing.T, e *env, id string) {
	for _, l := range strings.Split(e.output(), "\n") {
		if strings.Contains(l, id) {
			t.Log(l)
		}
	}
}
