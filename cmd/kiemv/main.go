// Command kiemv follows KIE.AI Suno music-video (MP4) tasks from creation to a verified file
// on disk: it polls KIE's record-info endpoint through Asynq tasks in Redis and downloads each
// video as soon as it is ready. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"
)

// Exit codes: 0 ok, 1 failure, 2 usage.
const (
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks an error in what the user typed: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// quietRedis drops go-redis's own log lines (dial retries): kiemv reports Redis errors itself.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the CLI, reading stdin from the process, and maps its error to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWithInput(ctx, args, os.Stdin, stdout, stderr)
}

// runWithInput is run with the standard input given (`track -` reads ids from it).
func runWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	redis.SetLogger(quietRedis{})
	app := newApp(stdout, stderr)
	app.Reader = stdin
	err := app.RunContext(ctx, args)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "kiemv:", err)
	var ue *usageError
	var ec cli.ExitCoder
	switch {
	case errors.As(err, &ue) || isFlagError(err):
		return exitUsage
	case errors.As(err, &ec):
		return ec.ExitCode()
	}
	return exitFailure
}

func newApp(stdout, stderr io.Writer) *cli.App {
	useSafeHelpFlag()
	app := &cli.App{
		Name:                 "kiemv",
		Usage:                "follow KIE.AI music-video tasks to verified MP4 files",
		Flags:                append(globalFlags(), cli.HelpFlag), // urfave adds it only without a "help" command
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,                         // replaced by helpCommand(): the built-in one is shared global state
		ExitErrHandler:       func(*cli.Context, error) {}, // run() prints and picks the code
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return &usageError{err}
		},
		Commands: []*cli.Command{
			helpCommand(),
			submitCommand(), trackCommand(), statusCommand(), listCommand(), waitCommand(),
			retryCommand(), cancelCommand(), workerCommand(), simCommand(), devCommand(), dashboardCommand(),
			callbacksCommand(), benchCommand(), benchSimCommand(),
		},
	}
	for _, c := range app.Commands {
		c.HideHelpCommand = true // `kiemv help CMD` and `kiemv CMD --help` remain
	}
	return app
}
