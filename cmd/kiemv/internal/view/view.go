// Package view is what `kiemv status`, `list` and `wait` show of what kiemv follows: MP4
// records (with "kind":"mp4" in JSON) and songs (a music task and the MP4 task of each take,
// "kind":"song"). A song is read like a record where a command takes either.
package view

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/kiemv/kiemv/jobs"
)

// MP4 is a record as printed in JSON: "kind":"mp4", then the record's fields.
type MP4 struct {
	Kind string `json:"kind"`
	*jobs.Record
}

// Record returns rec as printed in JSON.
func Record(rec *jobs.Record) MP4 { return MP4{Kind: "mp4", Record: rec} }

// Song reads a song and the state of each take's MP4 record.
func Song(ctx context.Context, recs jobs.Store, songs jobs.SongStore, id string) (*jobs.Song, error) {
	sg, err := songs.GetSong(ctx, id)
	if err != nil {
		return nil, err
	}
	return sg, jobs.FillTakeStates(ctx, recs, sg)
}

// SongRecords returns the MP4 records of the song's takes, in take order (takes without an
// MP4 task yet are left out).
func SongRecords(ctx context.Context, recs jobs.Store, songs jobs.SongStore, id string) ([]*jobs.Record, error) {
	sg, err := songs.GetSong(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []*jobs.Record
	for _, tk := range sg.Takes {
		if tk.MP4TaskID == "" {
			continue
		}
		rec, err := recs.Get(ctx, tk.MP4TaskID)
		if errors.Is(err, jobs.ErrNoRecord) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// PrintSong writes a song as aligned "field value" lines, then one line per take.
func PrintSong(w io.Writer, sg *jobs.Song) error {
	tw, row := fieldRows(w)
	row("task_id", sg.TaskID)
	row("kind", "song")
	row("state", string(sg.State))
	row("kie_status", sg.KIEStatus)
	row("polls", sg.Polls)
	row("author", sg.Author)
	row("domain", sg.Domain)
	row("error", sg.Error)
	row("created_at", sg.CreatedAt)
	row("updated_at", sg.UpdatedAt)
	row("completed_at", sg.CompletedAt)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(sg.Takes) == 0 {
		_, err := fmt.Fprintln(w, "takes     not known yet")
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TAKE AUDIO ID\tTITLE\tMP4 TASK ID\tSTATE")
	for _, tk := range sg.Takes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", tk.AudioID, dash(tk.Title), dash(tk.MP4TaskID), dash(string(tk.State)))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Either reads MP4 records and, for an id that names no record, the song of that music task
// as a record: what `kiemv wait` waits for. It is a jobs.Store whose Get sees songs.
type Either struct {
	jobs.Store
	Songs jobs.SongStore
}

// Get returns the MP4 record id, or the song id as a record (see SongAsRecord); an error
// wrapping jobs.ErrNoRecord when kiemv follows neither.
func (e Either) Get(ctx context.Context, id string) (*jobs.Record, error) {
	rec, err := e.Store.Get(ctx, id)
	if !errors.Is(err, jobs.ErrNoRecord) || e.Songs == nil {
		return rec, err
	}
	sg, serr := Song(ctx, e.Store, e.Songs, id)
	if errors.Is(serr, jobs.ErrNoSong) {
		return nil, err
	} else if serr != nil {
		return nil, serr
	}
	recs, serr := SongRecords(ctx, e.Store, e.Songs, id)
	if serr != nil {
		return nil, serr
	}
	files := map[string]string{}
	for _, r := range recs {
		files[r.TaskID] = r.File
	}
	return SongAsRecord(sg, files), nil
}

// SongAsRecord sums a song up as one record, for `kiemv wait`: pending until the takes are
// known and every take's video has ended; then downloaded when every take's is, else failed
// with the reasons. A song that ended failed or timed_out is that, with its error. File lists
// the takes' files (files: by MP4 task id), space-separated.
func SongAsRecord(sg *jobs.Song, files map[string]string) *jobs.Record {
	rec := &jobs.Record{TaskID: sg.TaskID, MusicTaskID: sg.TaskID, KIEStatus: sg.KIEStatus, Polls: sg.Polls,
		CreatedAt: sg.CreatedAt, UpdatedAt: sg.UpdatedAt, CompletedAt: sg.CompletedAt}
	switch sg.State {
	case jobs.SongFailed, jobs.SongTimedOut:
		rec.State, rec.Error = jobs.State(sg.State), sg.Error
		return rec
	case jobs.SongSubmitted:
	default:
		rec.State = jobs.StatePending
		return rec
	}
	var paths, bad []string
	for _, tk := range sg.Takes {
		switch {
		case !tk.State.Terminal():
			rec.State = jobs.StatePending
			return rec
		case tk.State == jobs.StateDownloaded:
			paths = append(paths, files[tk.MP4TaskID])
		default:
			bad = append(bad, fmt.Sprintf("take %s (mp4 task %s) ended %s; see `kiemv status %s`", tk.AudioID, tk.MP4TaskID, tk.State, tk.MP4TaskID))
		}
	}
	rec.State, rec.File = jobs.StateDownloaded, strings.Join(paths, " ")
	if len(bad) > 0 {
		rec.State, rec.Error = jobs.StateFailed, strings.Join(bad, "; ")
	}
	return rec
}
