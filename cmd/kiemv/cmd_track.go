package main

import (
	"context"
	"fmt"
	"io"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/urfave/cli/v2"
)

func trackCommand() *cli.Command {
	return &cli.Command{
		Name:      "track",
		Usage:     "follow MP4 tasks created elsewhere (- reads ids from stdin)",
		ArgsUsage: "ID... | -",
		Action: func(c *cli.Context) error {
			cfg, err := readGlobals(c)
			if err != nil {
				return err
			}
			ids, err := readIDs(c)
			if err != nil {
				return err
			}
			return runTrack(c.Context, cfg, ids, c.App.Writer)
		},
	}
}

// runTrack follows each id and prints "<id> <state>" per line.
func runTrack(ctx context.Context, cfg app.Config, ids []string, stdout io.Writer) error {
	conn, svc, err := cfg.ConnectService(ctx, app.ServiceOptions{NeedKIE: true})
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, id := range ids {
		rec, created, err := svc.Track(ctx, id, 0)
		if err != nil {
			return fmt.Errorf("track %s: %w", id, err)
		}
		if !created {
			cfg.Log.Info("already followed", "task_id", id, "state", rec.State)
		}
		fmt.Fprintf(stdout, "%s %s\n", rec.TaskID, rec.State)
	}
	return nil
}
