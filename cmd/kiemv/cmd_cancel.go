package main

import (
	"context"

	"github.com/kiemv/kiemv/jobs"
	"github.com/urfave/cli/v2"
)

func cancelCommand() *cli.Command {
	return &cli.Command{
		Name:      "cancel",
		Usage:     "stop following tasks that have not ended",
		ArgsUsage: "ID... | -",
		Action: func(c *cli.Context) error {
			return runEach(c, func(ctx context.Context, svc *jobs.Service, id string) (*jobs.Record, error) {
				return svc.Cancel(ctx, id)
			})
		},
	}
}
