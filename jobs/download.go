package jobs

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/jobs/kie"
)

// URLSource is the part of the KIE API the download handler needs to replace a dead URL.
type URLSource interface {
	VideoDetails(ctx context.Context, taskID string) (*kie.VideoRecord, error)
	DownloadURL(ctx context.Context, fileURL string) (string, error)
}

// DownloadConfig tunes the download handler.
type DownloadConfig struct {
	MaxBytes    int64         // largest video accepted (default 4 GiB)
	IdleTimeout time.Duration // a body that sends nothing for this long is cut (default 60s)
}

func (c DownloadConfig) withDefaults() DownloadConfig {
	if c.MaxBytes <= 0 {
		c.MaxBytes = 4 << 30
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = time.Minute
	}
	return c
}

// Downloader handles mp4:download tasks: it streams the video to a partial file, resumes
// after a cut, verifies length and signature, and renames it into place.
type Downloader struct {
	KIE     URLSource
	Store   Store
	Files   Files
	HTTP    *http.Client // default: one NewHTTPClient() shared by every Downloader
	Config  DownloadConfig
	Log     *slog.Logger
	NowFunc func() time.Time
	Hooks   *Hooks    // optional observers (metrics)
	Breaker *Breaker  // optional: shared outage state of KIE and the video hosts
	JobsKIE URLSource // KIE's jobs API, for fresh URLs of records on it (nil: the legacy API is asked)

	// Songs, optional, names the take of each video in its sidecar.
	Songs SongStore
}

// downloadAttempt is one run of a download task: the Downloader with its defaults filled in
// once.
type downloadAttempt struct {
	*Downloader
	recorder
	cfg    DownloadConfig
	client *http.Client
	stale  func() // stops the attempt when its record moved on
	url    string // the URL last fetched: its host is blamed for a transient failure
	wait   error  // set by outage: the error that makes the task wait, not retry
}

// ProcessTask implements asynq.Handler.
func (d *Downloader) ProcessTask(ctx context.Context, t *asynq.Task) error {
	a := &downloadAttempt{Downloader: d, recorder: newRecorder(d.Store, d.Log, d.NowFunc, d.Hooks),
		cfg: d.Config.withDefaults(), client: d.HTTP}
	if a.client == nil {
		a.client = defaultHTTPClient()
	}
	return a.process(ctx, t)
}

// process is one run of a download task. It may only move the record out of ready or
// downloading, and only while the record is at the task's generation: an attempt that finds
// it moved on (canceled, retried, re-adopted) stops and changes nothing.
func (a *downloadAttempt) process(ctx context.Context, t *asynq.Task) error {
	id, gen, err := taskRef(t)
	if err != nil {
		return err
	}
	rec, err := a.load(ctx, "download", id, gen)
	if rec == nil || err != nil {
		return err
	}
	if rec.State != StateReady && rec.State != StateDownloading {
		return nil // done already
	}
	if err := a.Breaker.wait(ctx, HostDep(rec.VideoURL)); err != nil {
		return err // the video host is down: wait for a probe to succeed, no retry used
	}
	if rec, err = a.claimPart(ctx, rec); rec == nil || err != nil {
		return err
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	a.stale = func() { stop(ErrStale) }
	start := time.Now()
	res, err := a.download(ctx, rec)
	a.hooks.download(res.size, time.Since(start), err)
	if err != nil {
		return a.onError(ctx, id, err)
	}
	done := a.now()
	a.putSidecar(ctx, rec, res.size, res.sha256, done)
	rec, err = a.change(ctx, id, Change{To: StateDownloaded, File: a.Files.FinalPath(id), Bytes: res.size,
		SHA256: res.sha256, DownloadedAt: done, PartETag: "-", ClearError: true,
		PartTotal: -1, // with PartETag: there is no partial file any more
	})
	if rec == nil && err == nil {
		a.log.Info("download finished for a record that moved on; its file stays", "task_id", id, "file", a.Files.FinalPath(id))
	}
	return err
}

// claimPart moves a ready record to downloading, and makes this worker's Files the owner of
// the partial file. A part that another machine (or directory) wrote is not here: its length
// and validator are forgotten, and a part left here by an earlier owner is removed, so the
// transfer starts cleanly from byte 0.
func (a *downloadAttempt) claimPart(ctx context.Context, rec *Record) (*Record, error) {
	own := a.Files.Owner()
	ch := Change{PartOwner: own}
	if rec.State == StateReady {
		ch.To = StateDownloading
	}
	if rec.PartOwner != own && rec.PartOwner != "" {
		a.log.Info("partial file was written elsewhere; starting from byte 0 here", "task_id", rec.TaskID, "was", rec.PartOwner)
		a.removePart(rec.TaskID)
		ch.PartETag, ch.PartTotal = "-", -1
	}
	if ch.To == "" && rec.PartOwner == own {
		return rec, nil
	}
	return a.change(ctx, rec.TaskID, ch)
}

// download fetches the file (or recognises one an earlier attempt committed), replacing a
// dead URL with a fresh one from KIE once.
func (a *downloadAttempt) download(ctx context.Context, rec *Record) (result, error) {
	id := rec.TaskID
	if res, ok, err := a.committed(id); ok || err != nil {
		if err == nil {
			err = a.publish(ctx, id, res) // verified and staged before a crash: upload it again
		}
		return res, err
	}
	if res, ok, err := a.published(ctx, id); ok || err != nil {
		return res, err
	}
	a.url = rec.VideoURL
	res, err := a.transfer(rec, rec.VideoURL).run(ctx)
	if errors.Is(err, errURLDead) {
		a.log.Info("video URL is dead; asking KIE for a fresh one", "task_id", id, "reason", err)
		fresh, ferr := a.freshURL(ctx, id, rec.API)
		if ferr != nil {
			return result{}, ferr
		}
		a.note(ctx, id, Change{VideoURL: fresh})
		a.url = fresh
		res, err = a.transfer(rec, fresh).run(ctx)
	}
	if err == nil {
		a.Breaker.succeeded(ctx, HostDep(a.url))
		err = a.publish(ctx, id, res)
	}
	return res, err
}

// committed recognises a final file that an attempt renamed into place before it died:
// files are only renamed after they were verified, so hashing it is enough.
func (a *downloadAttempt) committed(id string) (result, bool, error) {
	f, err := a.Files.OpenFinal(id)
	if errors.Is(err, os.ErrNotExist) {
		return result{}, false, nil
	} else if err != nil {
		return result{}, false, err
	}
	defer f.Close() // read only
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return result{}, false, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if _, ok := a.Files.(Publisher); !ok { // a bucket's staged file: Publish removes it once uploaded
		a.removePart(id)
	}
	return result{size: n, sha256: hex.EncodeToString(h.Sum(nil))}, true, nil
}

// removePart deletes the partial file of id. A failure costs only disk space (the file is
// emptied again before any reuse): it is logged.
func (a *downloadAttempt) removePart(id string) {
	if err := a.Files.RemovePart(id); err != nil {
		a.log.Warn("partial file could not be removed", "task_id", id, "error", err)
	}
}

func (a *downloadAttempt) transfer(rec *Record, url string) *transfer {
	ctx := context.Background() // bookkeeping outlives a canceled attempt
	return &transfer{files: a.Files, client: a.client, id: rec.TaskID, url: url, etag: rec.PartETag,
		total:    rec.PartTotal,
		maxBytes: a.cfg.MaxBytes, idle: a.cfg.IdleTimeout,
		savePart: func(etag string, total int64) error {
			if etag == "" {
				etag = "-"
			}
			if total <= 0 {
				total = -1
			}
			rec, err := a.change(ctx, rec.TaskID, Change{PartETag: etag, PartTotal: total})
			if rec == nil && err == nil {
				a.stale()
				return ErrStale
			}
			return err
		},
		progress: func(n int64) {
			if !a.note(ctx, rec.TaskID, Change{Bytes: n}) {
				a.stale() // canceled, retried or re-adopted meanwhile: stop here
			}
		},
	}
}

// onError records what a failed attempt means: expired, failed for good, or retried later.
// A record that cannot be updated here is logged: the attempt's own error is what Asynq
// needs to hear.
func (a *downloadAttempt) onError(ctx context.Context, id string, err error) error {
	var pe *permanentError
	switch {
	case errors.Is(context.Cause(ctx), ErrStale) || errors.Is(err, ErrStale):
		a.log.Info("download stopped: the record moved on (canceled, retried or re-adopted)", "task_id", id)
		return nil
	case ctx.Err() != nil:
		return err
	case IsOutage(err):
		return err // waiting for KIE or the video host to come back: no retry used
	case errors.Is(err, errURLDead):
		msg := fmt.Sprintf("the video of mp4 task %s can no longer be fetched (%v); KIE keeps videos about 14 days", id, err)
		rec, cerr := a.change(ctx, id, Change{To: StateExpired, Error: msg})
		return cmp.Or(cerr, ended(rec, msg))
	case errors.As(err, &pe):
		msg := fmt.Sprintf("download of mp4 task %s refused: %v", id, err)
		rec, cerr := a.change(ctx, id, Change{To: StateFailed, Error: msg})
		if rec == nil {
			return cerr // moved on: the part may be the new generation's
		}
		a.removePart(id)
		return fmt.Errorf("download of mp4 task %s refused: %w: %w", id, err, asynq.SkipRetry) // the text of msg
	case !isStorage(err) && a.outage(ctx, id, err): // a bucket's failure is not the video host's
		return a.wait
	case lastAttempt(ctx):
		n, _ := asynq.GetRetryCount(ctx) // known: lastAttempt checked it
		msg := fmt.Sprintf("download of mp4 task %s gave up after %d attempts, the last: %v; run `kiemv retry %s` to try again", id, n+1, err, id)
		rec, cerr := a.change(ctx, id, Change{To: StateFailed, Error: msg})
		return cmp.Or(cerr, ended(rec, msg))
	}
	if !a.note(ctx, id, Change{Error: err.Error()}) {
		return nil // moved on meanwhile: nothing to retry
	}
	a.log.Warn("download attempt failed; will retry", "task_id", id, "error", err)
	return err
}
