package main

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/view"
	"github.com/kiemv/kiemv/jobs"
	"github.com/urfave/cli/v2"
)

func creditsCommand() *cli.Command {
	return &cli.Command{
		Name:      "credits",
		Usage:     "print KIE's credit balance and what kiemv created: MP4s × --mp4-credits, today (UTC) and in total",
		ArgsUsage: " ",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print one JSON object"}},
		Action: func(c *cli.Context) error {
			cfg, err := readGlobals(c)
			if err != nil {
				return err
			}
			if err := noArgs(c); err != nil {
				return err
			}
			return runCredits(c.Context, cfg, c.Bool("json"), c.App.Writer)
		},
	}
}

// runCredits prints the report of jobs.Credits. When KIE does not answer, it prints what
// kiemv counted and fails (exit 1).
func runCredits(ctx context.Context, cfg app.Config, asJSON bool, stdout io.Writer) error {
	k, err := cfg.KIEClient()
	if err != nil {
		return err
	}
	conn, err := cfg.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	r, err := jobs.Credits(ctx, k, cfg.Ledger(conn), cfg.MP4Credits, time.Now())
	if r.MP4Credits == 0 || (err != nil && asJSON) { // no counts, or no balance for the JSON shape
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	view.PrintCredits(stdout, r, err)
	return err
}
