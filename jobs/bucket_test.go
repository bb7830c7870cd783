package jobs_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

// bucketEnv is an env whose downloads go to a bucket of an in-process S3 server.
type bucketEnv struct {
	*env
	s3     *storetest.S3
	ranges atomic.Int64 // video GETs that asked for a Range
	video  string       // base URL of the video host (the simulator, counting Range requests)
}

func newBucketEnv(t *testing.T, cfg kiesim.Config) *bucketEnv {
	e := &bucketEnv{env: newEnv(t, cfg), s3: storetest.NewS3(t, "videos")}
	e.video = e.serve(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			e.ranges.Add(1)
		}
		e.sim.ServeHTTP(w, r)
	}).URL
	return e
}

// bucket opens the test bucket (under prefix "lib") with a scratch directory of its own: one
// per simulated machine.
func (e *bucketEnv) bucket(dest string) *store.Bucket {
	e.t.Helper()
	if dest == "" {
		dest = e.s3.URL("videos", "lib")
	}
	b, err := store.OpenBucket(e.ctx, dest, e.t.TempDir())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { b.Close() })
	return b
}

func (e *bucketEnv) downloaderTo(b *store.Bucket) *jobs.Downloader {
	d := e.downloader()
	d.Files = b
	return d
}

func (e *bucketEnv) ready(id string, f kiesim.Fate) {
	e.simTask(id, f)
	e.record(id, jobs.StateReady, time.Time{}, e.video+kiesim.PathFiles+id+".mp4")
}

// wantObject checks that id ended downloaded into the bucket with exactly the simulator's
// video, and that b's scratch directory holds nothing of it.
func (e *bucketEnv) wantObject(b *store.Bucket, id string) {
	e.t.Helper()
	want := e.simSHA(id)
	rec := e.get(id)
	if rec.State != jobs.StateDownloaded || rec.File != "s3://videos/lib/"+id+".mp4" || rec.SHA256 != want {
		e.t.Fatalf("record %+v; want downloaded to s3://videos/lib/%s.mp4 with sha256 %s", rec, id, want)
	}
	obj, err := e.s3.Backend.GetObject("videos", "lib/"+id+".mp4", nil)
	if err != nil {
		e.t.Fatalf("object of %s: %v", id, err)
	}
	defer obj.Contents.Close()
	data, _ := io.ReadAll(obj.Contents)
	if sha(data) != want || int64(len(data)) != rec.Bytes {
		e.t.Errorf("object of %s: %d bytes, sha256 %s; want %s", id, len(data), sha(data), want)
	}
	for _, name := range []string{id + ".mp4", id + ".mp4.part"} {
		if exists(filepath.Join(b.Scratch().Path(), name)) {
			e.t.Errorf("%s left in the scratch directory", name)
		}
	}
}

func TestDownloadToBucket(t *testing.T) {
	t.Parallel()
	e := newBucketEnv(t, kiesim.Config{})
	b := e.bucket("")
	e.ready("mp4_s3", kiesim.Fate{})
	if err := e.download(e.downloaderTo(b), "mp4_s3"); err != nil {
		t.Fatal(err)
	}
	e.wantObject(b, "mp4_s3")
	if rec := e.get("mp4_s3"); strings.Contains(rec.File, "?") || strings.Contains(rec.File, storetest.S3AccessKey) {
		t.Errorf("record's file %q holds a query or credentials", rec.File)
	}
	// The sidecar is the object beside the video: what the file is, no URL and no secret.
	obj, err := e.s3.Backend.GetObject("videos", "lib/mp4_s3.json", nil)
	if err != nil {
		t.Fatalf("sidecar object: %v", err)
	}
	defer obj.Contents.Close()
	var sc jobs.Sidecar
	if err := json.NewDecoder(obj.Contents).Decode(&sc); err != nil {
		t.Fatalf("sidecar object: %v", err)
	}
	if rec := e.get("mp4_s3"); sc.MP4TaskID != "mp4_s3" || sc.SHA256 != rec.SHA256 || sc.Bytes != rec.Bytes || sc.File != "mp4_s3.mp4" {
		t.Errorf("sidecar %+v; want the record's id, bytes and sha256, and the video's name beside it (%+v)", sc, rec)
	}
}

// A worker killed while it uploads leaves no object under the final name; the next attempt
// uploads again from the staged file, without fetching the video again.
func TestDownloadKilledDuringUploadUploadsTheStagedFile(t *testing.T) {
	t.Parallel()
	e := newBucketEnv(t, kiesim.Config{FileSize: 3<<20 + 5})
	b := e.bucket("")
	id := "mp4_kill"
	e.ready(id, kiesim.Fate{})
	ctx, kill := context.WithCancel(e.ctx)
	var killed atomic.Bool
	e.s3.Before = func(r *http.Request) {
		if (r.Method == http.MethodPut || r.Method == http.MethodPost) && !killed.Swap(true) {
			kill()
			panic(http.ErrAbortHandler) // the connection is cut: the server never sees the whole upload
		}
	}
	err := e.downloaderTo(b).ProcessTask(ctx, jobs.NewDownloadTask(id, e.gen(id), e.q, time.Minute))
	if err == nil {
		t.Fatal("the killed attempt succeeded")
	}
	if _, err := e.s3.Backend.HeadObject("videos", "lib/"+id+".mp4"); err == nil {
		t.Fatal("an object appeared under the final name from a killed upload")
	}
	if !exists(filepath.Join(b.Scratch().Path(), id+".mp4")) {
		t.Fatal("the verified staged file is gone")
	}
	if rec := e.get(id); rec.State != jobs.StateDownloading {
		t.Fatalf("record %+v; want downloading", rec)
	}
	if err := e.download(e.downloaderTo(b), id); err != nil {
		t.Fatal(err)
	}
	e.wantObject(b, id)
	if n := e.sim.Stats().Downloads[id]; n != 1 {
		t.Errorf("the video was fetched %d times; want once (the staged file is uploaded again)", n)
	}
}

// Wrong credentials and a missing bucket: the task stays downloading with an error naming the
// bucket, and is retried; once fixed, the staged file is uploaded.
func TestDownloadToBucketThatRefuses(t *testing.T) {
	t.Parallel()
	e := newBucketEnv(t, kiesim.Config{})
	b := e.bucket("")
	e.ready("mp4_creds", kiesim.Fate{})
	e.s3.Accept("someone-else")
	err := e.download(e.downloaderTo(b), "mp4_creds")
	e.wantTransient("mp4_creds", err)
	if msg := e.get("mp4_creds").Error; !strings.Contains(msg, "s3://videos/lib/mp4_creds.mp4") || !strings.Contains(msg, "credentials") ||
		strings.Contains(msg, storetest.S3SecretKey) {
		t.Errorf("error %q; want one naming the object and the credentials", msg)
	}
	e.s3.Accept(storetest.S3AccessKey)
	if err := e.download(e.downloaderTo(b), "mp4_creds"); err != nil {
		t.Fatal(err)
	}
	e.wantObject(b, "mp4_creds")

	m := e.bucket(e.s3.URL("no-such-bucket", "lib"))
	e.ready("mp4_nobucket", kiesim.Fate{})
	for range 2 {
		err = e.download(e.downloaderTo(m), "mp4_nobucket")
		e.wantTransient("mp4_nobucket", err)
	}
	if msg := e.get("mp4_nobucket").Error; !strings.Contains(msg, "bucket s3://no-such-bucket/lib/ does not exist") {
		t.Errorf("error %q; want one saying the bucket does not exist", msg)
	}
	if n := e.sim.Stats().Downloads["mp4_nobucket"]; n != 1 {
		t.Errorf("the video was fetched %d times; want once (the retry uploads the staged file)", n)
	}
}

// Two workers with different scratch directories write one bucket. A download that moves to
// the other worker starts there from byte 0, and the first worker's reconciler removes its
// part; a download that comes back to the worker holding its part resumes it by Range.
func TestDownloadMovesBetweenScratchDirs(t *testing.T) {
	t.Parallel()
	e := newBucketEnv(t, kiesim.Config{FileSize: 400_003})
	a, b := e.bucket(""), e.bucket("")
	if a.Owner() == b.Owner() {
		t.Fatalf("two scratch directories, one owner %q", a.Owner())
	}
	e.ready("mp4_moves", kiesim.Fate{CutAt: 200_000})
	e.ready("mp4_stays", kiesim.Fate{CutAt: 200_000})
	for _, id := range []string{"mp4_moves", "mp4_stays"} {
		e.wantTransient(id, e.download(e.downloaderTo(a), id))
		if fi, err := os.Stat(filepath.Join(a.Scratch().Path(), id+".mp4.part")); err != nil || fi.Size() != 200_000 {
			t.Fatalf("part of %s on worker A: %v", id, err)
		}
	}
	if err := e.download(e.downloaderTo(b), "mp4_moves"); err != nil {
		t.Fatal(err)
	}
	e.wantObject(b, "mp4_moves")
	if n := e.ranges.Load(); n != 0 {
		t.Errorf("%d Range requests for a download new to worker B; want a clean start", n)
	}
	// A staged file of a record that ended (canceled before its upload) goes too.
	e.record("mp4_ended", jobs.StateCanceled, time.Time{}, e.video+kiesim.PathFiles+"mp4_ended.mp4")
	if err := os.WriteFile(filepath.Join(a.Scratch().Path(), "mp4_ended.mp4"), []byte("staged"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.reconciler(time.Now().Add(time.Hour))
	r.Files = a
	if res, err := r.Sweep(e.ctx); err != nil || res.PartsRemoved != 2 {
		t.Errorf("worker A's sweep: %+v, %v; want its part of mp4_moves and the staged file of mp4_ended removed", res, err)
	}
	if exists(filepath.Join(a.Scratch().Path(), "mp4_ended.mp4")) {
		t.Error("the staged file of an ended record was left behind")
	}
	if exists(filepath.Join(a.Scratch().Path(), "mp4_moves.mp4.part")) {
		t.Error("worker A's part of the moved download was left behind")
	}
	if err := e.download(e.downloaderTo(a), "mp4_stays"); err != nil {
		t.Fatal(err)
	}
	e.wantObject(a, "mp4_stays")
	if n := e.ranges.Load(); n != 1 {
		t.Errorf("%d Range requests; want the download back on worker A resumed by one", n)
	}
}
