package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

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
	return view.PrintRecord(stdout, rec)
}
