package view

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/kiemv/kiemv/jobs"
)

// PrintRecord writes a record as aligned "field value" lines, skipping empty values.
func PrintRecord(w io.Writer, r *jobs.Record) error {
	tw, row := fieldRows(w)
	row("task_id", r.TaskID)
	row("state", string(r.State))
	row("kie_status", r.KIEStatus)
	row("polls", r.Polls)
	row("music_task_id", r.MusicTaskID)
	row("audio_id", r.AudioID)
	row("kie_api", r.API)
	row("file", r.File)
	if r.Bytes > 0 {
		row("bytes", r.Bytes)
	}
	row("sha256", r.SHA256)
	row("error", r.Error)
	row("video_url", r.VideoURL)
	row("created_at", r.CreatedAt)
	row("updated_at", r.UpdatedAt)
	row("completed_at", r.CompletedAt)
	row("downloaded_at", r.DownloadedAt)
	return tw.Flush()
}

// PrintList prints records as a table, or as JSON lines.
func PrintList(recs []*jobs.Record, asJSON bool, stdout io.Writer) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range recs {
			if err := enc.Encode(Record(r)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK ID\tSTATE\tPOLLS\tBYTES\tCREATED\tFILE / ERROR")
	for _, r := range recs {
		note := r.File
		if r.Error != "" {
			note = r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%.100s\n", r.TaskID, r.State, r.Polls, r.Bytes, r.CreatedAt.Format(time.RFC3339), note)
	}
	return tw.Flush()
}

// PrintCredits writes the report of `kiemv credits`; without KIE's balance (balanceErr), the
// counts alone.
func PrintCredits(w io.Writer, r jobs.CreditReport, balanceErr error) {
	if balanceErr == nil {
		fmt.Fprintf(w, "balance  %g credits (KIE)\n", r.Balance)
	}
	fmt.Fprintf(w, "today    %d MP4s = %g credits (%s UTC, created by kiemv at %g credits each)\n",
		r.Today.MP4s, r.Today.Credits, r.Today.Date, r.MP4Credits)
	fmt.Fprintf(w, "total    %d MP4s = %g credits (created by kiemv)\n", r.Total.MP4s, r.Total.Credits)
}

// CreateWaitLine is what submit prints while it waits for a create slot.
func CreateWaitLine(w jobs.CreateWait, timeout time.Duration) string {
	line := fmt.Sprintf("kiemv: audio %s is waiting for a create slot (the shared create limit is in use): its turn comes in about %v",
		w.AudioID, w.Left.Round(time.Second))
	if w.Waited >= time.Second {
		line += fmt.Sprintf(", after %v waited", w.Waited.Round(time.Second))
	}
	if timeout > 0 {
		line += fmt.Sprintf("; it gives up after --timeout %v", timeout)
	}
	return line
}

// fieldRows returns a tabwriter on w and a row function that writes aligned "field value"
// lines to it, skipping empty values; times are written in RFC 3339, the zero time skipped.
func fieldRows(w io.Writer) (*tabwriter.Writer, func(k string, v any)) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	return tw, func(k string, v any) {
		s := fmt.Sprint(v)
		if t, ok := v.(time.Time); ok {
			s = ""
			if !t.IsZero() {
				s = t.Format(time.RFC3339)
			}
		}
		if s != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, s)
		}
	}
}
