package store

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kiemv/kiemv/jobs"
)

// Dir is the download directory, the jobs.Files of kiemv. A download is written to
// <dir>/<id>.mp4.part and renamed to <dir>/<id>.mp4 once verified, so a file with the final
// name is always complete. Every id is checked with jobs.ValidateID before it becomes part of
// a path, so no id can reach outside the directory.
type Dir struct {
	path  string
	owner string
}

var _ jobs.Files = (*Dir)(nil)

// NewDir returns the download directory at path, creating it (mode 0750) if needed.
func NewDir(path string) (*Dir, error) {
	if path == "" {
		return nil, fmt.Errorf("download directory: no path given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("download directory %s: %w", path, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("create download directory: %w", err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return &Dir{path: abs, owner: host + ":" + abs}, nil
}

// Owner implements jobs.Files: this machine's host name and the directory's absolute path.
func (d *Dir) Owner() string { return d.owner }

// PartIDs implements jobs.Files: the ids of the partial files in the directory.
func (d *Dir) PartIDs() ([]string, error) {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("list partial files in %s: %w", d.path, err)
	}
	var ids []string
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".mp4.part")
		if ok && e.Type().IsRegular() && jobs.ValidateID("task id", id) == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Path returns the absolute path of the directory.
func (d *Dir) Path() string { return d.path }

func (d *Dir) partPath(id string) string  { return filepath.Join(d.path, id+".mp4.part") }
func (d *Dir) finalPath(id string) string { return filepath.Join(d.path, id+".mp4") }

// FinalPath is where the verified file of id lives, or "" if id is not a valid task id.
func (d *Dir) FinalPath(id string) string {
	if jobs.ValidateID("task id", id) != nil {
		return ""
	}
	return d.finalPath(id)
}

// OpenPart opens (creating if needed) the partial file of id for writing, positioned at its
// end so that writes resume the download, and returns its current size. To start over, call
// f.Truncate(0) and f.Seek(0, io.SeekStart). The file is locked (flock) until the caller
// closes f, so that two workers can never write one file: the second gets an error.
func (d *Dir) OpenPart(id string) (*os.File, int64, error) {
	if err := jobs.ValidateID("task id", id); err != nil {
		return nil, 0, fmt.Errorf("open partial file: %w", err)
	}
	f, err := openPart(d.partPath(id))
	if err != nil {
		return nil, 0, fmt.Errorf("open partial file of %s: %w", id, err)
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("partial file of %s is in use by another download (%v); it will be retried", id, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("open partial file of %s: %w", id, err)
	}
	return f, size, nil
}

// openPart opens path for writing without following a symbolic link: a link planted under the
// partial file's name (kiemv never makes one) is removed, so that writes can never land in
// the file it points at.
func openPart(path string) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		if fi.Mode()&os.ModeSymlink == 0 {
			return nil, fmt.Errorf("%s is not a regular file; remove it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove the symbolic link %s: %w", path, err)
		}
		return os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|noFollow, 0o644)
	}
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|noFollow, 0o644)
}

// OpenFinal opens the verified file of id for reading. A name that is not a regular file (a
// symbolic link planted there, say) is not kiemv's file: it reports os.ErrNotExist, and the
// next Commit replaces the name.
func (d *Dir) OpenFinal(id string) (*os.File, error) {
	if err := jobs.ValidateID("task id", id); err != nil {
		return nil, fmt.Errorf("open file: %w", err)
	}
	path := d.finalPath(id)
	if fi, err := os.Lstat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: %w", path, os.ErrNotExist)
	}
	return os.OpenFile(path, os.O_RDONLY|noFollow, 0)
}

// Commit fsyncs the partial file of id, renames it to FinalPath(id) (replacing any older
// file), fsyncs the directory so the rename survives a crash, and returns the final path.
func (d *Dir) Commit(id string) (string, error) {
	if err := jobs.ValidateID("task id", id); err != nil {
		return "", fmt.Errorf("commit download: %w", err)
	}
	part, final := d.partPath(id), d.finalPath(id)
	if err := syncFile(part); err != nil {
		return "", fmt.Errorf("commit download of %s: %w", id, err)
	}
	if err := os.Rename(part, final); err != nil {
		return "", fmt.Errorf("commit download of %s: %w", id, err)
	}
	if err := syncDir(d.path); err != nil {
		return "", fmt.Errorf("commit download of %s: %w", id, err)
	}
	return final, nil
}

// RemovePart deletes the partial file of id, if any.
func (d *Dir) RemovePart(id string) error {
	if err := jobs.ValidateID("task id", id); err != nil {
		return fmt.Errorf("remove partial file: %w", err)
	}
	if err := os.Remove(d.partPath(id)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove partial file of %s: %w", id, err)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return f.Close()
}

// syncDir fsyncs a directory. Windows cannot, and needs not: its renames are durable.
func syncDir(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	return syncFile(path)
}
