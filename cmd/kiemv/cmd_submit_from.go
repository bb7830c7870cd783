package main

import (
	"os"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/bulk"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// runSubmitFrom is `submit --from FILE [--dry-run] [--json] [--max-credits N] [--partial]`:
// every line submitted (or, dry, priced) as one submit would be; --author, --domain and
// --callback-url fill the lines' gaps. The run itself is bulk.Submit.
func runSubmitFrom(c *cli.Context, cfg app.Config) error {
	path := c.String("from")
	if path == "" || c.IsSet("task-id") || c.IsSet("audio-id") {
		return usagef("--from FILE takes the ids from the file: give a file (- for stdin), without --task-id or --audio-id")
	}
	if c.Float64("max-credits") < 0 {
		return usagef("--max-credits must not be negative (0: no bound)")
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
	o := bulk.SubmitOptions{JSON: c.Bool("json"), DryRun: c.Bool("dry-run"), Partial: c.Bool("partial"),
		MaxCredits: c.Float64("max-credits"), FirstPoll: c.Duration("first-poll")}
	if f, ok := c.App.ErrWriter.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		o.Progress = f
	}
	return bulk.Submit(c.Context, cfg, inputs, o, c.App.Writer, c.App.ErrWriter)
}
