package app

import (
	"cmp"
	"context"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
)

// Files opens the download destination: the local directory DownloadDir, or the bucket it
// names (s3://bucket/prefix?region=…&endpoint=…, gs://…, azblob://…, file:///…), whose
// downloads are staged in ScratchDir (default: kiemv's in the OS temp dir) and uploaded once
// verified. A bucket that cannot be written yet (wrong credentials, not created) is only
// warned about: downloads wait in state downloading and retry until it can.
func (c Config) Files(ctx context.Context) (jobs.Files, error) {
	if !store.IsBucketURL(c.DownloadDir) {
		d, err := store.NewDir(c.DownloadDir)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	b, err := store.OpenBucket(ctx, c.DownloadDir, cmp.Or(c.ScratchDir, store.DefaultScratch()))
	if err != nil {
		return nil, configErrorf("--download-dir: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := b.Check(cctx); err != nil && c.Log != nil {
		c.Log.Warn("the download bucket cannot be used yet; downloads wait in state downloading and retry", "bucket", b.Name(), "error", err)
	}
	return b, nil
}

// Destination is DownloadDir as it may be logged or printed: a bucket URL loses its query.
func (c Config) Destination() string {
	if store.IsBucketURL(c.DownloadDir) {
		return store.BucketName(c.DownloadDir)
	}
	return c.DownloadDir
}
