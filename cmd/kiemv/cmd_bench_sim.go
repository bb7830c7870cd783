package main

import (
	"github.com/kiemv/kiemv/cmd/kiemv/internal/bench"
	"github.com/urfave/cli/v2"
)

// benchSimCommand is the hidden `kiemv bench-sim` that `kiemv bench` runs as its child process
// (see bench.ServeSim). It exits when its standard input closes.
func benchSimCommand() *cli.Command {
	return &cli.Command{
		Name:   "bench-sim",
		Hidden: true,
		Usage:  "the simulator process of `kiemv bench` (internal)",
		Action: func(c *cli.Context) error {
			return bench.ServeSim(c.Context, c.App.Reader, c.App.Writer)
		},
	}
}
