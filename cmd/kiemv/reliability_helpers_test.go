//go:build linux

package main

// The reliability suite (reliability_*_test.go) runs the built kiemv binary as real worker
// and CLI processes against a real Redis and an in-process KIE simulator, kills and starves
// them, and checks that nothing is lost. It needs KIEMV_TEST_REDIS_URL (CI's .ci/run sets it);
// some tests also need redis-server on PATH or the right to mount a tmpfs, and say so when
// they skip.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store/storetest"
)

// needRealRedis skips the test unless KIEMV_TEST_REDIS_URL names a real Redis.
func needRealRedis(t *testing.T) {
	t.Helper()
	if os.Getenv(storetest.EnvURL) == "" {
		t.Skipf("reliability suite: skipped; it runs kiemv worker processes against a real Redis: set %s=redis://127.0.0.1:6379/0 (.ci/run does)", storetest.EnvURL)
	}
	if testing.Short() {
		t.Skip("reliability suite: skipped in -short mode")
	}
}

// buildDirPrefix names the temporary directories that hold the binary built by a test process.
const buildDirPrefix = "kiemv-reliability-"

var built struct {
	once sync.Once
	path string
	err  error
}

// kiemvBinary builds ./ (cmd/kiemv, the test's working directory) once per test process.
// Binaries of test processes that have ended are removed first.
func kiemvBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		stale, _ := filepath.Glob(filepath.Join(os.TempDir(), buildDirPrefix+"*"))
		for _, d := range stale {
			pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), buildDirPrefix))
			if err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
				os.RemoveAll(d)
			}
		}
		dir := filepath.Join(os.TempDir(), buildDirPrefix+strconv.Itoa(os.Getpid()))
		if built.err = os.MkdirAll(dir, 0o755); built.err != nil {
			return
		}
		path := filepath.Join(dir, "kiemv")
		if out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		built.path = path
	})
	if built.err != nil {
		t.Fatalf("build kiemv: %v", built.err)
	}
	return built.path
}

// secret returns a fresh key that looks like what it stands for.
func secret(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// rig is one isolated kiemv installation run as real processes: a Redis namespace, a
// simulator in this process (so the test can read its Stats), a download directory and a
// directory of process logs.
type rig struct {
	t        *testing.T
	bin      string
	sim      *kiesim.Sim
	srv      *httptest.Server
	rdb      *redis.Client
	redisURL string
	ns       string
	q        jobs.Queues
	dir      string
	logDir   string
	apiKey   string
	env      []string // added to every process's environment
	insp     *asynq.Inspector

	mu     sync.Mutex
	cliOut bytes.Buffer      // everything every CLI run printed
	procs  []*proc           // every process started
	audio  map[string]string // mp4 task id → audio id
}

// rigOptions are the optional parts of a rig.
type rigOptions struct {
	RedisURL string // default KIEMV_TEST_REDIS_URL
	Dir      string // download directory (default a fresh temporary one), or a bucket URL
	// Wrap, when set, wraps the simulator's handler (to watch the requests it serves).
	Wrap func(http.Handler) http.Handler
}

// newRig builds a rig whose simulator is configured by cfg (its APIKey is set here). Worker
// processes are killed and the namespace's keys removed when the test ends.
func newRig(t *testing.T, cfg kiesim.Config, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, bin: kiemvBinary(t), ns: storetest.Namespace(t), dir: o.Dir, logDir: t.TempDir(),
		apiKey: secret("sk-RELIABILITY-SECRET-"), audio: map[string]string{}, redisURL: o.RedisURL}
	if r.redisURL == "" {
		r.redisURL = os.Getenv(storetest.EnvURL)
	}
	if r.dir == "" {
		r.dir = t.TempDir()
	}
	opt, err := redis.ParseURL(r.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	r.rdb = redis.NewClient(opt)
	t.Cleanup(func() { r.rdb.Close() })
	r.q = jobs.QueuesFor(r.ns)
	r.insp = asynq.NewInspectorFromRedisClient(r.rdb)
	storetest.Clean(t, r.rdb, r.ns)
	storetest.Clean(t, r.rdb, "asynq:{"+r.ns)
	t.Cleanup(func() {
		_ = r.insp.DeleteQueue(r.q.Poll, true)
		_ = r.insp.DeleteQueue(r.q.Download, true)
	})
	cfg.APIKey = r.apiKey
	r.sim = kiesim.New(cfg)
	var h http.Handler = r.sim
	if o.Wrap != nil {
		h = o.Wrap(h)
	}
	r.srv = httptest.NewServer(h)
	t.Cleanup(r.srv.Close)
	t.Cleanup(r.sim.Close)
	r.env = []string{"REDIS_URL=" + r.redisURL, "KIE_API_KEY=" + r.apiKey, "KIE_BASE_URL=" + r.srv.URL,
		"KIEMV_NAMESPACE=" + r.ns, "KIEMV_DOWNLOAD_DIR=" + r.dir, "KIEMV_CREATE_LIMIT=1000",
		"KIEMV_RECORD_INFO_LIMIT=1000", "KIEMV_KIE_TIMEOUT=90s"}
	t.Cleanup(r.stopAll) // runs first: no process may outlive the server and keys it uses
	r.watchFinals()
	return r
}

// environ is the environment of a kiemv process: the test's, without any kiemv setting, plus
// the rig's.
func (r *rig) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KIEMV_") && !strings.HasPrefix(kv, "KIE_") && !strings.HasPrefix(kv, "REDIS_URL=") {
			env = append(env, kv)
		}
	}
	return append(env, r.env...)
}

// proc is a kiemv process started by the rig. Its stdout and stderr go to log.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	code int
}

// start runs the kiemv binary with args in the background.
func (r *rig) start(name string, args ...string) *proc {
	r.t.Helper()
	p := &proc{name: name, log: filepath.Join(r.logDir, name+".log"), done: make(chan struct{})}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	p.cmd = exec.Command(r.bin, args...)
	p.cmd.Env = r.environ()
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := p.cmd.Start(); err != nil {
		f.Close()
		r.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		f.Close()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	return p
}

// workerArgs are the worker flags of the suite: fast polls, short backoffs.
var workerArgs = []string{"--poll-interval", "1s", "--poll-timeout", "10m", "--concurrency", "10",
	"--download-concurrency", "4", "--max-backoff", "5s", "--shutdown-timeout", "5s"}

// worker starts `kiemv worker` with the suite's flags, then args (later flags win).
func (r *rig) worker(name string, args ...string) *proc {
	return r.start(name, append(append([]string{"worker"}, workerArgs...), args...)...)
}

// signal sends sig to p and waits up to d for it to exit; it returns the exit code.
func (r *rig) signal(p *proc, sig syscall.Signal, d time.Duration) int {
	r.t.Helper()
	_ = p.cmd.Process.Signal(sig)
	return r.waitExit(p, d)
}

// waitExit waits up to d for p to exit and returns its exit code, or fails the test.
func (r *rig) waitExit(p *proc, d time.Duration) int {
	r.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		r.t.Fatalf("%s did not exit within %v", p.name, d)
	}
	return 0
}

// stopAll kills every process still running and, if the test failed, logs their output.
func (r *rig) stopAll() {
	r.mu.Lock()
	procs := append([]*proc(nil), r.procs...)
	r.mu.Unlock()
	for _, p := range procs {
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			r.t.Errorf("%s survived SIGKILL for 10s", p.name)
		}
	}
	if keep := os.Getenv("KIEMV_TEST_KEEP_LOGS"); keep != "" { // a directory to copy the logs to
		dst := filepath.Join(keep, r.t.Name())
		_ = os.MkdirAll(dst, 0o755)
		for _, p := range procs {
			b, _ := os.ReadFile(p.log)
			_ = os.WriteFile(filepath.Join(dst, p.name+".log"), b, 0o644)
		}
	}
	if r.t.Failed() {
		for _, p := range procs {
			b, _ := os.ReadFile(p.log)
			r.t.Logf("--- %s (exit %d) ---\n%s", p.name, p.code, tail(string(b), 3000))
		}
	}
}

// cli runs a kiemv command to completion and returns its stdout, stderr and exit code.
func (r *rig) cli(args ...string) (string, string, int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = r.environ(), &out, &errb
	_ = cmd.Run()
	r.mu.Lock()
	r.cliOut.Write(out.Bytes())
	r.cliOut.Write(errb.Bytes())
	r.mu.Unlock()
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}
