package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/view"
	"github.com/kiemv/kiemv/jobs"
	"github.com/urfave/cli/v2"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list followed tasks, newest first",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state", Usage: "only this state (pending, ready, downloading, downloaded, failed, timed_out, expired, canceled)"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON record per line"},
			&cli.IntFlag{Name: "limit", Value: 100, Usage: "at most this many records"},
			&cli.StringFlag{Name: "song", Usage: "only the videos of this song (music task id), in take order"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := readGlobals(c)
			if err != nil {
				return err
			}
			var st jobs.State
			if s := c.String("state"); s != "" {
				if st, err = jobs.ParseState(s); err != nil {
					return usagef("--state: %v", err)
				}
			}
			if c.Int("limit") < 1 {
				return usagef("--limit must be at least 1")
			}
			if song := c.String("song"); song != "" {
				if err := jobs.ValidateID("music task id", song); err != nil {
					return usagef("--song: %v", err)
				}
				return runListSong(c.Context, cfg, song, c.Bool("json"), c.App.Writer)
			}
			return runList(c.Context, cfg, st, c.Int("limit"), c.Bool("json"), c.App.Writer)
		},
	}
}

// runList prints records newest first, as a table or as JSON lines.
func runList(ctx context.Context, cfg app.Config, st jobs.State, limit int, asJSON bool, stdout io.Writer) error {
	conn, err := cfg.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	recs, err := cfg.Records(conn).List(ctx, st, limit)
	if err != nil {
		return err
	}
	return view.PrintList(recs, asJSON, stdout)
}

// runListSong prints the videos of a song's takes.
func runListSong(ctx context.Context, cfg app.Config, song string, asJSON bool, stdout io.Writer) error {
	conn, err := cfg.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	recs, err := view.SongRecords(ctx, cfg.Records(conn), cfg.Songs(conn), song)
	if errors.Is(err, jobs.ErrNoSong) {
		return fmt.Errorf("kiemv follows no song %s (namespace %q); start with `kiemv submit --task-id %s`", song, cfg.Namespace, song)
	} else if err != nil {
		return err
	}
	return view.PrintList(recs, asJSON, stdout)
}
