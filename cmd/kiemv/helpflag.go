package main

import (
	"flag"
	"sync"

	"github.com/urfave/cli/v2"
)

// helpCommand is `kiemv help [command]`, built per app: urfave/cli's own help command is one
// global value whose setup writes to it, which races when apps run at the same time.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show the commands, or the help of one command",
		ArgsUsage: "[command]",
		Action: func(c *cli.Context) error {
			app := c.Lineage()[1] // the app's context, where the commands are looked up
			if name := c.Args().First(); name != "" {
				return cli.ShowCommandHelp(app, name)
			}
			return cli.ShowAppHelp(app)
		},
	}
}

// helpFlag is urfave/cli's --help flag, made safe to share: cli.HelpFlag is one global value
// that every App and Command applies, and BoolFlag.Apply writes to it. Applying a copy keeps
// apps that run at the same time in one process (tests, `kiemv dev`) from racing on it.
type helpFlag struct{ cli.BoolFlag }

// Apply registers a copy of the flag on set.
func (h *helpFlag) Apply(set *flag.FlagSet) error {
	f := h.BoolFlag
	return f.Apply(set)
}

var helpFlagOnce sync.Once

// useSafeHelpFlag replaces cli.HelpFlag once, before any app is built.
func useSafeHelpFlag() {
	helpFlagOnce.Do(func() {
		if b, ok := cli.HelpFlag.(*cli.BoolFlag); ok {
			cli.HelpFlag = &helpFlag{BoolFlag: *b}
		}
	})
}
