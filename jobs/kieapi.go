package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kiemv/kiemv/jobs/kie"
)

// The KIE APIs that can hold an MP4 task (kie-api.md §10). A Record names its API in
// Record.API; "" means not known yet: a task created elsewhere (track) or a record older
// than the jobs API, which the poll looks for on the legacy API and then on the jobs API.
const (
	APILegacy = "legacy" // POST /api/v1/mp4/generate, GET /api/v1/mp4/record-info
	APIJobs   = "jobs"   // POST /api/v1/jobs/createTask, GET /api/v1/jobs/recordInfo
)

// ParseAPI returns the KIE API named by s ("" is APILegacy), or an error listing the names.
func ParseAPI(s string) (string, error) {
	switch s {
	case "", APILegacy:
		return APILegacy, nil
	case APIJobs:
		return APIJobs, nil
	}
	return "", fmt.Errorf("unknown KIE API %q: use %s or %s", s, APILegacy, APIJobs)
}

// errNoJobsClient is the error of a record on the jobs API met by a handler built without
// a jobs API client.
var errNoJobsClient = errors.New("this worker has no client for KIE's jobs API")

// details asks the API holding rec's task for its record. A record whose API is not known
// yet is asked of the legacy API (the implied one); a task the legacy API does not know
// (not-found) is then looked for on the jobs API (a second call, within the shared
// record-info limit), and when found there APIJobs is saved on the record, so later polls
// ask the jobs API only. When neither knows it, or the limit puts the lookup off, the legacy
// API's not-found is returned.
func (a *pollAttempt) details(ctx context.Context, rec *Record) (*kie.VideoRecord, error) {
	id := rec.TaskID
	switch rec.API {
	case APIJobs:
		if a.JobsKIE == nil {
			return nil, fmt.Errorf("poll %s, a task of KIE's jobs API: %w", id, errNoJobsClient)
		}
		return a.JobsKIE.VideoDetails(ctx, id)
	case APILegacy:
		return a.KIE.VideoDetails(ctx, id)
	}
	vr, err := a.KIE.VideoDetails(ctx, id)
	var apiErr *kie.APIError
	if err == nil || a.JobsKIE == nil || !errors.As(err, &apiErr) || !apiErr.NotFound() {
		return vr, err // found on the legacy API (the implied one: nothing to save), or no answer
	}
	if wait, lerr := a.allowLookup(ctx, id); lerr != nil || wait > 0 {
		a.log.Debug("jobs API lookup put off: the shared record-info limit is in use", "task_id", id, "wait", wait, "error", lerr)
		return nil, err // the not-found stands for this poll; the next one looks again
	}
	jvr, jerr := a.JobsKIE.VideoDetails(ctx, id)
	if errors.As(jerr, &apiErr) && apiErr.NotFound() {
		return nil, err // neither API knows it: the legacy answer decides, as before
	} else if jerr != nil {
		return nil, jerr
	}
	a.log.Info("the legacy API does not know this task; KIE's jobs API does: following it there", "task_id", id)
	a.note(ctx, id, Change{API: APIJobs})
	return jvr, nil
}

// allowLookup takes a second record-info call for id from the shared limit, for the jobs API
// lookup of details: 0 when it may go ahead now (after waiting here for a call at most
// pollWaitHere away), else the wait, with the booked call given back.
func (a *pollAttempt) allowLookup(ctx context.Context, id string) (time.Duration, error) {
	r, ok := a.Limiter.(Reserver)
	if !ok {
		return a.Limiter.Allow(ctx, LimitRecordInfo)
	}
	d, err := takeSlot(ctx, r, LimitRecordInfo, id, pollWaitHere)
	if d > 0 {
		releaseSlot(ctx, r, LimitRecordInfo, id)
	}
	return d, err
}

// urlSource is the client of the API holding a task of api for fresh URLs: the jobs API's
// when api is APIJobs and the Downloader has one, else the legacy one.
func (d *Downloader) urlSource(api string) URLSource {
	if api == APIJobs && d.JobsKIE != nil {
		return d.JobsKIE
	}
	return d.KIE
}

// creator is the client that creates new MP4 tasks: the jobs API's when s.API is APIJobs.
func (s *Service) creator() (kie.API, string) {
	if s.API == APIJobs && s.JobsKIE != nil {
		return s.JobsKIE, APIJobs
	}
	return s.KIE, APILegacy
}
