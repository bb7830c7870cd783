package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

// TestVideosPageStreamsFromABucket: with --download-dir a bucket URL, the dashboard's file
// link streams the object from the bucket (Range included), and says so when it is missing.
func TestVideosPageStreamsFromABucket(t *testing.T) {
	f := newDashFixture(t)
	s3 := storetest.NewS3(t, "videos")
	dest := s3.URL("videos", "lib")
	b, err := store.OpenBucket(context.Background(), dest, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	video := []byte("\x00\x00\x00\x18ftypmp42 a small test video in a bucket")
	part, _, err := b.OpenPart("mp4_dash3")
	if err != nil {
		t.Fatal(err)
	}
	part.Write(video)
	if _, err := b.Commit("mp4_dash3"); err != nil {
		t.Fatal(err)
	}
	part.Close()
	sum := sha256.Sum256(video)
	if err := b.Publish(context.Background(), "mp4_dash3", int64(len(video)), hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, _ := background(t, "kiemv", "--redis-url", f.url, "--namespace", f.ns, "--download-dir", dest,
		"--scratch-dir", t.TempDir(), "dashboard", "--listen", "127.0.0.1:0")
	base := waitFor(t, stdout, stderr, regexp.MustCompile(`dashboard on (http://\S+/)`), 10*time.Second)
	if code, body, _ := httpDo(t, "GET", base+"videos", nil); code != 200 || !strings.Contains(body, `href="/videos/file/mp4_dash3.mp4"`) {
		t.Errorf("/videos: %d, no link to the downloaded video", code)
	}
	code, got, hdr := httpDo(t, "GET", base+"videos/file/mp4_dash3.mp4", nil)
	if code != 200 || got != string(video) || hdr.Get("Content-Type") != "video/mp4" {
		t.Errorf("file link: %d %q %q; want the object as video/mp4", code, got, hdr.Get("Content-Type"))
	}
	code, got, _ = httpDo(t, "GET", base+"videos/file/mp4_dash3.mp4", http.Header{"Range": {"bytes=4-7"}})
	if code != http.StatusPartialContent || got != "ftyp" {
		t.Errorf("Range of the object: %d %q; want 206 ftyp", code, got)
	}
	if _, err := s3.Backend.DeleteObject("videos", "lib/mp4_dash3.mp4"); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := httpDo(t, "GET", base+"videos/file/mp4_dash3.mp4", nil); code != 404 || !strings.Contains(body, "s3://videos/lib/") {
		t.Errorf("missing object: %d %q; want 404 naming the bucket", code, body)
	}
}
