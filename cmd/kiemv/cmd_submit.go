package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/cmd/kiemv/internal/view"
	"github.com/kiemv/kiemv/jobs"
	"github.com/urfave/cli/v2"
)

// submitOptions are the flags of `kiemv submit`.
type submitOptions struct {
	Req        jobs.SubmitRequest // Req.Timeout is --timeout
	JSON       bool
	FirstPoll  time.Duration
	MaxCredits float64 // 0: no bound
	Song       bool    // no --audio-id: every take of the song
}

func submitCommand() *cli.Command {
	return &cli.Command{
		Name:      "submit",
		Usage:     "create the music video of a track at KIE and follow it; prints the MP4 task id",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "task-id", Usage: "the music task id (from Generate or Extend Music); required"},
			&cli.StringFlag{Name: "audio-id", Usage: "the track id (sunoData[].id); without it, every take of the song (prints the music task id)"},
			&cli.StringFlag{Name: "author", Usage: "signature on the cover, at most 50 characters"},
			&cli.StringFlag{Name: "domain", Usage: "watermark at the bottom, at most 50 characters"},
			&cli.StringFlag{Name: "callback-url", Usage: "public URL where KIE POSTs the result (see kiemv callbacks)"},
			&cli.BoolFlag{Name: "json", Usage: "print the whole record as JSON"},
			&cli.DurationFlag{Name: "first-poll", Value: 5 * time.Second, Usage: "delay before the first poll"},
			&cli.Float64Flag{Name: "max-credits", Usage: "never create beyond this many credits in this run (see --mp4-credits); 0: no bound"},
			&cli.DurationFlag{Name: "timeout", Usage: "give up (exit 1, nothing created) after waiting this long for a create slot; 0: wait as long as it takes"},
			&cli.StringFlag{Name: "from", Usage: "submit every line of this JSON Lines or CSV file (- for stdin); see the README"},
			&cli.BoolFlag{Name: "dry-run", Usage: "with --from: check every line and say what it would create and cost; create nothing"},
			&cli.BoolFlag{Name: "partial", Usage: "with --from: start even when KIE's balance cannot pay for every create (creating what it pays for)"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := readGlobals(c)
			if err != nil {
				return err
			}
			if err := noArgs(c); err != nil {
				return err
			}
			if c.IsSet("from") || c.Bool("dry-run") {
				return runSubmitFrom(c, cfg)
			}
			o := submitOptions{JSON: c.Bool("json"), FirstPoll: c.Duration("first-poll"), MaxCredits: c.Float64("max-credits"), Req: jobs.SubmitRequest{
				MusicTaskID: c.String("task-id"), AudioID: c.String("audio-id"), Author: c.String("author"),
				Domain: c.String("domain"), CallbackURL: c.String("callback-url"), Timeout: c.Duration("timeout")},
				Song: !c.IsSet("audio-id")}
			return runSubmit(c.Context, cfg, o, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// runSubmit creates (at most once per audio) and follows one MP4 task. While it waits for a
// create slot it says so on stderr, once, then about every 10 s.
func runSubmit(ctx context.Context, cfg app.Config, o submitOptions, stdout, stderr io.Writer) error {
	if o.Song {
		return runSubmitSong(ctx, cfg, o, stdout)
	}
	if err := o.Req.Validate(); err != nil {
		return submitUsage(err)
	}
	if o.FirstPoll < 0 {
		return usagef("--first-poll must not be negative")
	}
	if o.Req.Timeout < 0 {
		return usagef("--timeout must not be negative (0 waits as long as it takes)")
	}
	if o.MaxCredits < 0 {
		return usagef("--max-credits must not be negative (0: no bound)")
	} else if o.MaxCredits > 0 {
		o.Req.Budget = jobs.NewBudget(o.MaxCredits, cfg.MP4Credits)
	}
	conn, svc, err := cfg.ConnectService(ctx, app.ServiceOptions{NeedKIE: true, FirstPoll: o.FirstPoll,
		OnCreateWait: func(w jobs.CreateWait) { fmt.Fprintln(stderr, view.CreateWaitLine(w, o.Req.Timeout)) }})
	if err != nil {
		return err
	}
	defer conn.Close()
	rec, created, err := svc.Submit(ctx, o.Req)
	if errors.Is(err, jobs.ErrWaitTimeout) {
		return fmt.Errorf("%w (--timeout %v); run the same submit again later, or with a longer --timeout", err, o.Req.Timeout)
	}
	if err != nil {
		return err
	}
	if !created {
		cfg.Log.Info("audio was submitted before; following the existing task", "audio_id", o.Req.AudioID, "task_id", rec.TaskID, "state", rec.State)
	}
	if o.JSON {
		return json.NewEncoder(stdout).Encode(view.Record(rec))
	}
	_, err = fmt.Fprintln(stdout, rec.TaskID)
	return err
}

// submitFlags names the flag of each field of a submit request.
var submitFlags = map[jobs.Field]string{jobs.FieldMusicTaskID: "--task-id", jobs.FieldAudioID: "--audio-id",
	jobs.FieldAuthor: "--author", jobs.FieldDomain: "--domain", jobs.FieldCallbackURL: "--callback-url"}

// submitUsage is the usage error of a request Validate refused, naming the flag to fix.
func submitUsage(err error) error {
	var fe *jobs.FieldError
	switch {
	case !errors.As(err, &fe):
		return usagef("%v", err)
	case fe.Field == jobs.FieldCallbackURL:
		return usagef("--callback-url %q is not an absolute http(s) URL, such as https://hooks.example.org/kie/mp4 (see `kiemv callbacks`)", fe.Value)
	}
	return usagef("%v (%s)", err, submitFlags[fe.Field])
}
