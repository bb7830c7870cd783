package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/kiemv/kiemv/jobs/kie"
)

// freshURL asks the KIE API holding the task (api, as Record.API) for its current video URL,
// then for a signed download link.
func (a *downloadAttempt) freshURL(ctx context.Context, id, api string) (string, error) {
	if err := a.Breaker.wait(ctx, DepKIE); err != nil {
		return "", err
	}
	fresh, err := a.askFreshURL(ctx, id, a.urlSource(api))
	if err == nil || !kie.IsTemporary(err) {
		a.Breaker.succeeded(ctx, DepKIE)
	}
	return fresh, err
}

// askFreshURL makes freshURL's calls to KIE. A temporary error it returns is KIE's (Blame).
func (a *downloadAttempt) askFreshURL(ctx context.Context, id string, src URLSource) (string, error) {
	vr, err := src.VideoDetails(ctx, id)
	if err != nil {
		if kie.IsTemporary(err) {
			return "", &kieFault{fmt.Errorf("fresh URL for %s: %w", id, err)}
		}
		return "", fmt.Errorf("%w: KIE gave no fresh URL for %s: %v", errURLDead, id, err)
	}
	if vr.VideoURL == "" {
		return "", fmt.Errorf("%w: KIE's record of %s has no video URL any more", errURLDead, id)
	}
	signed, err := src.DownloadURL(ctx, vr.VideoURL)
	if err != nil {
		if kie.IsTemporary(err) {
			return "", &kieFault{fmt.Errorf("download-url for %s: %w", id, err)}
		}
		a.log.Warn("download-url refused; trying record-info's URL", "task_id", id, "reason", err)
		return vr.VideoURL, nil
	}
	return signed, nil
}

// kieFault marks a transient error of KIE (not of the video host) met by a download.
type kieFault struct{ error }

func (e *kieFault) Unwrap() error { return e.error }

// outage reports a transient failure to the breaker of the dependency that failed (KIE, or
// the host of the URL last fetched) and reports whether the task waits instead of using a
// retry; the error it returns is then in a.wait.
func (a *downloadAttempt) outage(ctx context.Context, id string, err error) bool {
	dep := HostDep(a.url)
	var kf *kieFault
	if errors.As(err, &kf) {
		dep = DepKIE
	}
	a.wait = a.Breaker.failed(ctx, dep, id)
	if a.wait != nil {
		a.note(ctx, id, Change{Error: err.Error()})
	}
	return a.wait != nil
}
