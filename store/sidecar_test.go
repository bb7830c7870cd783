package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiemv/kiemv/store"
)

func TestPutSidecar(t *testing.T) {
	dir, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, body := range []string{`{"v":1}`, `{"v":2}`} {
		if err := dir.PutSidecar(ctx, "mp4_1", []byte(body)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir.Path(), "mp4_1.json"))
		if err != nil || string(b) != body {
			t.Errorf("sidecar = %q, %v; want %q", b, err, body)
		}
	}
	if dir.SidecarPath("mp4_1") != filepath.Join(dir.Path(), "mp4_1.json") || dir.SidecarPath("../x") != "" {
		t.Errorf("SidecarPath: %q %q", dir.SidecarPath("mp4_1"), dir.SidecarPath("../x"))
	}
	if err := dir.PutSidecar(ctx, "../evil", []byte("x")); err == nil {
		t.Error("a sidecar with a path in its id was written")
	}
	entries, _ := os.ReadDir(dir.Path())
	if len(entries) != 1 || entries[0].Name() != "mp4_1.json" {
		t.Errorf("directory holds %v; want only mp4_1.json (no temporary file left)", entries)
	}
	if fi, _ := os.Stat(filepath.Join(dir.Path(), "mp4_1.json")); fi.Mode().Perm() != 0o644 {
		t.Errorf("sidecar mode %v", fi.Mode())
	}
	ro := filepath.Join(t.TempDir(), "ro")
	rd, err := store.NewDir(ro)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(ro, 0o700) })
	if os.Getuid() != 0 {
		if err := rd.PutSidecar(ctx, "mp4_2", []byte("x")); err == nil {
			t.Error("a sidecar was written into a read-only directory")
		}
	}
}
