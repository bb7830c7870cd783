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
	d := recordDecoder{id: id, rec: &jobs.Record{}}
	for name, v := range h {
		d.set(name, v)
	}
	return d.done()
}

// decodeRecordPairs is decodeRecord of a flat [field, value, …] reply (HGETALL inside a
// script), read without building a map.
func decodeRecordPairs(id string, vals []any) (*jobs.Record, error) {
	if len(vals)%2 != 0 {
		return nil, fmt.Errorf("record %s: odd number of hash fields in script reply: %d", id, len(vals))
	}
	d := recordDecoder{id: id, rec: &jobs.Record{}}
	for i := 0; i < len(vals); i += 2 {
		name, ok1 := vals[i].(string)
		v, ok2 := vals[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("record %s: unexpected script reply element types %T, %T", id, vals[i], vals[i+1])
		}
		d.set(name, v)
	}
	return d.done()
}

// recordDecoder fills a Record one hash field at a time; absent fields stay zero, and
// unknown ones (written by a later version) are ignored.
type recordDecoder struct {
	id  string
	rec *jobs.Record
	err error // the first corrupt field
}

// set reads one hash field into the record.
func (d *recordDecoder) set(name, v string) {
	rec := d.rec
	switch name {
	case fTaskID:
		rec.TaskID = v
	case fMusicTaskID:
		rec.MusicTaskID = v
	case fAudioID:
		rec.AudioID = v
	case fAPI:
		rec.API = v
	case fState:
		rec.State = jobs.State(v)
	case fKIEStatus:
		rec.KIEStatus = v
	case fVideoURL:
		rec.VideoURL = v
	case fFile:
		rec.File = v
	case fSHA256:
		rec.SHA256 = v
	case fError:
		rec.Error = v
	case fPartOwner:
		rec.PartOwner = v
	case fPartETag:
		if v != "-" {
			rec.PartETag = v
		}
	case fPartTotal:
		if v != "-" {
			rec.PartTotal = d.int(name, v)
		}
	case fPolls:
		rec.Polls = int(d.int(name, v))
	case fRequeued:
		rec.Requeued = int(d.int(name, v))
	case fBytes:
		rec.Bytes = d.int(name, v)
	case fGeneration:
		rec.Generation = d.int(name, v)
	case fCreatedAt:
		rec.CreatedAt = d.time(name, v)
	case fUpdatedAt:
		rec.UpdatedAt = d.time(name, v)
	case fCompletedAt:
		rec.CompletedAt = d.time(name, v)
	case fDownloadedAt:
		rec.DownloadedAt = d.time(name, v)
	case fRetriedAt:
		rec.RetriedAt = d.time(name, v)
	}
}

func (d *recordDecoder) int(name, v string) int64 {
	n, err := parseInt(v)
	d.corrupt(name, err)
	return n
}

func (d *recordDecoder) time(name, v string) time.Time {
	t, err := parseTime(v)
	d.corrupt(name, err)
	return t
}

// corrupt keeps the first error, naming the record and the field.
func (d *recordDecoder) corrupt(name string, err error) {
	if d.err == nil && err != nil {
		d.err = fmt.Errorf("record %s: field %s in Redis is corrupt: %w", d.id, name, err)
	}
}

// done returns the record, or the first corrupt field's error.
func (d *recordDecoder) done() (*jobs.Record, error) {
	rec := d.rec
	if d.err != nil {
		return nil, d.err
	}
	if rec.TaskID == "" {
		rec.TaskID = d.id
	}
	rec.Generation = max(rec.Generation, 1)
	if !rec.State.Valid() {
		return nil, fmt.Errorf("record %s: field state in Redis is corrupt: unknown state %q", d.id, rec.State)
	}
	return rec, nil
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
