// Command kiemv follows KIE.AI Suno music-video (MP4) tasks from creation to a verified file
// on disk: it polls KIE's record-info endpoint through Asynq tasks in Redis and downloads each
// video as soon as it is ready. See README.md.
//
// This package is the CLI and nothing else: the app, its global flags, one cmd_<verb>.go per
// command (a thin flag parser over a run function that tests call), and the one switch that
// maps errors to exit codes. Everything it runs is assembled by internal/app.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"
)

// Exit codes: 0 ok, 1 failure, 2 usage or missing configuration, 3 `wait` timed out.
const (
	exitFailure = 1
	exitUsage   = 2
	exitTimeout = 3
)

// errTimedOut marks `wait` giving up at its --timeout: exit 3.
var errTimedOut = errors.New("timed out")

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

// runWithInput is run with the standard input given (`track -` reads ids from it). It is the
// one place that turns an error into what the user reads and the exit code.
func runWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	redis.SetLogger(quietRedis{})
	a := newApp(stdout, stderr)
	a.Reader = stdin
	err := a.RunContext(ctx, args)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "kiemv:", app.RedactURL(withHint(err))) // any URL's password, parsed or not
	var ue *usageError
	var ce *app.ConfigError
	var ec cli.ExitCoder
	switch {
	case errors.As(err, &ue) || errors.As(err, &ce) || isFlagError(err) ||
		errors.Is(err, kie.ErrNoAPIKey) || errors.Is(err, kie.ErrBadAPIKey):
		return exitUsage
	case errors.Is(err, errTimedOut):
		return exitTimeout
	case errors.As(err, &ec):
		return ec.ExitCode()
	}
	return exitFailure
}

// withHint adds to an error from the layers below what the user can do about it, in the
// CLI's own words (flags and environment variables, which those layers never name).
func withHint(err error) string {
	switch {
	case errors.Is(err, kie.ErrNoAPIKey):
		return err.Error() + ": set KIE_API_KEY (or pass --api-key); get one at https://kie.ai/api-key"
	case errors.Is(err, kie.ErrBadAPIKey):
		return err.Error() + ": check KIE_API_KEY (or --api-key)"
	case errors.Is(err, jobs.ErrOverBudget):
		return err.Error() + ": raise --max-credits, or leave it out"
	}
	return err.Error()
}

// usageError marks an error in what the user typed: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// isFlagError recognises the errors urfave/cli returns for missing or malformed flags and
// arguments, which are usage errors (exit 2).
func isFlagError(err error) bool {
	s := err.Error()
	for _, p := range []string{"Required flag", "flag provided but not defined", "invalid value", "flag needs an argument", "No help topic"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// quietRedis drops go-redis's own log lines (dial retries): kiemv reports Redis errors itself.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func newApp(stdout, stderr io.Writer) *cli.App {
	useSafeHelpFlag()
	a := &cli.App{
		Name:                 "kiemv",
		Usage:                "follow KIE.AI music-video tasks to verified MP4 files",
		Version:              version(),
		Flags:                append(globalFlags(), cli.HelpFlag, cli.VersionFlag), // urfave adds them only without a "help" command
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,                         // replaced by helpCommand(): the built-in one is shared global state
		ExitErrHandler:       func(*cli.Context, error) {}, // runWithInput prints and picks the code
		OnUsageError:         onUsageError,
		Action: func(c *cli.Context) error { // no command, or an unknown one
			if name := c.Args().First(); name != "" {
				return usagef("unknown command %q: run `kiemv --help` for the commands", name)
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			helpCommand(),
			submitCommand(), trackCommand(), statusCommand(), listCommand(), waitCommand(),
			retryCommand(), cancelCommand(), workerCommand(), simCommand(), devCommand(), dashboardCommand(),
			callbacksCommand(), benchCommand(), benchSimCommand(), creditsCommand(),
		},
	}
	for _, c := range a.Commands {
		c.HideHelpCommand = true // `kiemv help CMD` and `kiemv CMD --help` remain
		c.OnUsageError = onUsageError
	}
	return a
}

// onUsageError turns urfave's flag errors into one line that says what is wrong and what to
// run, instead of a page of help on stdout (a script's `id=$(kiemv submit …)` would capture it).
func onUsageError(c *cli.Context, err error, isSubcommand bool) error {
	cmd := "kiemv"
	if isSubcommand && c.Command != nil && c.Command.Name != "" {
		cmd += " " + c.Command.Name
	}
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		name = strings.TrimLeft(name, "-")
		for _, f := range globalFlags() {
			if slices.Contains(f.Names(), name) {
				return usagef("--%s is a global flag: put it before the command, as in `kiemv --%s … %s …`", name, name, strings.TrimPrefix(cmd, "kiemv "))
			}
		}
		return usagef("%s has no flag --%s: run `%s --help`", cmd, name, cmd)
	}
	return usagef("%v: run `%s --help`", err, cmd)
}

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "redis-url", EnvVars: []string{"REDIS_URL"}, Value: "redis://127.0.0.1:6379/0", Usage: "Redis shared by every worker and CLI"},
		&cli.StringFlag{Name: "kie-base-url", EnvVars: []string{"KIE_BASE_URL"}, Value: "https://api.kie.ai", Usage: "KIE API base URL"},
		&cli.StringFlag{Name: "api-key", EnvVars: []string{"KIE_API_KEY"}, Usage: "KIE API key (never logged)"},
		&cli.StringFlag{Name: "download-dir", EnvVars: []string{"KIEMV_DOWNLOAD_DIR"}, Value: "./videos", Usage: "where verified MP4 files are written: a directory, or a bucket URL (s3://bucket/prefix?region=…&endpoint=…, gs://…, azblob://…, file:///…)"},
		&cli.StringFlag{Name: "scratch-dir", EnvVars: []string{"KIEMV_SCRATCH_DIR"}, Usage: "where downloads to a bucket are staged and verified before the upload (default: kiemv in the OS temp dir)"},
		&cli.StringFlag{Name: "namespace", EnvVars: []string{"KIEMV_NAMESPACE"}, Value: "kiemv", Usage: "prefix of kiemv's Redis keys and queue names"},
		&cli.StringFlag{Name: "log-format", EnvVars: []string{"KIEMV_LOG_FORMAT"}, Value: "text", Usage: "log format: text or json"},
		&cli.DurationFlag{Name: "kie-timeout", EnvVars: []string{"KIEMV_KIE_TIMEOUT"}, Value: 20 * time.Second, Usage: "timeout of one KIE API call"},
		&cli.IntFlag{Name: "create-limit", EnvVars: []string{"KIEMV_CREATE_LIMIT"}, Value: 18, Usage: "video creates per 10 s across all processes (KIE allows 20)"},
		&cli.IntFlag{Name: "record-info-limit", EnvVars: []string{"KIEMV_RECORD_INFO_LIMIT"}, Value: 10, Usage: "record-info calls per second across all processes"},
		&cli.StringFlag{Name: "kie-api", EnvVars: []string{"KIE_API"}, Value: jobs.APILegacy, Usage: "where new MP4 tasks are created: legacy (/api/v1/mp4/generate) or jobs (/api/v1/jobs/createTask)"},
		&cli.Float64Flag{Name: "mp4-credits", EnvVars: []string{"KIEMV_MP4_CREDITS"}, Value: jobs.DefaultMP4Credits, Usage: "what KIE charges for one MP4, in credits (for credits and --max-credits)"},
		&cli.DurationFlag{Name: "redis-wait", EnvVars: []string{"KIEMV_REDIS_WAIT"}, Value: 15 * time.Second, Usage: "how long a command waits for a Redis that does not answer (restarting) before it fails"},
	}
}

// readGlobals validates the shared flags and sets up logging.
func readGlobals(c *cli.Context) (app.Config, error) {
	cfg := app.Config{
		RedisURL: c.String("redis-url"), KIEBaseURL: c.String("kie-base-url"), APIKey: c.String("api-key"),
		DownloadDir: c.String("download-dir"), ScratchDir: c.String("scratch-dir"), Namespace: c.String("namespace"),
		KIETimeout: c.Duration("kie-timeout"), CreateLimit: c.Int("create-limit"), RecordLimit: c.Int("record-info-limit"),
		RedisWait: c.Duration("redis-wait"), MP4Credits: c.Float64("mp4-credits"),
	}
	var err error
	if cfg.KIEAPI, err = jobs.ParseAPI(c.String("kie-api")); err != nil {
		return cfg, usagef("--kie-api %q: use legacy or jobs", c.String("kie-api"))
	}
	if !(cfg.MP4Credits > 0) {
		return cfg, usagef("--mp4-credits must be positive, got %v", cfg.MP4Credits)
	}
	if err := jobs.ValidateID("--namespace", cfg.Namespace); err != nil {
		return cfg, usagef("%v", err)
	}
	if cfg.CreateLimit < 1 || cfg.RecordLimit < 1 {
		return cfg, usagef("--create-limit and --record-info-limit must be at least 1")
	}
	if cfg.KIETimeout <= 0 {
		return cfg, usagef("--kie-timeout must be positive, got %v", cfg.KIETimeout)
	}
	if cfg.RedisWait < 0 {
		return cfg, usagef("--redis-wait must not be negative, got %v", cfg.RedisWait)
	}
	if cfg.Log, err = newLogger(c.App.ErrWriter, c.String("log-format")); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, usagef("--log-format %q: use text or json", format)
}

// readIDs returns the ids named on the command line, reading stdin for "-".
func readIDs(c *cli.Context) ([]string, error) {
	var ids []string
	for _, a := range c.Args().Slice() {
		if strings.HasPrefix(a, "-") && a != "-" {
			return nil, usagef("%q after the ids: flags go before the ids, as in `kiemv %s %s … ID…`", a, c.Command.Name, a)
		}
		if a != "-" {
			ids = append(ids, a)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(c.App.Reader, 64<<20))
		if err != nil {
			return nil, fmt.Errorf("read ids from stdin: %w", err)
		}
		ids = append(ids, strings.Fields(string(b))...)
	}
	if len(ids) == 0 {
		return nil, usagef("%s needs at least one MP4 task id (or - to read them from stdin)", c.Command.Name)
	}
	for _, id := range ids {
		if err := jobs.ValidateID("mp4 task id", id); err != nil {
			return nil, usagef("%v", err)
		}
	}
	return ids, nil
}

// noArgs refuses positional arguments for commands that take none.
func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("%s takes no arguments, got %q", c.Command.Name, c.Args().First())
	}
	return nil
}

// helpCommand is `kiemv help [command]`, built per app: urfave/cli's own help command is one
// global value whose setup writes to it, which races when apps run at the same time.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show the commands, or the help of one command",
		ArgsUsage: "[command]",
		Action: func(c *cli.Context) error {
			a := c.Lineage()[1] // the app's context, where the commands are looked up
			if name := c.Args().First(); name != "" {
				return cli.ShowCommandHelp(a, name)
			}
			return cli.ShowAppHelp(a)
		},
	}
}

// safeFlag is one of urfave/cli's --help and --version flags, made safe to share: cli.HelpFlag
// and cli.VersionFlag are global values that every App applies, and BoolFlag.Apply writes to
// them. Applying a copy keeps apps that run at the same time in one process (tests, `kiemv
// dev`) from racing on them.
type safeFlag struct{ cli.BoolFlag }

// Apply registers a copy of the flag on set.
func (h *safeFlag) Apply(set *flag.FlagSet) error {
	f := h.BoolFlag
	return f.Apply(set)
}

var safeFlagsOnce sync.Once

// useSafeHelpFlag replaces cli.HelpFlag and cli.VersionFlag once, before any app is built.
func useSafeHelpFlag() {
	safeFlagsOnce.Do(func() {
		if b, ok := cli.HelpFlag.(*cli.BoolFlag); ok {
			cli.HelpFlag = &safeFlag{BoolFlag: *b}
		}
		if b, ok := cli.VersionFlag.(*cli.BoolFlag); ok {
			cli.VersionFlag = &safeFlag{BoolFlag: *b}
		}
	})
}

// version describes the build: the module version (or "devel"), the VCS revision and
// whether the tree was modified, and the Go version, as `kiemv --version` prints it.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := strings.Trim(bi.Main.Version, "()")
	if v == "" {
		v = "devel"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" && !strings.Contains(v, rev) { // a pseudo-version names the revision already
		v += " " + rev + dirty
	}
	return v + " " + bi.GoVersion
}
