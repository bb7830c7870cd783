package store_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
)

func TestDir(t *testing.T) {
	root := filepath.Join(t.TempDir(), "videos", "nested")
	d, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		t.Fatalf("NewDir did not create %s: %v", root, err)
	}
	f, size, err := d.OpenPart("mp4_a")
	if err != nil || size != 0 {
		t.Fatalf("OpenPart = %d, %v", size, err)
	}
	if _, err := f.WriteString("abc"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := os.Stat(d.FinalPath("mp4_a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("final file exists before Commit: %v", err)
	}
	// Resume: the part is reopened at its end.
	f, size, err = d.OpenPart("mp4_a")
	if err != nil || size != 3 {
		t.Fatalf("reopened OpenPart = %d, %v; want 3", size, err)
	}
	if _, err := f.WriteString("def"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	final, err := d.Commit("mp4_a")
	if err != nil {
		t.Fatal(err)
	}
	if final != filepath.Join(root, "mp4_a.mp4") || final != d.FinalPath("mp4_a") {
		t.Errorf("Commit = %s; FinalPath = %s", final, d.FinalPath("mp4_a"))
	}
	if b, _ := os.ReadFile(final); string(b) != "abcdef" {
		t.Errorf("final file holds %q", b)
	}
	if _, err := os.Stat(filepath.Join(root, "mp4_a.mp4.part")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("part file left behind: %v", err)
	}
	if _, err := d.Commit("mp4_a"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Commit without a part = %v; want ErrNotExist", err)
	}
}

func TestDirRestartAndRemove(t *testing.T) {
	d, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, _, _ := d.OpenPart("mp4_b")
	f.WriteString("stale bytes")
	f.Close()
	// A server that ignores Range: start over as OpenPart documents.
	f, size, _ := d.OpenPart("mp4_b")
	if size != 11 {
		t.Fatalf("size %d", size)
	}
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	f.WriteString("new")
	f.Close()
	if b, _ := os.ReadFile(filepath.Join(d.Path(), "mp4_b.mp4.part")); string(b) != "new" {
		t.Errorf("part holds %q", b)
	}
	if err := d.RemovePart("mp4_b"); err != nil {
		t.Fatal(err)
	}
	if err := d.RemovePart("mp4_b"); err != nil {
		t.Errorf("RemovePart of nothing: %v", err)
	}
	if _, size, _ := d.OpenPart("mp4_b"); size != 0 {
		t.Errorf("part survived RemovePart: size %d", size)
	}
}

func TestDirRefusesBadIDs(t *testing.T) {
	parent := t.TempDir()
	d, err := store.NewDir(filepath.Join(parent, "v"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "..", "../x", "a/b", `a\b`, "/etc/passwd", "x.mp4", "a\x00b"} {
		if _, _, err := d.OpenPart(id); !errors.Is(err, jobs.ErrBadID) {
			t.Errorf("OpenPart(%q) = %v; want ErrBadID", id, err)
		}
		if _, err := d.Commit(id); !errors.Is(err, jobs.ErrBadID) {
			t.Errorf("Commit(%q) = %v; want ErrBadID", id, err)
		}
		if err := d.RemovePart(id); !errors.Is(err, jobs.ErrBadID) {
			t.Errorf("RemovePart(%q) = %v; want ErrBadID", id, err)
		}
		if p := d.FinalPath(id); p != "" {
			t.Errorf("FinalPath(%q) = %q; want \"\"", id, p)
		}
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("files appeared beside the directory: %v", entries)
	}
	if _, err := store.NewDir(""); err == nil {
		t.Error("NewDir(\"\") succeeded")
	}
}

var _ jobs.Files = (*store.Dir)(nil)

// A symbolic link planted under a partial or final name never makes the worker write to,
// or take for its own, the file it points at (issue 14 §2).
func TestDirNeverFollowsLinks(t *testing.T) {
	root := t.TempDir()
	d, err := store.NewDir(filepath.Join(root, "videos"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(d.Path()); err != nil || fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("download dir mode %v, %v; want no access for others (0750)", fi.Mode(), err)
	}
	target := filepath.Join(root, "precious")
	if err := os.WriteFile(target, []byte("do not touch"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(d.Path(), "mp4_l.mp4.part")); err != nil {
		t.Fatal(err)
	}
	f, size, err := d.OpenPart("mp4_l")
	if err != nil {
		t.Fatalf("OpenPart over a planted link: %v", err)
	}
	if _, err := f.WriteString("video bytes"); err != nil {
		t.Fatal(err)
	}
	if size != 0 {
		t.Errorf("size %d; the link's target was taken for the part", size)
	}
	if _, err := d.Commit("mp4_l"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, _ := os.ReadFile(target); string(b) != "do not touch" {
		t.Errorf("the link's target was written: %q", b)
	}
	if fi, err := os.Lstat(d.FinalPath("mp4_l")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("final name %v, %v; want a regular file", fi.Mode(), err)
	}

	// A link under the final name is not a committed file, and a commit replaces it.
	if err := os.Symlink(target, d.FinalPath("mp4_m")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.OpenFinal("mp4_m"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenFinal of a link = %v; want os.ErrNotExist", err)
	}
	pf, _, err := d.OpenPart("mp4_m")
	if err != nil {
		t.Fatal(err)
	}
	pf.WriteString("new")
	if _, err := d.Commit("mp4_m"); err != nil {
		t.Fatal(err)
	}
	pf.Close()
	if b, _ := os.ReadFile(target); string(b) != "do not touch" {
		t.Errorf("the link's target was written: %q", b)
	}
	if fi, err := os.Lstat(d.FinalPath("mp4_m")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("final name %v, %v; want the committed regular file", fi.Mode(), err)
	}
	if f, err := d.OpenFinal("mp4_m"); err != nil {
		t.Errorf("OpenFinal of the committed file: %v", err)
	} else {
		f.Close()
	}
}
