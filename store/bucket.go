package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:///
	_ "gocloud.dev/blob/s3blob"   // s3://, and S3-compatible stores (MinIO) with endpoint=
	"gocloud.dev/gcerrors"

	"github.com/kiemv/kiemv/jobs"
)

// Bucket is a download destination in object storage, through gocloud.dev/blob: S3 and
// S3-compatible stores such as MinIO (s3://), Google Cloud Storage (gs://), Azure Blob Storage
// (azblob://) or a directory (file:///). Credentials come from each cloud's usual environment
// (AWS_ACCESS_KEY_ID…), never from kiemv.
//
// A download is staged in a local scratch Dir (<scratch>/<id>.mp4.part, renamed <id>.mp4 there
// once verified) and only then uploaded to <prefix>/<id>.mp4, with its sha256 and task id as
// metadata; so an object with the final name is always complete and verified. The partial and
// staged files are this machine's: Owner names the scratch directory, not the bucket.
type Bucket struct {
	scratch *Dir
	bucket  *blob.Bucket  // already under the prefix
	base    string        // scheme://bucket/prefix/ without query: object URLs start with it
	uploads chan struct{} // one upload at a time per process: each buffers up to ~26 MiB
}

var (
	_ jobs.Files     = (*Bucket)(nil)
	_ jobs.Publisher = (*Bucket)(nil)
)

// Metadata keys of an uploaded video.
const (
	MetaSHA256 = "sha256"  // the hex sha256 of the object's bytes
	MetaTaskID = "task-id" // the MP4 task id
)

// bucketSchemes are the URL schemes of the object stores kiemv can write to.
var bucketSchemes = map[string]bool{"s3": true, "gs": true, "azblob": true, "file": true}

// IsBucketURL reports whether dest names object storage (a URL of a scheme Bucket knows)
// rather than a local directory.
func IsBucketURL(dest string) bool {
	scheme, _, ok := strings.Cut(dest, "://")
	return ok && bucketSchemes[strings.ToLower(scheme)]
}

// BucketName is dest without its query and any user information: the form of a bucket URL
// that may be logged or printed.
func BucketName(dest string) string {
	u, err := url.Parse(dest)
	if err != nil {
		return "(malformed bucket URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// OpenBucket opens the bucket named by dest (s3://bucket/prefix?region=…&endpoint=…, gs://…,
// azblob://…, file:///dir) with the local scratch directory scratch (created mode 0750). For
// s3, gs and azblob the URL's path is the prefix of every object; the query goes to the
// driver. It does not check that the bucket exists or that the credentials work: see Check.
func OpenBucket(ctx context.Context, dest, scratch string) (*Bucket, error) {
	u, err := url.Parse(dest)
	if err != nil || !IsBucketURL(dest) || u.Host == "" && u.Scheme != "file" {
		return nil, fmt.Errorf("bucket %s: not a bucket URL (s3://bucket/prefix, gs://…, azblob://…, file:///dir)", BucketName(dest))
	}
	if u.User != nil {
		return nil, fmt.Errorf("bucket %s: credentials do not belong in the URL; set them in the environment (for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)", BucketName(dest))
	}
	prefix := ""
	if u.Scheme != "file" {
		prefix, u.Path, u.RawPath = strings.Trim(u.Path, "/"), "", ""
	} else if q := u.Query(); q.Get("create_dir") == "" {
		q.Set("create_dir", "true")
		u.RawQuery = q.Encode()
	}
	dir, err := NewDir(scratch)
	if err != nil {
		return nil, fmt.Errorf("scratch directory: %w", err)
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil { // gocloud's message repeats the URL, query and all: it loses the query here
		msg := strings.ReplaceAll(err.Error(), u.String(), BucketName(u.String()))
		return nil, fmt.Errorf("open bucket %s: %s", BucketName(dest), msg)
	}
	base := strings.TrimSuffix(BucketName(dest), "/") + "/"
	if prefix != "" {
		b, base = blob.PrefixedBucket(b, prefix+"/"), u.Scheme+"://"+u.Host+"/"+prefix+"/"
	}
	return &Bucket{scratch: dir, bucket: b, base: base, uploads: make(chan struct{}, 1)}, nil
}

// Check asks the bucket whether it can be read with the credentials at hand, and returns an
// error naming it when it cannot.
func (b *Bucket) Check(ctx context.Context) error {
	ok, err := b.bucket.IsAccessible(ctx)
	if err != nil {
		return b.fail("reach", "", err)
	}
	if !ok {
		return fmt.Errorf("bucket %s does not exist; create it, or fix the destination URL", b.Name())
	}
	return nil
}

// Close releases the bucket's connections.
func (b *Bucket) Close() error { return b.bucket.Close() }

// Name is the bucket and prefix, as a URL without query: safe to log.
func (b *Bucket) Name() string { return b.base }

// Scratch is the local directory downloads are staged in.
func (b *Bucket) Scratch() *Dir { return b.scratch }

func key(id string) string { return id + ".mp4" }

// Owner implements jobs.Files: this machine's host name and the scratch directory, where the
// partial and staged files are.
func (b *Bucket) Owner() string { return b.scratch.Owner() }

// OpenPart implements jobs.Files: the partial file in the scratch directory (see Dir.OpenPart).
func (b *Bucket) OpenPart(id string) (*os.File, int64, error) { return b.scratch.OpenPart(id) }

// Commit implements jobs.Files: it stages the verified partial file of id as <scratch>/<id>.mp4
// (fsynced, see Dir.Commit), for Publish to upload.
func (b *Bucket) Commit(id string) (string, error) { return b.scratch.Commit(id) }

// OpenFinal implements jobs.Files: the staged verified file of id, not published yet.
func (b *Bucket) OpenFinal(id string) (*os.File, error) { return b.scratch.OpenFinal(id) }

// FinalPath implements jobs.Files: the URL of the object of id (no query, no credentials), or
// "" if id is not a valid task id.
func (b *Bucket) FinalPath(id string) string {
	if jobs.ValidateID("task id", id) != nil {
		return ""
	}
	return b.base + key(id)
}

// RemovePart implements jobs.Files: it deletes the partial and the staged file of id.
func (b *Bucket) RemovePart(id string) error {
	if err := b.scratch.RemovePart(id); err != nil {
		return err
	}
	return b.removeStaged(id)
}

func (b *Bucket) removeStaged(id string) error {
	path := b.scratch.FinalPath(id)
	if path == "" {
		return fmt.Errorf("remove staged file: invalid task id %q", id)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove staged file of %s: %w", id, err)
	}
	return nil
}

// PartIDs implements jobs.Files: the ids with a partial or a staged file in the scratch
// directory.
func (b *Bucket) PartIDs() ([]string, error) {
	entries, err := os.ReadDir(b.scratch.Path())
	if err != nil {
		return nil, fmt.Errorf("list staged files in %s: %w", b.scratch.Path(), err)
	}
	var ids []string
	seen := map[string]bool{}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".mp4.part")
		if !ok {
			id, ok = strings.CutSuffix(e.Name(), ".mp4")
		}
		if ok && !seen[id] && e.Type().IsRegular() && jobs.ValidateID("task id", id) == nil {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Published implements jobs.Publisher: the size and sha256 recorded with the object of id.
// An object without a well-formed sha256 is not one kiemv published: ok is false, and the
// next Publish replaces it.
func (b *Bucket) Published(ctx context.Context, id string) (int64, string, bool, error) {
	if err := jobs.ValidateID("task id", id); err != nil {
		return 0, "", false, err
	}
	attrs, err := b.bucket.Attributes(ctx, key(id))
	if gcerrors.Code(err) == gcerrors.NotFound {
		return 0, "", false, nil
	} else if err != nil {
		return 0, "", false, b.fail("read the object of", id, err)
	}
	sum := attrs.Metadata[MetaSHA256]
	if len(sum) != sha256.Size*2 {
		return 0, "", false, nil
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return 0, "", false, nil
	}
	return attrs.Size, sum, true, nil
}

// Publish implements jobs.Publisher: it uploads the staged file of id to <prefix>/<id>.mp4
// with its sha256 and task id as metadata, hashing the bytes as they go; an upload whose bytes
// do not match size and sum is aborted before the object appears (S3, GCS and Azure make an
// object visible only once its upload completes; fileblob renames a temporary file). An object
// already there with that size and sha256 is not uploaded again. The staged file is removed
// once the object is there. One upload runs at a time in a process, so that memory stays
// bounded: the AWS SDK's transfer manager reads the first 16 MiB of an upload into memory and
// then keeps two parts of 5 MiB (the smallest S3 allows).
func (b *Bucket) Publish(ctx context.Context, id string, size int64, sum string) error {
	if have, hsum, ok, err := b.Published(ctx, id); err != nil {
		return err
	} else if ok && have == size && hsum == sum {
		return b.removeStaged(id)
	}
	select { // the S3 driver holds the first 16 MiB of an upload and two parts in memory
	case b.uploads <- struct{}{}:
		defer func() { <-b.uploads }()
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	f, err := b.scratch.OpenFinal(id)
	if err != nil {
		return fmt.Errorf("upload %s: open its staged file: %w", id, err)
	}
	defer f.Close() // read only
	wctx, abort := context.WithCancel(ctx)
	defer abort()
	w, err := b.bucket.NewWriter(wctx, key(id), &blob.WriterOptions{ContentType: "video/mp4",
		Metadata: map[string]string{MetaSHA256: sum, MetaTaskID: id}, BufferSize: 5 << 20, MaxConcurrency: 1})
	if err != nil {
		return b.fail("upload", id, err)
	}
	h := sha256.New()
	n, err := copyBuffered(io.MultiWriter(w, h), f)
	if err == nil && (n != size || hex.EncodeToString(h.Sum(nil)) != sum) {
		abort()
		_ = w.Close() // aborted: no object
		return errors.Join(fmt.Errorf("upload %s: its staged file %s changed since it was verified (%d bytes, expected %d); it is removed and the video downloaded again",
			id, f.Name(), n, size), b.removeStaged(id))
	}
	if err != nil {
		abort()
		_ = w.Close() // aborted: no object
		return b.fail("upload", id, err)
	}
	if err := w.Close(); err != nil {
		return b.fail("upload", id, err)
	}
	return b.removeStaged(id)
}

// PutObject writes a small object under the prefix in one request, atomically: readers see
// the old object or the new one, never a part (for a sidecar next to a video, say).
func (b *Bucket) PutObject(ctx context.Context, name string, data []byte, contentType string) error {
	if err := b.bucket.WriteAll(ctx, name, data, &blob.WriterOptions{ContentType: contentType}); err != nil {
		return b.fail("write "+name+" to", "", err)
	}
	return nil
}

// OpenObject opens the object of id for reading (the dashboard streams it). Its error wraps
// os.ErrNotExist when there is none.
func (b *Bucket) OpenObject(ctx context.Context, id string) (*blob.Reader, error) {
	if err := jobs.ValidateID("task id", id); err != nil {
		return nil, err
	}
	r, err := b.bucket.NewReader(ctx, key(id), nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("object %s: %w", b.FinalPath(id), os.ErrNotExist)
	} else if err != nil {
		return nil, b.fail("read", id, err)
	}
	return r, nil
}

// fail wraps an error of the bucket in a *jobs.StorageError that names the bucket and says
// what to do.
func (b *Bucket) fail(what, id string, err error) error {
	obj := b.Name()
	if id != "" {
		obj = b.FinalPath(id)
	}
	hint := "it is retried"
	switch code := gcerrors.Code(err); {
	case code == gcerrors.PermissionDenied || denied(err):
		hint = "the bucket refused the credentials: check them in the environment (for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the bucket's policy; it is retried"
	case code == gcerrors.NotFound:
		hint = "bucket " + b.Name() + " does not exist: create it, or fix the destination URL; it is retried"
	}
	return &jobs.StorageError{Err: fmt.Errorf("%s %s: %v; %s", what, obj, err, hint)}
}

// denied reports whether err is a refusal of the credentials that the driver did not classify
// as one: S3 answers an unknown access key (InvalidAccessKeyId), a wrong secret
// (SignatureDoesNotMatch) or an expired token with 403 and a code of its own.
func denied(err error) bool {
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && (status.HTTPStatusCode() == 401 || status.HTTPStatusCode() == 403) {
		return true
	}
	var api interface{ ErrorCode() string }
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "AccessDenied":
			return true
		}
	}
	return false
}

// copyBuffered copies src to dst through a 1 MiB buffer (the upload's writes then fill its
// parts in few calls).
func copyBuffered(dst io.Writer, src io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	return io.CopyBuffer(dst, src, buf)
}

// DefaultScratch is the scratch directory when none is given: kiemv's in the OS temp dir.
func DefaultScratch() string { return filepath.Join(os.TempDir(), "kiemv") }
