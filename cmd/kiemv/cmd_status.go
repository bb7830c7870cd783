package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/view"
	"github.com/kiemv/kiemv/jobs"
	"github.com/urfave/cli/v2"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show one followed MP4 task, or song (music task id)",
		ArgsUsage: "ID",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the record as JSON"}},
		Action: func(c *cli.Context) error {
			cfg, err := readGlobals(c)
			if err != nil {
				return err
			}
			if c.NArg() != 1 {
				return usagef("status takes exactly one MP4 task id, got %d arguments", c.NArg())
			}
			return runStatus(c.Context, cfg, c.Args().First(), c.Bool("json"), c.App.Writer)
		},
	}
}

// runStatus prints one record.
func runStatus(ctx context.Context, cfg app.Config, id string, asJSON bool, stdout io.Writer) error {
	if err := jobs.ValidateID("mp4 task id", id); err != nil {
		return usagef("%v", err)
	}
	conn, err := cfg.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	rec, err := cfg.Records(conn).Get(ctx, id)
	if errors.Is(err, jobs.ErrNoRecord) {
		sg, serr := view.Song(ctx, cfg.Records(conn), cfg.Songs(conn), id)
		switch {
		case errors.Is(serr, jobs.ErrNoSong):
			return fmt.Errorf("kiemv follows no mp4 task or song %s (namespace %q); start with `kiemv track %s`, or `kiemv submit --task-id %s` for a song", id, cfg.Namespace, id, id)
		case serr != nil:
			return serr
		case asJSON:
			return json.NewEncoder(stdout).Encode(sg)
		}
		return view.PrintSong(stdout, sg)
	} else if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(view.Record(rec))
	}
	return printRecord(stdout, rec)
}

// printRecord writes a record as aligned "field value" lines, skipping empty values.
func printRecord(w io.Writer, r *jobs.Record) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	row("task_id", r.TaskID)
	row("state", string(r.State))
	row("kie_status", r.KIEStatus)
	row("polls", fmt.Sprint(r.Polls))
	row("music_task_id", r.MusicTaskID)
	row("audio_id", r.AudioID)
	row("kie_api", r.API)
	row("file", r.File)
	if r.Bytes > 0 {
		row("bytes", fmt.Sprint(r.Bytes))
	}
	row("sha256", r.SHA256)
	row("error", r.Error)
	row("video_url", r.VideoURL)
	row("created_at", ts(r.CreatedAt))
	row("updated_at", ts(r.UpdatedAt))
	row("completed_at", ts(r.CompletedAt))
	row("downloaded_at", ts(r.DownloadedAt))
	return tw.Flush()
}
