package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// TestBadInputRefusedBeforeAnyCall checks that malformed ids and flags end with exit 2 and a
// message naming the problem, before KIE or Redis is contacted (Redis points nowhere here).
func TestBadInputRefusedBeforeAnyCall(t *testing.T) {
	e := newEnv(t, kiesim.Config{})
	e.globals[2] = "redis://127.0.0.1:1/0" // unreachable: reaching it would be exit 1, not 2
	long := strings.Repeat("a", 129)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"path traversal audio id", []string{"submit", "--task-id", "m1", "--audio-id", "../../etc/passwd"}, "audio id"},
		{"slash in task id", []string{"submit", "--task-id", "a/b", "--audio-id", "x"}, "music task id"},
		{"id over 128 chars", []string{"submit", "--task-id", "m1", "--audio-id", long}, "128"},
		{"empty audio id", []string{"submit", "--task-id", "m1", "--audio-id", ""}, "audio id"},
		{"author too long", []string{"submit", "--task-id", "m1", "--audio-id", "a1", "--author", strings.Repeat("x", 51)}, "--author"},
		{"control character in author", []string{"submit", "--task-id", "m1", "--audio-id", "a1", "--author", "Ann\x1b[2J"}, "--author"},
		{"invalid UTF-8 in domain", []string{"submit", "--task-id", "m1", "--audio-id", "a1", "--domain", "ex\xffample"}, "--domain"},
		{"reconcile interval too short", []string{"worker", "--reconcile-interval", "100ms"}, "--reconcile-interval"},
		{"missing flag", []string{"submit", "--audio-id", "a1"}, "--task-id"},
		{"song with a bad task id", []string{"submit", "--task-id", "m/1"}, "music task id"},
		{"song with a bad author", []string{"submit", "--task-id", "m1", "--author", strings.Repeat("x", 51)}, "--author"},
		{"list --song bad id", []string{"list", "--song", "a b"}, "--song"},
		{"track bad id", []string{"track", "ok", "bad id"}, "mp4 task id"},
		{"track nothing", []string{"track"}, "at least one"},
		{"status bad id", []string{"status", "x;rm"}, "mp4 task id"},
		{"list unknown state", []string{"list", "--state", "done"}, "unknown state"},
		{"wait negative timeout", []string{"wait", "--timeout", "-1s", "abc"}, "--timeout"},
		{"worker interval too short", []string{"worker", "--poll-interval", "10ms"}, "100ms"},
		{"bad log format", []string{"--log-format", "xml", "list"}, "--log-format"},
		{"unknown flag", []string{"list", "--bogus"}, "bogus"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := e.kiemv(context.Background(), c.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr %q", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q does not mention %q", stderr, c.want)
			}
		})
	}
	if n := e.sim.Stats().CreateCalls; n != 0 {
		t.Errorf("%d creates reached KIE; bad input must be refused before any call", n)
	}
}

func TestNoAPIKeyIsOneLineBeforeAnyCall(t *testing.T) {
	e := newEnv(t, kiesim.Config{})
	t.Setenv("KIE_API_KEY", "")
	args := append([]string{}, e.globals...)
	for i, a := range args {
		if a == "--api-key" {
			args = append(args[:i], args[i+2:]...)
			break
		}
	}
	for _, cmd := range [][]string{{"submit", "--task-id", "m1", "--audio-id", "a1"}, {"track", "mp4_1"}, {"worker"}} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append(append([]string{}, args...), cmd...), &out, &errb)
		msg := strings.TrimSpace(errb.String())
		if code != exitUsage || !strings.Contains(msg, "KIE_API_KEY") || strings.Count(msg, "\n") != 0 {
			t.Errorf("%s without a key: exit %d, stderr %q; want exit 2 (missing configuration) and one line naming KIE_API_KEY", cmd[0], code, msg)
		}
	}
	if n := e.sim.Stats().CreateCalls; n != 0 {
		t.Errorf("%d creates reached KIE without a key", n)
	}
}

func TestRedisURLForms(t *testing.T) {
	e := newEnv(t, kiesim.Config{})
	e.globals[2] = "http://127.0.0.1:1"
	e.globals = append(e.globals, "--redis-wait", "0")
	if _, stderr, code := e.kiemv(context.Background(), "list"); code != exitUsage || !strings.Contains(stderr, "not a Redis URL") {
		t.Errorf("an http URL as --redis-url: exit %d, stderr %q; want exit 2", code, stderr)
	}
	e.globals[2] = "redis-sentinel://127.0.0.1:1?master=mymaster"
	if _, stderr, code := e.kiemv(context.Background(), "list"); code != exitFailure || !strings.Contains(stderr, "cannot reach Redis") {
		t.Errorf("an unreachable Sentinel: exit %d, stderr %q; want exit 1 and 'cannot reach Redis'", code, stderr)
	}
}

func TestRedisUnreachableSaysHowToStartIt(t *testing.T) {
	e := newEnv(t, kiesim.Config{})
	e.globals[2] = "redis://:hunter2@127.0.0.1:1/0"
	e.globals = append(e.globals, "--redis-wait", "0")
	_, stderr, code := e.kiemv(context.Background(), "list")
	msg := strings.TrimSpace(stderr)
	if code != exitFailure || strings.Count(msg, "\n") != 0 {
		t.Fatalf("exit %d, stderr %q; want exit 1 and one line", code, msg)
	}
	for _, want := range []string{"127.0.0.1:1", "redis-server", "REDIS_URL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error %q shows the Redis password", msg)
	}
}

// TestTrackStatusCancelRetry follows a task created elsewhere through stdin, and walks it
// through cancel and retry.
func TestTrackStatusCancelRetry(t *testing.T) {
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Hour})
	ctx := context.Background()
	e.sim.AddTask("mp4_elsewhere1", "aud1", kiesim.Fate{})
	var out, errb bytes.Buffer
	code := runWithInput(ctx, append(append([]string{}, e.globals...), "track", "-"), strings.NewReader("mp4_elsewhere1\nmp4_elsewhere2\n"), &out, &errb)
	if code != 0 || out.String() != "mp4_elsewhere1 pending\nmp4_elsewhere2 pending\n" {
		t.Fatalf("track -: exit %d, stdout %q, stderr %s", code, out.String(), errb.String())
	}
	if out, _, code := e.kiemv(ctx, "track", "mp4_elsewhere1"); code != 0 || out != "mp4_elsewhere1 pending\n" {
		t.Errorf("second track: exit %d, stdout %q", code, out)
	}
	if out, _, code := e.kiemv(ctx, "status", "mp4_elsewhere1"); code != 0 || !strings.Contains(out, "pending") {
		t.Errorf("status: exit %d, stdout %q", code, out)
	}
	if _, stderr, code := e.kiemv(ctx, "status", "mp4_unknown"); code != exitFailure || !strings.Contains(stderr, "kiemv track mp4_unknown") {
		t.Errorf("status of an unknown id: exit %d, stderr %q", code, stderr)
	}
	if out, _, code := e.kiemv(ctx, "cancel", "mp4_elsewhere2"); code != 0 || out != "mp4_elsewhere2 canceled\n" {
		t.Errorf("cancel: exit %d, stdout %q", code, out)
	}
	if _, stderr, code := e.kiemv(ctx, "cancel", "mp4_nobody"); code != exitFailure || !strings.Contains(stderr, "mp4_nobody") {
		t.Errorf("cancel of an unknown id: exit %d, stderr %q; want a failure naming the id", code, stderr)
	}
	if out, _, code := e.kiemv(ctx, "list", "--state", "canceled", "--json"); code != 0 || !strings.Contains(out, `"task_id":"mp4_elsewhere2"`) || strings.Contains(out, "mp4_elsewhere1") {
		t.Errorf("list --state canceled: exit %d, stdout %q", code, out)
	}
	if out, _, code := e.kiemv(ctx, "retry", "mp4_elsewhere2"); code != 0 || out != "mp4_elsewhere2 pending\n" {
		t.Errorf("retry: exit %d, stdout %q", code, out)
	}
	wout, stderr, code := e.kiemv(ctx, "wait", "--timeout", "300ms", "mp4_elsewhere1")
	if code != exitTimeout || !strings.Contains(stderr, "still pending") || wout != "mp4_elsewhere1 pending\n" {
		t.Errorf("wait on a pending task: exit %d, stdout %q, stderr %q", code, wout, stderr)
	}
}

// TestHelp checks every way of asking for help, since kiemv builds its own help command and
// flag (urfave/cli's are shared global state).
func TestHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"kiemv", "--help"}, "--api-key"},
		{[]string{"kiemv", "-h"}, "GLOBAL OPTIONS"},
		{[]string{"kiemv", "help"}, "COMMANDS"},
		{[]string{"kiemv", "help", "wait"}, "kiemv wait"},
		{[]string{"kiemv", "wait", "--help"}, "--timeout"},
		{[]string{"kiemv", "worker", "-h"}, "--poll-interval"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), c.args, &out, &errb)
		if code != 0 || !strings.Contains(out.String(), c.want) {
			t.Errorf("%v: exit %d, stdout %.200q, stderr %q; want exit 0 and %q", c.args[1:], code, out.String(), errb.String(), c.want)
		}
	}
}

// TestUsageErrorsAreOneLine: a usage error prints one line on stderr saying what is wrong and
// what to run, nothing on stdout (`id=$(kiemv submit …)` must not capture a page of help),
// and exits 2.
func TestUsageErrorsAreOneLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"submit", "--audio-id", "a1"}, "--task-id"},
		{[]string{"submit"}, "--task-id"}, // a whole song needs its music task id too
		{[]string{"submit", "--api-key", "x", "--task-id", "m", "--audio-id", "a"}, "--api-key is a global flag: put it before the command, as in `kiemv --api-key … submit …`"},
		{[]string{"list", "--bogus"}, "kiemv list has no flag --bogus: run `kiemv list --help`"},
		{[]string{"wait", "mp4_x", "--timeout", "5s"}, `"--timeout" after the ids: flags go before the ids`},
		{[]string{"cancel", "mp4_x", "-x"}, "flags go before the ids"},
		{[]string{"frobnicate"}, `unknown command "frobnicate": run ` + "`kiemv --help`"},
		{[]string{"--bogus-global", "list"}, "kiemv has no flag --bogus-global"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"kiemv", "--redis-url", "redis://127.0.0.1:1/0"}, c.args...), &out, &errb)
		msg := strings.TrimSpace(errb.String())
		if code != exitUsage || out.Len() != 0 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, c.want) {
			t.Errorf("%v: exit %d, stdout %d bytes, stderr %q; want exit 2, nothing on stdout, one line saying %q", c.args, code, out.Len(), msg, c.want)
		}
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"kiemv", "--version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "kiemv version ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

// TestCommandsWaitForARestartingRedis: a command started while Redis is down waits for it (up
// to --redis-wait), saying so once, and then does its work.
func TestCommandsWaitForARestartingRedis(t *testing.T) {
	addr := freeAddr(t)
	go func() {
		time.Sleep(4 * time.Second) // past the first attempt's 3 s ping
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr(addr); err != nil {
			t.Errorf("start Redis on %s: %v", addr, err)
			return
		}
		t.Cleanup(mr.Close)
	}()
	var out, errb bytes.Buffer
	start := time.Now()
	code := run(context.Background(), []string{"kiemv", "--redis-url", "redis://" + addr + "/0", "--redis-wait", "10s", "list"}, &out, &errb)
	if code != 0 || strings.Count(errb.String(), "Redis does not answer; waiting") != 1 || time.Since(start) > 9*time.Second {
		t.Errorf("list while Redis starts: exit %d after %v, stderr %q; want 0 after saying once that it waits", code, time.Since(start), errb.String())
	}
	errb.Reset()
	start = time.Now()
	code = run(context.Background(), []string{"kiemv", "--redis-url", "redis://127.0.0.1:1/0", "--redis-wait", "1500ms", "list"}, &out, &errb)
	if took := time.Since(start); code != exitFailure || took < 1500*time.Millisecond || took > 6*time.Second || !strings.Contains(errb.String(), "cannot reach Redis") {
		t.Errorf("list with Redis down: exit %d after %v, stderr %q; want 1 after about --redis-wait", code, took, errb.String())
	}
}

// TestWorkerStopsWithRedisDown: SIGTERM (here: the context) stops a worker within
// --shutdown-timeout plus a few seconds even when Redis is gone and every write retries.
func TestWorkerStopsWithRedisDown(t *testing.T) {
	mr := miniredis.RunT(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb syncBuffer
	go func() {
		done <- run(ctx, []string{"kiemv", "--redis-url", "redis://" + mr.Addr() + "/0", "--api-key", "k",
			"--download-dir", t.TempDir(), "worker", "--shutdown-timeout", "1s"}, io.Discard, &errb)
	}()
	waitFor(t, &errb, &errb, regexp.MustCompile(`worker started`), 10*time.Second)
	mr.Close()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case code := <-done:
		if took := time.Since(start); code != 0 || took > 8*time.Second {
			t.Errorf("worker with Redis down: exit %d after %v; want 0 within --shutdown-timeout + 5 s", code, took)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker with Redis down did not stop within 30 s")
	}
}

// TestErrorsRedactURLPasswords: whatever URL an error quotes, well-formed or not, its
// password is not printed.
func TestErrorsRedactURLPasswords(t *testing.T) {
	for _, args := range [][]string{
		{"--kie-base-url", "http://user:s3cr3t-pw@kie.example/x?y=1", "submit", "--task-id", "m", "--audio-id", "a"},
		{"--api-key", "k", "submit", "--task-id", "m", "--audio-id", "a", "--callback-url", "ftp://hook:s3cr3t-pw@hooks.example/kie"},
		{"--redis-url", "redis://:s3cr3t-pw@127.0.0.1:notaport/0", "list"},
		{"dashboard", "--prometheus-url", "prom:s3cr3t-pw@9090"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"kiemv", "--redis-wait", "0"}, args...), &out, &errb)
		if code == 0 || strings.Contains(errb.String()+out.String(), "s3cr3t-pw") {
			t.Errorf("%v: exit %d, stderr %q; want an error without the password", args, code, errb.String())
		}
	}
}
