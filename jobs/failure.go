package jobs

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// How one download attempt can fail. errURLDead asks for a fresh URL; a permanentError ends
// the record; anything else is retried.
var errURLDead = errors.New("video URL is gone")

// errOtherVersion is a resume answered with bytes of another version of the file than those
// in the partial file: the transfer starts over from byte 0 instead.
var errOtherVersion = errors.New("another version of the file")

// permanentError marks a download failure that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(format string, a ...any) error {
	return &permanentError{err: fmt.Errorf(format, a...)}
}

// TooLargeError says a video is larger than the download limit (DownloadConfig.MaxBytes):
// its download is refused for good. It says which task and which limit; the program that
// set the limit adds how to raise it. Downloader.ProcessTask's error and Hooks.DownloadFunc's
// err wrap it.
type TooLargeError struct {
	ID    string // the MP4 task id
	Size  int64  // the size the file server announced; 0 when the body ran past Limit
	Limit int64  // the largest video accepted, in bytes
}

// Error says which video is too large and what the cap is, e.g. "video of mp4_x is larger
// than the 1048576-byte cap on video size".
func (e *TooLargeError) Error() string {
	if e.Size > 0 {
		return fmt.Sprintf("video of %s is %d bytes, over the %d-byte cap on video size", e.ID, e.Size, e.Limit)
	}
	return fmt.Sprintf("video of %s is larger than the %d-byte cap on video size", e.ID, e.Limit)
}

// httpStatusError is a transient non-2xx answer from the file server.
type httpStatusError struct {
	status     int
	retryAfter time.Duration
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("video URL answered HTTP %d", e.status) }

// RetryAfter is honoured by Backoff.RetryDelay.
func (e *httpStatusError) RetryAfter() time.Duration { return e.retryAfter }

// diskError is a failure to write the partial file (a full disk, say): the server is not to
// blame, and the attempt is retried like any transient error.
type diskError struct{ err error } // err is the *os.PathError, which names the file

func (e *diskError) Error() string {
	hint := "check that the download directory is writable"
	if errors.Is(e.err, syscall.ENOSPC) || errors.Is(e.err, syscall.EDQUOT) {
		hint = "free space in the download directory"
	}
	return fmt.Sprintf("cannot write the partial file (%v); %s, and the download resumes on its next retry", e.err, hint)
}
func (e *diskError) Unwrap() error { return e.err }
