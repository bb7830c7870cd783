package jobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
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

// testFileSize is the default size of a simulated video: small, and not a multiple of any
// buffer size.
const testFileSize = 100_003

// env is one isolated installation for a test: its own Redis namespace and Asynq queues,
// simulator, KIE client and download directory. Everything is real; nothing is mocked.
type env struct {
	t      testing.TB
	ctx    context.Context
	rdb    *redis.Client
	url    string // Redis URL
	ns     string
	q      jobs.Queues
	sim    *kiesim.Sim
	srv    *httptest.Server
	kie    *kie.Client
	recs   *store.Records
	lim    *store.Limiter
	dir    *store.Dir
	client *asynq.Client
	insp   *asynq.Inspector
}

// newEnv builds an env. A zero cfg.ReadyAfter means "ready at once" and a zero FileSize
// means testFileSize, so that tests are fast unless they ask otherwise.
func newEnv(t testing.TB, cfg kiesim.Config) *env {
	t.Helper()
	if cfg.ReadyAfter == 0 {
		cfg.ReadyAfter = -1
	}
	if cfg.FileSize == 0 {
		cfg.FileSize = testFileSize
	}
	rdb, url := storetest.Redis(t)
	e := &env{t: t, ctx: context.Background(), rdb: rdb, url: url, ns: storetest.Namespace(t)}
	e.q = jobs.QueuesFor(e.ns)
	storetest.Clean(t, rdb, e.ns)
	e.sim = kiesim.New(cfg)
	e.srv = httptest.NewServer(e.sim)
	t.Cleanup(e.srv.Close)
	var err error
	if e.kie, err = kie.New(kie.Config{BaseURL: e.srv.URL, APIKey: "test-key", Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	e.recs = store.NewRecords(rdb, e.ns)
	if e.lim, err = store.NewLimiter(rdb, e.ns, store.Limits(1000, 1000)); err != nil {
		t.Fatal(err)
	}
	if e.dir, err = store.NewDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	e.client = asynq.NewClientFromRedisClient(rdb)
	e.insp = asynq.NewInspectorFromRedisClient(rdb)
	// Asynq's keys live outside the namespace, as asynq:{<ns>:poll}:… and asynq:{<ns>:download}:….
	storetest.Clean(t, rdb, "asynq:{"+e.ns)
	t.Cleanup(func() {
		_ = e.insp.DeleteQueue(e.q.Poll, true)
		_ = e.insp.DeleteQueue(e.q.Download, true)
	})
	return e
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func (e *env) poller() *jobs.Poller {
	return &jobs.Poller{KIE: e.kie, Store: e.recs, Limiter: e.lim, Enqueuer: e.client, Queues: e.q,
		Config: jobs.PollConfig{Interval: time.Second}, Log: quietLog()}
}

func (e *env) downloader() *jobs.Downloader {
	return &jobs.Downloader{KIE: e.kie, Store: e.recs, Files: e.dir, Log: quietLog(),
		Config: jobs.DownloadConfig{IdleTimeout: 5 * time.Second}}
}

func (e *env) service() *jobs.Service {
	return &jobs.Service{KIE: e.kie, Store: e.recs, Limiter: e.lim, Enqueuer: e.client, Queues: e.q,
		Tasks: e.insp, Log: quietLog()}
}

// simTask registers a task at the simulator (as if created elsewhere) and returns its id.
func (e *env) simTask(id string, f kiesim.Fate) string {
	e.sim.AddTask(id, "audio-"+id, f)
	return id
}

// record stores a record in state st, created at created (now if zero).
func (e *env) record(id string, st jobs.State, created time.Time, videoURL string) *jobs.Record {
	e.t.Helper()
	rec := &jobs.Record{TaskID: id, State: st, CreatedAt: created, VideoURL: videoURL}
	if ok, err := e.recs.Create(e.ctx, rec); err != nil || !ok {
		e.t.Fatalf("create record %s: %v, %v", id, ok, err)
	}
	return e.get(id)
}

func (e *env) get(id string) *jobs.Record {
	e.t.Helper()
	rec, err := e.recs.Get(e.ctx, id)
	if err != nil {
		e.t.Fatalf("get %s: %v", id, err)
	}
	return rec
}

// fileURL is the simulator's (unsigned) video URL of task id.
func (e *env) fileURL(id string) string { return e.srv.URL + kiesim.PathFiles + id + ".mp4" }

// serve starts a custom HTTP server for cases the simulator cannot produce.
func (e *env) serve(h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(h)
	e.t.Cleanup(srv.Close)
	return srv
}

// poll runs the poll task of the current generation of id's record.
func (e *env) poll(id string) error {
	return e.poller().ProcessTask(e.ctx, jobs.NewPollTask(id, e.gen(id), e.q, 0))
}

// download runs the download task of the current generation of id's record.
func (e *env) download(d *jobs.Downloader, id string) error {
	return d.ProcessTask(e.ctx, jobs.NewDownloadTask(id, e.gen(id), e.q, time.Minute))
}

// gen is the generation of id's record, 1 when there is none.
func (e *env) gen(id string) int64 {
	if rec, err := e.recs.Get(e.ctx, id); err == nil {
		return rec.Generation
	}
	return 1
}

// hasTask reports whether Asynq holds a task with that TaskID in queue.
func (e *env) hasTask(queue, taskID string) bool {
	e.t.Helper()
	_, err := e.insp.GetTaskInfo(queue, taskID)
	switch {
	case err == nil:
		return true
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return false
	}
	e.t.Fatalf("inspect %s %s: %v", queue, taskID, err)
	return false
}

// pollCount is how many record-info calls the simulator saw for id.
func (e *env) pollCount(id string) int { return e.sim.Stats().Polls[id] }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func fileSHA(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fakeMP4 returns n bytes that start like an MP4 (an ftyp box) and then vary with seed.
func fakeMP4(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	copy(b, []byte{0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm'})
	return b
}
