package jobs

import (
	"context"
	"errors"
)

// Publisher is Files whose verified files become visible somewhere else than where they are
// staged: an object-storage bucket. store.Bucket implements it. Its Commit leaves the verified
// file staged on local disk (OpenFinal opens it there), and Publish makes it visible at
// FinalPath; so a file under its final name is always complete and verified.
type Publisher interface {
	// Publish makes the staged verified file of id (size bytes, that sha256) visible at
	// FinalPath(id), checking its bytes again on the way, unless a file with that size and
	// sha256 is there already; then it removes the staged file. A failure leaves nothing new
	// under the final name and the staged file in place (unless its bytes no longer match,
	// then it is removed): publishing again starts over from it. Its errors wrap a
	// *StorageError.
	Publish(ctx context.Context, id string, size int64, sha256 string) error
	// Published returns the size and sha256 of the file of id published at FinalPath(id);
	// ok is false when there is none.
	Published(ctx context.Context, id string) (size int64, sha256 string, ok bool, err error)
}

// StorageError is a failure of the place verified files are published to (a bucket that
// refuses the credentials, does not exist or cannot be reached). The video host is not to
// blame: the download is retried, and its staged file uploaded again.
type StorageError struct{ Err error }

func (e *StorageError) Error() string { return e.Err.Error() }
func (e *StorageError) Unwrap() error { return e.Err }

// isStorage reports whether err is a failure of the storage verified files are published to.
func isStorage(err error) bool {
	var se *StorageError
	return errors.As(err, &se)
}

// publish makes the verified download of id visible, when Files publish (a bucket); with a
// local directory, Commit already did.
func (a *downloadAttempt) publish(ctx context.Context, id string, res result) error {
	p, ok := a.Files.(Publisher)
	if !ok {
		return nil
	}
	return p.Publish(ctx, id, res.size, res.sha256)
}

// published recognises a file that an attempt (here or on another machine) published before
// it died, or before its record said so: only verified files are published, so its recorded
// size and sha256 are the download's.
func (a *downloadAttempt) published(ctx context.Context, id string) (result, bool, error) {
	p, ok := a.Files.(Publisher)
	if !ok {
		return result{}, false, nil
	}
	size, sum, ok, err := p.Published(ctx, id)
	if err != nil || !ok {
		return result{}, false, err
	}
	a.removePart(id)
	return result{size: size, sha256: sum}, true, nil
}
