package main

import (
	"context"
	"fmt"
	"io"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/jobs"
	"github.com/urfave/cli/v2"
)

func retryCommand() *cli.Command {
	return &cli.Command{
		Name:      "retry",
		Usage:     "follow again tasks that ended without a file (failed, timed_out, expired, canceled)",
		ArgsUsage: "ID... | -",
		Action: func(c *cli.Context) error {
			return runEach(c, func(ctx context.Context, svc *jobs.Service, id string) (*jobs.Record, error) {
				return svc.Retry(ctx, id)
			})
		},
	}
}

// runEach (retry and cancel) applies fn to every id named on the command line and prints "<id> <state>".
func runEach(c *cli.Context, fn func(context.Context, *jobs.Service, string) (*jobs.Record, error)) error {
	cfg, err := readGlobals(c)
	if err != nil {
		return err
	}
	ids, err := readIDs(c)
	if err != nil {
		return err
	}
	return runOnIDs(c.Context, cfg, ids, c.App.Writer, c.App.ErrWriter, fn)
}

// runOnIDs applies fn to each id, printing "<id> <state>" on stdout and each error on stderr.
func runOnIDs(ctx context.Context, cfg app.Config, ids []string, stdout, stderr io.Writer, fn func(context.Context, *jobs.Service, string) (*jobs.Record, error)) error {
	conn, svc, err := cfg.ConnectService(ctx, app.ServiceOptions{})
	if err != nil {
		return err
	}
	defer conn.Close()
	failed := 0
	for _, id := range ids {
		rec, err := fn(ctx, svc, id)
		if err != nil {
			failed++
			fmt.Fprintln(stderr, "kiemv:", err)
			continue
		}
		fmt.Fprintf(stdout, "%s %s\n", rec.TaskID, rec.State)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d ids could not be changed", failed, len(ids))
	}
	return nil
}
