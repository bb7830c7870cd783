//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
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
)

// submit creates the MP4 task of audio through `kiemv submit` and returns its id.
func (r *rig) submit(audio string, args ...string) string {
	r.t.Helper()
	out, stderr, code := r.cli(append([]string{"submit", "--task-id", "music-rel", "--audio-id", audio, "--first-poll", "0s"}, args...)...)
	id := strings.TrimSpace(out)
	if code != 0 || jobs.ValidateID("id", id) != nil {
		r.t.Fatalf("submit %s: exit %d, stdout %q, stderr %s", audio, code, out, tail(stderr, 1000))
	}
	r.mu.Lock()
	r.audio[id] = audio
	r.mu.Unlock()
	return id
}

// records reads every record of the namespace through `kiemv list --json`.
func (r *rig) records() map[string]*jobs.Record {
	r.t.Helper()
	out, stderr, code := r.cli("list", "--json", "--limit", "10000")
	if code != 0 {
		r.t.Fatalf("list --json: exit %d: %s", code, stderr)
	}
	recs := map[string]*jobs.Record{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var rec jobs.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			r.t.Fatalf("list --json line %q: %v", line, err)
		}
		recs[rec.TaskID] = &rec
	}
	return recs
}

// waitFor checks cond every 100ms until it holds, or fails the test after d.
func (r *rig) waitFor(what string, d time.Duration, cond func() bool) {
	r.t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

// allIn reports whether every id's record is in state st (read straight from Redis: cheap).
func (r *rig) allIn(st jobs.State, ids ...string) bool {
	for _, id := range ids {
		if s, _ := r.rdb.HGet(context.Background(), r.ns+":rec:"+id, "state").Result(); s != string(st) {
			return false
		}
	}
	return true
}

// partSize is the size of id's partial file, or -1 if there is none.
func (r *rig) partSize(id string) int64 {
	st, err := os.Stat(filepath.Join(r.dir, id+".mp4.part"))
	if err != nil {
		return -1
	}
	return st.Size()
}

// task returns the Asynq task with taskID in queue (nil if there is none).
func (r *rig) task(queue, taskID string) *asynq.TaskInfo {
	r.t.Helper()
	info, err := r.insp.GetTaskInfo(queue, taskID)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	} else if err != nil {
		r.t.Fatalf("inspect %s %s: %v", queue, taskID, err)
	}
	return info
}

// verifyDownloaded checks each id ended downloaded with exactly the simulator's bytes, no
// partial file left, and one KIE create for its audio; and that no task was ever polled twice
// at once.
func (r *rig) verifyDownloaded(ids ...string) {
	r.t.Helper()
	recs, st := r.records(), r.sim.Stats()
	for _, id := range ids {
		rec := recs[id]
		if rec == nil || rec.State != jobs.StateDownloaded {
			r.t.Errorf("%s: record %+v; want downloaded", id, rec)
			continue
		}
		want, err := r.sim.FileSHA256(id)
		if err != nil {
			r.t.Fatal(err)
		}
		final := filepath.Join(r.dir, id+".mp4")
		if got := fileSHA256(r.t, final); got != want || rec.SHA256 != want || rec.Bytes != r.sim.FileSize(id) || rec.File != final {
			r.t.Errorf("%s: file sha256 %s, record %s (%d bytes at %s); simulator %s (%d bytes)", id, got, rec.SHA256, rec.Bytes, rec.File, want, r.sim.FileSize(id))
		}
		if r.partSize(id) >= 0 {
			r.t.Errorf("%s: a partial file is left next to the final one", id)
		}
		r.mu.Lock()
		audio := r.audio[id]
		r.mu.Unlock()
		if audio != "" && st.Creates[audio] != 1 {
			r.t.Errorf("%s: %d KIE creates for audio %s; want exactly 1", id, st.Creates[audio], audio)
		}
	}
	if st.MaxConcurrentPolls > 1 {
		r.t.Errorf("a task was polled %d times at once; want never more than once", st.MaxConcurrentPolls)
	}
}

// noneEnded fails the test if a record reached a terminal state other than downloaded.
func (r *rig) noneEnded(when string) {
	r.t.Helper()
	for id, rec := range r.records() {
		if rec.State.Terminal() && rec.State != jobs.StateDownloaded {
			r.t.Fatalf("%s: %s ended %s: %s", when, id, rec.State, rec.Error)
		}
	}
}

// watchFinals checks, every 50ms until the test ends, that every final <id>.mp4 in the
// download directory has the full size of the simulator's video: a final file is never partial.
func (r *rig) watchFinals() {
	stop, done := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var bad []string
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			files, _ := filepath.Glob(filepath.Join(r.dir, "*.mp4"))
			for _, f := range files {
				st, err := os.Stat(f)
				id := strings.TrimSuffix(filepath.Base(f), ".mp4")
				if want := r.sim.FileSize(id); err == nil && st.Size() != want {
					mu.Lock()
					bad = append(bad, f+" has "+strconv.FormatInt(st.Size(), 10)+" bytes, want "+strconv.FormatInt(want, 10))
					mu.Unlock()
				}
			}
		}
	}()
	r.t.Cleanup(func() {
		close(stop)
		<-done
		for _, b := range bad {
			r.t.Errorf("a final file was partial: %s", b)
		}
	})
}

// ownRedis is a redis-server started by a test, which may stop and restart it.
type ownRedis struct {
	t    *testing.T
	port string
	dir  string
	url  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startOwnRedis starts a redis-server with AOF (fsync always) on a free loopback port, or
// skips the test when there is no redis-server on PATH. It is shut down when the test ends.
func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("reliability suite: skipped; the Redis restart test needs redis-server on PATH (apt-get install redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	s := &ownRedis{t: t, port: port, dir: t.TempDir(), url: "redis://127.0.0.1:" + port + "/0"}
	s.start()
	t.Cleanup(s.kill)
	return s
}

// start runs the server on its port and directory (loading its AOF) and waits for PING.
func (s *ownRedis) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", s.port, "--bind", "127.0.0.1", "--dir", s.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--logfile", filepath.Join(s.dir, "redis.log"))
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(s.cmd, s.done)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + s.port})
	defer rdb.Close()
	for deadline := time.Now().Add(20 * time.Second); rdb.Ping(context.Background()).Err() != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %s did not answer within 20s", s.port)
		}
	}
}

// kill stops the server with SIGKILL (a crash; AOF with fsync always loses nothing).
func (s *ownRedis) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}
