package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
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
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
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
