package main

import (
	"fmt"
	"os"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/bulk"
	"github.com/kiemv/kiemv/store"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// runSubmitFrom is `submit --from FILE [--dry-run] [--json]`: every line submitted (or, dry,
// priced) as one submit would be; --author, --domain and --callback-url fill the lines' gaps.
func runSubmitFrom(c *cli.Context, cfg app.Config) error {
	path := c.String("from")
	if path == "" || c.IsSet("task-id") || c.IsSet("audio-id") {
		return usagef("--from FILE takes the ids from the file: give a file (- for stdin), without --task-id or --audio-id")
	}
	in := c.App.Reader
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return usagef("--from: %v", err)
		}
		defer f.Close()
		in = f
	}
	inputs, err := bulk.Read(in, bulk.Defaults{Author: c.String("author"), Domain: c.String("domain"), CallbackURL: c.String("callback-url")})
	if err != nil {
		return usagef("--from %s: %v", path, err)
	}
	ctx, stdout, stderr := c.Context, c.App.Writer, c.App.ErrWriter
	if c.Bool("dry-run") {
		conn, err := cfg.Connect(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		p, err := bulk.DryRun(ctx, inputs, struct {
			*store.Records
			*store.Songs
		}{cfg.Records(conn), cfg.Songs(conn)}, 2, c.Bool("json"), stdout)
		fmt.Fprintf(stderr, "kiemv: dry run of %d lines: %d bad, %d MP4s to create, %g credits at 2 each; nothing was created\n", p.Lines, p.Bad, p.Creates, p.Credits)
		if err == nil && p.Bad > 0 {
			err = fmt.Errorf("%d of %d lines are bad; fix them before the run", p.Bad, p.Lines)
		}
		return err
	}
	conn, svc, err := cfg.ConnectService(ctx, app.ServiceOptions{NeedKIE: true, FirstPoll: c.Duration("first-poll")})
	if err != nil {
		return err
	}
	defer conn.Close()
	opt := bulk.Options{JSON: c.Bool("json")}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opt.Progress = f
	}
	return bulk.Run(ctx, inputs, svc, opt, stdout).Err()
}
