package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

// video is a small fake MP4: it starts like one.
func video(n int) []byte {
	b := make([]byte, n)
	copy(b, "\x00\x00\x00\x18ftypmp42")
	for i := 12; i < n; i++ {
		b[i] = byte(i * 7)
	}
	return b
}

func hexSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// stage writes data as the verified staged file of id, as a transfer does.
func stage(t *testing.T, b *store.Bucket, id string, data []byte) {
	t.Helper()
	f, _, err := b.OpenPart(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(id); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func openBucket(t *testing.T, dest string) *store.Bucket {
	t.Helper()
	b, err := store.OpenBucket(context.Background(), dest, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBucketPublish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s3 := storetest.NewS3(t, "videos")
	b := openBucket(t, s3.URL("videos", "team/mp4"))
	if err := b.Check(ctx); err != nil {
		t.Fatal(err)
	}
	id, data := "task1", video(9<<20+17) // more than one upload part
	if got, want := b.FinalPath(id), "s3://videos/team/mp4/task1.mp4"; got != want {
		t.Fatalf("FinalPath = %q, want %q (no query, no endpoint)", got, want)
	}
	if _, _, ok, err := b.Published(ctx, id); ok || err != nil {
		t.Fatalf("Published before any upload: %v, %v", ok, err)
	}
	stage(t, b, id, data)
	if ids, _ := b.PartIDs(); !slices.Equal(ids, []string{id}) {
		t.Fatalf("PartIDs = %v, want the staged file's id", ids)
	}
	if err := b.Publish(ctx, id, int64(len(data)), hexSHA(data)); err != nil {
		t.Fatal(err)
	}
	obj, err := s3.Backend.GetObject("videos", "team/mp4/task1.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Contents)
	if !bytes.Equal(got, data) {
		t.Fatalf("object holds %d bytes, want the %d staged", len(got), len(data))
	}
	md := map[string]string{}
	for k, v := range obj.Metadata {
		md[strings.ToLower(k)] = v
	}
	if md["x-amz-meta-sha256"] != hexSHA(data) || md["x-amz-meta-task-id"] != id {
		t.Errorf("object metadata %v; want its sha256 and task id", obj.Metadata)
	}
	if size, sum, ok, err := b.Published(ctx, id); !ok || err != nil || size != int64(len(data)) || sum != hexSHA(data) {
		t.Errorf("Published = %d, %s, %v, %v", size, sum, ok, err)
	}
	if _, err := os.Stat(filepath.Join(b.Scratch().Path(), id+".mp4")); !os.IsNotExist(err) {
		t.Errorf("staged file left after the upload: %v", err)
	}
	// The same bytes again: the object is there with that sha256, nothing is uploaded.
	stage(t, b, id, data)
	writes := s3.Writes()
	if err := b.Publish(ctx, id, int64(len(data)), hexSHA(data)); err != nil {
		t.Fatal(err)
	}
	if s3.Writes() != writes {
		t.Errorf("an object with the right sha256 was uploaded again (%d writes)", s3.Writes()-writes)
	}
	if ids, _ := b.PartIDs(); len(ids) != 0 {
		t.Errorf("PartIDs = %v after publishing, want none", ids)
	}
	r, err := b.OpenObject(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(data)) {
		t.Errorf("OpenObject size %d", r.Size())
	}
	if _, err := b.OpenObject(ctx, "nosuch"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenObject of a missing object: %v, want os.ErrNotExist", err)
	}
	if err := b.PutObject(ctx, id+".json", []byte(`{"a":1}`), "application/json"); err != nil {
		t.Fatal(err)
	}
	if obj, err := s3.Backend.GetObject("videos", "team/mp4/task1.json", nil); err != nil {
		t.Errorf("PutObject: %v", err)
	} else {
		obj.Contents.Close()
	}
}

// A staged file whose bytes no longer match what was verified is never published.
func TestBucketPublishRefusesChangedStagedFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s3 := storetest.NewS3(t, "videos")
	b := openBucket(t, s3.URL("videos", ""))
	data := video(100_003)
	stage(t, b, "t2", data)
	err := b.Publish(ctx, "t2", int64(len(data)), hexSHA(video(100_004)))
	if err == nil || !strings.Contains(err.Error(), "changed since it was verified") {
		t.Fatalf("err = %v", err)
	}
	if _, err := s3.Backend.HeadObject("videos", "t2.mp4"); err == nil {
		t.Error("an unverified object became visible")
	}
	if ids, _ := b.PartIDs(); len(ids) != 0 {
		t.Errorf("the changed staged file was kept: %v", ids)
	}
	if b.FinalPath("t2") != "s3://videos/t2.mp4" {
		t.Errorf("FinalPath without prefix = %s", b.FinalPath("t2"))
	}
}

// Wrong credentials and a missing bucket: errors that name the bucket and say what to do,
// and the staged file stays for the next attempt.
func TestBucketErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s3 := storetest.NewS3(t, "videos")
	data := video(50_000)

	b := openBucket(t, s3.URL("videos", "p"))
	stage(t, b, "t3", data)
	s3.Accept("another-key")
	err := b.Publish(ctx, "t3", int64(len(data)), hexSHA(data))
	var se *jobs.StorageError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "s3://videos/p/t3.mp4") ||
		!strings.Contains(err.Error(), "credentials") || strings.Contains(err.Error(), storetest.S3SecretKey) {
		t.Fatalf("wrong credentials: err = %v", err)
	}
	if err := b.Check(ctx); err == nil || !strings.Contains(err.Error(), "s3://videos/p/") {
		t.Errorf("Check with wrong credentials: %v", err)
	}
	if ids, _ := b.PartIDs(); !slices.Equal(ids, []string{"t3"}) {
		t.Errorf("staged file gone after a failed upload: %v", ids)
	}
	s3.Accept(storetest.S3AccessKey)

	m := openBucket(t, s3.URL("missing", "p"))
	stage(t, m, "t4", data)
	err = m.Publish(ctx, "t4", int64(len(data)), hexSHA(data))
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "bucket s3://missing/p/ does not exist") {
		t.Fatalf("missing bucket: err = %v", err)
	}
	if err := m.Check(ctx); err == nil || !strings.Contains(err.Error(), "s3://missing/p/ does not exist") {
		t.Errorf("Check of a missing bucket: %v", err)
	}
}

func TestBucketURLs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		dest string
		want bool
	}{{"s3://b/p", true}, {"gs://b", true}, {"azblob://c", true}, {"file:///tmp/x", true}, {"./videos", false},
		{"/srv/videos", false}, {"http://example.com/x", false}, {`C:\videos`, false}} {
		if got := store.IsBucketURL(c.dest); got != c.want {
			t.Errorf("IsBucketURL(%q) = %v", c.dest, got)
		}
	}
	if got := store.BucketName("s3://b/p?region=eu&endpoint=http://minio:9000"); got != "s3://b/p" {
		t.Errorf("BucketName = %q", got)
	}
	_, err := store.OpenBucket(context.Background(), "s3://AKID:hunter2@b/p", t.TempDir())
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "environment") {
		t.Errorf("credentials in the URL: %v", err)
	}
}

// file:/// goes through gocloud too: same staging, same metadata.
func TestBucketFileURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "objects")
	b := openBucket(t, "file://"+filepath.ToSlash(root))
	data := video(70_001)
	stage(t, b, "t5", data)
	if err := b.Publish(ctx, "t5", int64(len(data)), hexSHA(data)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "t5.mp4"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file object: %v", err)
	}
	if b.FinalPath("t5") != "file://"+filepath.ToSlash(root)+"/t5.mp4" {
		t.Errorf("FinalPath = %s", b.FinalPath("t5"))
	}
	if _, sum, ok, _ := b.Published(ctx, "t5"); !ok || sum != hexSHA(data) {
		t.Errorf("Published: %v %s", ok, sum)
	}
}

// A process runs one upload at a time: each buffers up to ~26 MiB in the S3 driver.
func TestBucketUploadsOneAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s3 := storetest.NewS3(t, "videos")
	var inFlight, most atomic.Int32
	s3.Before = func(r *http.Request) {
		if r.Method != http.MethodPut {
			return
		}
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(50 * time.Millisecond)
	}
	b := openBucket(t, s3.URL("videos", "one"))
	var wg sync.WaitGroup
	for i := range 4 {
		id, data := fmt.Sprintf("t%d", i), video(60_000+i)
		stage(t, b, id, data)
		wg.Go(func() {
			if err := b.Publish(ctx, id, int64(len(data)), hexSHA(data)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := most.Load(); got != 1 {
		t.Errorf("%d uploads at once; want 1", got)
	}
	if keys := s3.Keys("videos"); len(keys) != 4 {
		t.Errorf("objects %v; want 4", keys)
	}
}
