package store

import (
	"fmt"
	"strconv"
	"time"

	"github.com/kiemv/kiemv/jobs"
)

// Hash field names of a record, the snake_case names of the JSON record.
const (
	fTaskID       = "task_id" // read from hashes written before the id was left out
	fMusicTaskID  = "music_task_id"
	fAudioID      = "audio_id"
	fState        = "state"
	fGeneration   = "gen" // absent: 1 (a record never retried, canceled or re-adopted)
	fRequeued     = "requeued"
	fKIEStatus    = "kie_status"
	fPolls        = "polls"
	fVideoURL     = "video_url"
	fFile         = "file"
	fBytes        = "bytes"
	fSHA256       = "sha256"
	fError        = "error"
	fCreatedAt    = "created_at"
	fUpdatedAt    = "updated_at"
	fCompletedAt  = "completed_at"
	fDownloadedAt = "downloaded_at"
	fPartETag     = "part_etag"  // internal: validator of the partial file ("-" = none)
	fPartTotal    = "part_total" // internal: length the partial file must reach ("-" = unknown)
	fRetriedAt    = "retried_at" // internal: last `kiemv retry`
	fPartOwner    = "part_owner" // internal: the Files holding the partial file
	fAPI          = "api"        // the KIE API holding the task; absent: not known yet (legacy implied)
)

// fields collects hash field/value pairs, skipping zero values (absent fields read back as
// zero, as in the JSON record).
type fields []any

func (f *fields) str(name, v string) {
	if v != "" {
		*f = append(*f, name, v)
	}
}

func (f *fields) int(name string, v int64) {
	if v != 0 {
		*f = append(*f, name, strconv.FormatInt(v, 10))
	}
}

func (f *fields) time(name string, v time.Time) {
	if !v.IsZero() {
		*f = append(*f, name, formatTime(v))
	}
}

// partTotal stores the declared length of a partial file: a negative one clears it ("-"),
// as HSET cannot remove a field; zero leaves it alone.
func (f *fields) partTotal(v int64) {
	if v < 0 {
		*f = append(*f, fPartTotal, "-")
		return
	}
	f.int(fPartTotal, v)
}

// formatTime is how times are stored: Unix milliseconds, which Redis keeps as a compact
// integer in the record's hash (a third of the bytes of an RFC 3339 string).
func formatTime(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// score is the sorted-set score of a record created at t: unix milliseconds.
func score(t time.Time) float64 { return float64(t.UnixMilli()) }

// recordFields returns every non-zero field of rec.
func recordFields(rec *jobs.Record) fields {
	var f fields
	// The id is the key's suffix: it is not stored again in the hash.
	f.str(fMusicTaskID, rec.MusicTaskID)
	f.str(fAudioID, rec.AudioID)
	f.str(fState, string(rec.State))
	f.str(fKIEStatus, rec.KIEStatus)
	f.int(fPolls, int64(rec.Polls))
	f.str(fVideoURL, rec.VideoURL)
	f.str(fFile, rec.File)
	f.int(fBytes, rec.Bytes)
	f.str(fSHA256, rec.SHA256)
	f.str(fError, rec.Error)
	f.time(fCreatedAt, rec.CreatedAt)
	f.time(fUpdatedAt, rec.UpdatedAt)
	f.time(fCompletedAt, rec.CompletedAt)
	f.time(fDownloadedAt, rec.DownloadedAt)
	f.str(fPartETag, rec.PartETag)
	f.partTotal(rec.PartTotal)
	f.time(fRetriedAt, rec.RetriedAt)
	if rec.Generation > 1 {
		f.int(fGeneration, rec.Generation)
	}
	f.int(fRequeued, int64(rec.Requeued))
	f.str(fPartOwner, rec.PartOwner)
	f.str(fAPI, rec.API)
	return f
}

// changeFields returns the fields ch sets with HSET: everything but the state, the polls
// counter, the error removal and updated_at, which the update script handles itself.
func changeFields(ch jobs.Change) fields {
	var f fields
	f.str(fKIEStatus, ch.KIEStatus)
	f.str(fVideoURL, ch.VideoURL)
	f.str(fFile, ch.File)
	f.int(fBytes, ch.Bytes)
	f.str(fSHA256, ch.SHA256)
	f.str(fError, ch.Error)
	f.time(fCompletedAt, ch.CompletedAt)
	f.time(fDownloadedAt, ch.DownloadedAt)
	f.str(fPartETag, ch.PartETag)
	f.partTotal(ch.PartTotal)
	f.time(fRetriedAt, ch.RetriedAt)
	f.str(fPartOwner, ch.PartOwner)
	f.str(fAPI, ch.API)
	return f
}

// decodeRecord turns a record hash into a Record. id names the record in errors.
func decodeRecord(id string, h map[string]string) (*jobs.Record, error) {
	rec := &jobs.Record{
		TaskID:      h[fTaskID],
		MusicTaskID: h[fMusicTaskID],
		AudioID:     h[fAudioID],
		API:         h[fAPI],
		State:       jobs.State(h[fState]),
		KIEStatus:   h[fKIEStatus],
		VideoURL:    h[fVideoURL],
		File:        h[fFile],
		SHA256:      h[fSHA256],
		Error:       h[fError],
	}
	if v := h[fPartETag]; v != "-" {
		rec.PartETag = v
	}
	if rec.TaskID == "" {
		rec.TaskID = id
	}
	var err error
	bad := func(field string, e error) {
		if err == nil && e != nil {
			err = fmt.Errorf("record %s: field %s in Redis is corrupt: %w", id, field, e)
		}
	}
	var polls int64
	polls, e := parseInt(h[fPolls])
	bad(fPolls, e)
	rec.Polls = int(polls)
	rec.Bytes, e = parseInt(h[fBytes])
	bad(fBytes, e)
	rec.CreatedAt, e = parseTime(h[fCreatedAt])
	bad(fCreatedAt, e)
	rec.UpdatedAt, e = parseTime(h[fUpdatedAt])
	bad(fUpdatedAt, e)
	rec.CompletedAt, e = parseTime(h[fCompletedAt])
	bad(fCompletedAt, e)
	rec.DownloadedAt, e = parseTime(h[fDownloadedAt])
	bad(fDownloadedAt, e)
	rec.RetriedAt, e = parseTime(h[fRetriedAt])
	bad(fRetriedAt, e)
	rec.Generation, e = parseInt(h[fGeneration])
	bad(fGeneration, e)
	rec.Generation = max(rec.Generation, 1)
	var requeued int64
	requeued, e = parseInt(h[fRequeued])
	bad(fRequeued, e)
	rec.Requeued = int(requeued)
	rec.PartOwner = h[fPartOwner]
	if v := h[fPartTotal]; v != "-" {
		rec.PartTotal, e = parseInt(v)
		bad(fPartTotal, e)
	}
	if err != nil {
		return nil, err
	}
	if !rec.State.Valid() {
		return nil, fmt.Errorf("record %s: field state in Redis is corrupt: unknown state %q", id, h[fState])
	}
	return rec, nil
}

// decodePairs turns a flat [field, value, …] reply (HGETALL inside a script) into a map.
func decodePairs(vals []any) (map[string]string, error) {
	if len(vals)%2 != 0 {
		return nil, fmt.Errorf("odd number of hash fields in script reply: %d", len(vals))
	}
	h := make(map[string]string, len(vals)/2)
	for i := 0; i < len(vals); i += 2 {
		k, ok1 := vals[i].(string)
		v, ok2 := vals[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("unexpected script reply element types %T, %T", vals[i], vals[i+1])
		}
		h[k] = v
	}
	return h, nil
}

func parseInt(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// parseTime reads a stored time: Unix milliseconds, or RFC 3339 as written by earlier versions.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
