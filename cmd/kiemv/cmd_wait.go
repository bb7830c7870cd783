package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/view"
	"github.com/kiemv/kiemv/jobs"
	"github.com/urfave/cli/v2"
)

func waitCommand() *cli.Command {
	return &cli.Command{
		Name:      "wait",
		Usage:     "block until each task is terminal; exit 0 only if all are downloaded",
		ArgsUsage: "ID... | -",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Usage: "give up after this long (0: wait forever)"},
			&cli.DurationFlag{Name: "check-every", Value: 500 * time.Millisecond, Usage: "how often Redis is read"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := readGlobals(c)
			if err != nil {
				return err
			}
			ids, err := readIDs(c)
			if err != nil {
				return err
			}
			if c.Duration("timeout") < 0 || c.Duration("check-every") <= 0 {
				return usagef("--timeout must not be negative and --check-every must be positive")
			}
			return runWait(c.Context, cfg, ids, c.Duration("timeout"), c.Duration("check-every"), c.App.Writer, c.App.ErrWriter)
		},
	}
}

// runWait blocks until every id is terminal (or the timeout), prints "<id> <state> <file>"
// for each on stdout, and says on stderr why each that is not downloaded is not.
func runWait(ctx context.Context, cfg app.Config, ids []string, timeout, every time.Duration, stdout, stderr io.Writer) error {
	conn, err := cfg.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	st := view.Either{Store: cfg.Records(conn), Songs: cfg.Songs(conn)} // a song id waits for every take's video
	final := make(map[string]*jobs.Record, len(ids))
	down := false // Redis could not be read: keep trying (it may be restarting) until it answers
	for len(final) < len(ids) {
		for _, id := range ids {
			if final[id] != nil {
				continue
			}
			rec, err := st.Get(ctx, id)
			if errors.Is(err, jobs.ErrNoRecord) {
				return fmt.Errorf("kiemv follows no mp4 task or song %s; start with `kiemv track %s`, or `kiemv submit --task-id %s` for a song", id, id, id)
			} else if err != nil && ctx.Err() == nil {
				if !down {
					fmt.Fprintf(stderr, "kiemv: cannot read mp4 task %s from Redis (%v); retrying until Redis answers\n", id, err)
				}
				down = true
				break
			} else if down && err == nil {
				fmt.Fprintln(stderr, "kiemv: Redis answers again")
				down = false
			}
			if rec != nil && rec.State.Terminal() {
				final[id] = rec
			}
		}
		if len(final) == len(ids) {
			break
		}
		wait := every
		if down {
			wait = max(every, time.Second)
		}
		if err := jobs.Sleep(ctx, wait); err != nil {
			return waitSummary(context.WithoutCancel(ctx), st, ids, final, stdout, stderr, err)
		}
	}
	return waitSummary(ctx, st, ids, final, stdout, stderr, nil)
}

func waitSummary(ctx context.Context, st jobs.Store, ids []string, final map[string]*jobs.Record, stdout, stderr io.Writer, cause error) error {
	bad := 0
	for _, id := range ids {
		rec := final[id]
		if rec == nil {
			bad++
			cur, err := st.Get(ctx, id)
			state := "unknown"
			if err == nil {
				state = string(cur.State)
			}
			fmt.Fprintf(stdout, "%s %s\n", id, state)
			fmt.Fprintf(stderr, "%s: still %s when waiting stopped (%v)\n", id, state, cause)
			continue
		}
		fmt.Fprintf(stdout, "%s %s %s\n", id, rec.State, rec.File)
		if rec.State != jobs.StateDownloaded {
			bad++
			fmt.Fprintf(stderr, "%s: %s: %s\n", id, rec.State, rec.Error)
		}
	}
	switch {
	case bad > 0 && errors.Is(cause, context.DeadlineExceeded):
		return fmt.Errorf("%w: %d of %d tasks were not downloaded when --timeout ran out; wait again, or raise it", errTimedOut, bad, len(ids))
	case bad > 0:
		return fmt.Errorf("%d of %d tasks were not downloaded", bad, len(ids))
	}
	return nil
}
