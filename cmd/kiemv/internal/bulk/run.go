package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/kiemv/kiemv/jobs"
)

// Submitter submits one take or one whole song. *jobs.Service implements it.
type Submitter interface {
	Submit(ctx context.Context, req jobs.SubmitRequest) (*jobs.Record, bool, error)
	SubmitSong(ctx context.Context, req jobs.SongRequest) (*jobs.Song, bool, error)
}

// Budget is the seam of the credit budget (issue 12 §4): the runner asks it before each line
// is submitted, and tells it what the line did. nil means no budget.
type Budget interface {
	// Admit is asked before in is submitted. An error stops creating: in and every line
	// after it are reported "not submitted: <error>", and a later run completes them.
	Admit(ctx context.Context, in Input) error
	// Done tells what submitting in did: res.Created reports whether it started new work at
	// KIE (an MP4 created, or a song followed).
	Done(in Input, res Result)
}

// Options tune a run.
type Options struct {
	Concurrency int                  // lines submitted at once (default 4; creates are paced by the shared limit anyway)
	JSON        bool                 // one JSON object per line instead of text
	Budget      Budget               // optional: the credit budget
	StopFunc    func(err error) bool // optional: a submit error that stops creating (insufficient credits)
	Progress    io.Writer            // optional: a terminal where a progress bar is drawn
	// SongMaxCredits bounds what each song line's takes may cost (0: no bound).
	SongMaxCredits float64
}

// Result is what became of one input line, as printed.
type Result struct {
	Line    int    `json:"line"`
	ID      string `json:"id"`             // the MP4 task id, or the music task id of a song; the input's ids before that
	Kind    string `json:"kind,omitempty"` // "mp4" or "song"
	State   string `json:"state,omitempty"`
	Created bool   `json:"created"`
	Error   string `json:"error,omitempty"` // a bad line, a refused submit, or "not submitted: …"
}

// Summary counts a run.
type Summary struct {
	Lines, Created, Existing, Failed, NotSubmitted int
	FailedLines                                    []int // bad or refused lines, in order
	Stopped                                        error // why creating stopped, if it did
}

// ErrInterrupted is the reason of the lines a canceled run did not submit.
var ErrInterrupted = errors.New("interrupted")

// Run submits every valid input (bad ones are reported with their line numbers), Concurrency
// at a time, and writes one result per input to out, in input order. It stops creating when
// ctx ends (Ctrl-C), when the Budget refuses, or when StopFunc says so: in-flight submits end
// (a submit that gives up releases its audio claim: nothing is half-created) and the lines
// not submitted are reported so.
func Run(ctx context.Context, inputs []Input, sub Submitter, opt Options, out io.Writer) Summary {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 4
	}
	r := &runner{inputs: inputs, sub: sub, opt: opt, out: out, done: make([]*Result, len(inputs)),
		bar: newBar(opt.Progress, len(inputs))}
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(opt.Concurrency, max(len(inputs), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r.finish(i, r.one(ctx, inputs[i]))
			}
		}()
	}
	for i := range inputs {
		work <- i
	}
	close(work)
	wg.Wait()
	r.bar.clear()
	return r.sum
}

type runner struct {
	inputs []Input
	sub    Submitter
	opt    Options
	out    io.Writer
	bar    *bar

	mu      sync.Mutex
	stopped error // why creating stopped; later lines are not submitted
	done    []*Result
	next    int // the first result not yet printed
	sum     Summary
}

// one submits one input, unless it is bad or creating has stopped.
func (r *runner) one(ctx context.Context, in Input) Result {
	res := Result{Line: in.Line, ID: in.ID()}
	if in.Err != nil {
		res.Error = "error: " + in.Err.Error()
		return res
	}
	if stop := r.stop(ctx, nil); stop != nil {
		res.Error = notSubmitted(stop)
		return res
	}
	if r.opt.Budget != nil {
		if err := r.opt.Budget.Admit(ctx, in); err != nil {
			res.Error = notSubmitted(r.stop(ctx, err))
			return res
		}
	}
	var err error
	if in.Song() {
		var sg *jobs.Song
		sg, res.Created, err = r.sub.SubmitSong(ctx, songReq(in, r.opt.SongMaxCredits))
		if sg != nil {
			res.ID, res.Kind, res.State = sg.TaskID, "song", string(sg.State)
		}
	} else {
		var rec *jobs.Record
		rec, res.Created, err = r.sub.Submit(ctx, in.Req)
		if rec != nil {
			res.ID, res.Kind, res.State = rec.TaskID, "mp4", string(rec.State)
		}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		res.Error, res.State, res.Created = "not submitted: "+ErrInterrupted.Error(), "", false
	case err != nil && r.opt.StopFunc != nil && r.opt.StopFunc(err):
		res.Error, res.State, res.Created = notSubmitted(r.stop(ctx, err)), "", false
	case err != nil:
		res.Error, res.State = "error: "+err.Error(), ""
	}
	if r.opt.Budget != nil {
		r.opt.Budget.Done(in, res)
	}
	return res
}

// stop records why creating stops (the first reason wins) and returns it; with a nil err it
// only returns the reason, if any (ctx ended counts as ErrInterrupted).
func (r *runner) stop(ctx context.Context, err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped == nil && err != nil {
		r.stopped, r.sum.Stopped = err, err
	}
	if r.stopped == nil && ctx.Err() != nil {
		return ErrInterrupted
	}
	return r.stopped
}

// finish records a result and prints every result now due, in input order.
func (r *runner) finish(i int, res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done[i] = &res
	s := &r.sum
	s.Lines++
	switch {
	case strings.HasPrefix(res.Error, "not submitted"):
		s.NotSubmitted++
	case res.Error != "":
		s.Failed++
		s.FailedLines = append(s.FailedLines, res.Line)
	case res.Created:
		s.Created++
	default:
		s.Existing++
	}
	for r.next < len(r.done) && r.done[r.next] != nil {
		r.print(*r.done[r.next])
		r.next++
	}
	r.bar.draw(*s)
}

func (r *runner) print(res Result) {
	r.bar.clear()
	if r.opt.JSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(r.out, "%s\n", b)
		return
	}
	what := res.State
	if res.Error != "" {
		what = res.Error
	}
	fmt.Fprintf(r.out, "%d %s %s\n", res.Line, res.ID, what)
}

// Err is the error a run ends with: nil when every line was submitted (or existed), else what
// went wrong and what to do.
func (s Summary) Err() error {
	if s.Failed == 0 && s.NotSubmitted == 0 {
		return nil
	}
	msg := fmt.Sprintf("%d of %d lines were not submitted", s.Failed+s.NotSubmitted, s.Lines)
	if s.Failed > 0 {
		lines := fmt.Sprint(s.FailedLines[:min(len(s.FailedLines), 20)])
		if len(s.FailedLines) > 20 {
			lines = strings.TrimSuffix(lines, "]") + " …]"
		}
		word := "lines"
		if s.Failed == 1 {
			word = "line"
		}
		msg += fmt.Sprintf(" (%d refused, %s %s)", s.Failed, word, strings.Trim(lines, "[]"))
	}
	switch {
	case errors.Is(s.Stopped, jobs.ErrInsufficientCredits):
		msg += "; KIE has too few credits: top up the account (`kiemv credits` shows the balance)"
	case errors.Is(s.Stopped, jobs.ErrOverBudget):
		msg += "; the run's --max-credits was spent: raise it"
	}
	return errors.New(msg + "; fix what is said on those lines and run the same file again: lines already done are not paid twice")
}

// notSubmitted is the result of a line not submitted because creating stopped for err.
func notSubmitted(err error) string {
	switch {
	case errors.Is(err, jobs.ErrInsufficientCredits):
		return "not submitted: insufficient credits"
	case errors.Is(err, jobs.ErrOverBudget):
		return "not submitted: over the run's --max-credits"
	}
	return "not submitted: " + strings.TrimPrefix(err.Error(), "not submitted: ")
}

// songReq is the song request of a line without an audio id.
func songReq(in Input, maxCredits float64) jobs.SongRequest {
	return jobs.SongRequest{MusicTaskID: in.Req.MusicTaskID, Author: in.Req.Author, Domain: in.Req.Domain, CallbackURL: in.Req.CallbackURL,
		MaxCredits: maxCredits}
}
