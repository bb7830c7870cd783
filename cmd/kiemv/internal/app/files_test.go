package app

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiemv/kiemv/store"
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
	_, err = (Config{DownloadDir: "s3://videos/lib?no_such_option=1", ScratchDir: scratch}).Files(ctx)
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "--download-dir") || !strings.Contains(err.Error(), "s3://videos/lib") {
		t.Errorf("unknown option in a bucket URL: %v; want a ConfigError naming the flag and the bucket", err)
	}
}
