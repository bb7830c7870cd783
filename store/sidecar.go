package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kiemv/kiemv/jobs"
)

// SidecarPath is where the sidecar of id lives, or "" if id is not a valid task id.
func (d *Dir) SidecarPath(id string) string {
	if jobs.ValidateID("task id", id) != nil {
		return ""
	}
	return filepath.Join(d.path, id+".json")
}

// PutSidecar implements jobs.Files: data goes to a temporary file in the directory, is
// fsynced, renamed to <id>.json (replacing an older one) and the directory fsynced, so a
// reader sees a whole sidecar or none, and a crash after it returns keeps it.
func (d *Dir) PutSidecar(_ context.Context, id string, data []byte) error {
	if err := jobs.ValidateID("task id", id); err != nil {
		return fmt.Errorf("write sidecar: %w", err)
	}
	f, err := os.CreateTemp(d.path, "."+id+".json.*.tmp")
	if err != nil {
		return fmt.Errorf("write sidecar of %s: %w", id, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("write sidecar of %s: %w", id, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, d.SidecarPath(id)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write sidecar of %s: %w", id, err)
	}
	if err := syncDir(d.path); err != nil {
		return fmt.Errorf("write sidecar of %s: %w", id, err)
	}
	return nil
}

// PutSidecar implements jobs.Files for a bucket: data becomes the object <prefix>/<id>.json,
// written whole (an object store makes an object visible only once its upload completes). The
// downloader writes it after Publish, so a sidecar never describes a video not there yet.
func (b *Bucket) PutSidecar(ctx context.Context, id string, data []byte) error {
	if err := jobs.ValidateID("task id", id); err != nil {
		return fmt.Errorf("write sidecar: %w", err)
	}
	return b.PutObject(ctx, id+".json", data, "application/json")
}
