package bulk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
)

// SubmitOptions are the flags of `kiemv submit --from FILE`.
type SubmitOptions struct {
	JSON       bool
	DryRun     bool          // price every line, create nothing
	Partial    bool          // start even when KIE's balance cannot pay for every create
	MaxCredits float64       // the most the run may spend on creates (0: no bound)
	FirstPoll  time.Duration // delay before each new task's first poll
	Progress   io.Writer     // a terminal for the progress bar, or nil
}

// Submit is `kiemv submit --from FILE`: it submits inputs (or prices them, with DryRun) as
// Run does, one result line per input on stdout and a summary on stderr. Before a run that
// would create anything it asks KIE for the balance and refuses to start one the balance
// cannot pay for in full, unless Partial. Every create of the run pays from one jobs.Budget
// of MaxCredits: a line that would pass it, and every later one, is not submitted, and once
// KIE refuses a create for credits no other line asks (they are reported "not submitted:
// insufficient credits"); running the same file again after a top-up completes them.
func Submit(ctx context.Context, cfg app.Config, inputs []Input, o SubmitOptions, stdout, stderr io.Writer) error {
	price := cmpOr(cfg.MP4Credits, jobs.DefaultMP4Credits)
	conn, svc, err := cfg.ConnectService(ctx, app.ServiceOptions{NeedKIE: !o.DryRun, FirstPoll: o.FirstPoll})
	if err != nil {
		return err
	}
	defer conn.Close()
	look := struct {
		*store.Records
		*store.Songs
	}{cfg.Records(conn), cfg.Songs(conn)}
	if o.DryRun {
		p, err := DryRun(ctx, inputs, look, price, o.JSON, stdout)
		fmt.Fprintf(stderr, "kiemv: dry run of %d lines: %d bad, %d MP4s to create, %g credits at %g each; nothing was created\n", p.Lines, p.Bad, p.Creates, p.Credits, price)
		if err == nil && p.Bad > 0 {
			err = fmt.Errorf("%d of %d lines are bad; fix them before the run", p.Bad, p.Lines)
		}
		return err
	}
	p, err := DryRun(ctx, inputs, look, price, false, io.Discard)
	if err != nil {
		return err
	}
	budget := jobs.NewBudget(o.MaxCredits, price)
	if p.Creates > 0 {
		balance, err := svc.KIE.Credits(ctx)
		if err != nil {
			return fmt.Errorf("read KIE's credit balance before the run: %w; nothing was submitted: run the same command again", err)
		}
		if paid := int(math.Floor(balance/price + 1e-9)); paid < p.Creates && !o.Partial {
			return fmt.Errorf("KIE's balance of %g credits pays for %d of the %d MP4s this file would create (%g credits at %g each); nothing was submitted: top up the account, or run again with --partial to create what it pays for", balance, paid, p.Creates, p.Credits, price)
		}
	}
	for i := range inputs {
		inputs[i].Req.Budget = budget
	}
	opt := Options{JSON: o.JSON, Progress: o.Progress, Budget: &songCredits{b: budget}, StopFunc: stopsCreating}
	if o.MaxCredits > 0 {
		opt.SongMaxCredits = SongTakes * price
	}
	sum := Run(ctx, inputs, svc, opt, stdout)
	fmt.Fprintf(stderr, "kiemv: %d lines: %d created, %d already followed, %d failed, %d not submitted (%g credits spent, or set aside for songs' takes, at %g each)\n",
		sum.Lines, sum.Created, sum.Existing, sum.Failed, sum.NotSubmitted, budget.Spent(), price)
	return sum.Err()
}

// SongTakes is what a song line is expected to create: Generate Music gives two takes. A run
// with --max-credits sets aside that many MP4s for each song it follows, and the song may
// spend no more (the worker creates its takes' videos later).
const SongTakes = 2

// songCredits is the Budget of Run for a run's jobs.Budget: MP4 lines pay in Service.Submit
// (their SubmitRequest carries the budget), song lines set aside SongTakes MP4s here, given
// back when the line started nothing new.
type songCredits struct{ b *jobs.Budget }

func (c *songCredits) Admit(_ context.Context, in Input) error {
	if err := c.b.Stopped(); err != nil {
		return err
	}
	if !in.Song() {
		return nil
	}
	for i := range SongTakes {
		if err := c.b.Reserve(); err != nil {
			for range i {
				c.b.Refund()
			}
			return fmt.Errorf("song %s was not followed: %w", in.Req.MusicTaskID, err)
		}
	}
	return nil
}

func (c *songCredits) Done(in Input, res Result) {
	if in.Song() && !res.Created {
		for range SongTakes {
			c.b.Refund()
		}
	}
}

// stopsCreating reports whether a submit error stops the run's creates: KIE has no credits
// for it, or the run's --max-credits is spent.
func stopsCreating(err error) bool {
	return errors.Is(err, jobs.ErrInsufficientCredits) || errors.Is(err, jobs.ErrOverBudget)
}

func cmpOr(v, def float64) float64 {
	if v > 0 {
		return v
	}
	return def
}
