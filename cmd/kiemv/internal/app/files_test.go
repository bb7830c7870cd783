package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

func TestConfigFiles(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "videos")
	if f, err := (Config{DownloadDir: dir}).Files(ctx); err != nil {
		t.Fatal(err)
	} else if _, ok := f.(*store.Dir); !ok {
		t.Errorf("a path gave %T, want a local directory", f)
	}
	scratch := filepath.Join(t.TempDir(), "scratch")
	c := Config{DownloadDir: "file://" + filepath.ToSlash(t.TempDir()) + "?create_dir=1", ScratchDir: scratch}
	f, err := c.Files(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := f.(*store.Bucket); !ok || b.Scratch().Path() != scratch {
		t.Errorf("a file:// URL gave %T", f)
	}
	if got := c.Destination(); strings.Contains(got, "?") {
		t.Errorf("Destination %q keeps the query", got)
	}
	_, err = (Config{DownloadDir: "s3://videos/lib?no_such_option=1&region=secret-ish", ScratchDir: scratch}).Files(ctx)
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "--download-dir") || !strings.Contains(err.Error(), "s3://videos/lib") ||
		!strings.Contains(err.Error(), `unknown query parameter "no_such_option"`) || strings.Contains(err.Error(), "secret-ish") {
		t.Errorf("unknown option in a bucket URL: %v; want a ConfigError naming the flag and the bucket", err)
	}
}

// A bucket the credentials cannot read, or that does not exist, is warned about at start,
// by name (no query), and the worker still starts: its downloads wait and retry.
func TestConfigFilesWarnsAboutABucketItCannotUse(t *testing.T) {
	s3 := storetest.NewS3(t, "videos")
	for _, c := range []struct{ bucket, key, want string }{
		{"videos", "someone-else", "credentials"},
		{"missing", storetest.S3AccessKey, "s3://missing/lib/ does not exist"},
	} {
		s3.Accept(c.key)
		var logs bytes.Buffer
		cfg := Config{DownloadDir: s3.URL(c.bucket, "lib"), ScratchDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(&logs, nil))}
		if _, err := cfg.Files(context.Background()); err != nil {
			t.Fatalf("%s: %v", c.bucket, err)
		}
		if out := logs.String(); !strings.Contains(out, "cannot be used yet") || !strings.Contains(out, c.want) ||
			strings.Contains(out, "endpoint=") || strings.Contains(out, storetest.S3SecretKey) {
			t.Errorf("%s: log %q; want a warning naming the bucket without its query, saying %q", c.bucket, out, c.want)
		}
	}
	s3.Accept(storetest.S3AccessKey)
	var logs bytes.Buffer
	cfg := Config{DownloadDir: s3.URL("videos", "lib"), ScratchDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(&logs, nil))}
	if _, err := cfg.Files(context.Background()); err != nil || logs.Len() != 0 {
		t.Errorf("a usable bucket: %v, log %q", err, logs.String())
	}
}
