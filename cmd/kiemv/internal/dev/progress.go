package dev

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/dashboard"
	"github.com/kiemv/kiemv/jobs"
	"golang.org/x/term"
)

// progressView shows the followed tasks while kiemv dev runs. On a terminal it redraws one
// line per task (state, polls, a progress bar while downloading) about four times a second,
// with the latest log lines below; otherwise it prints a plain log line whenever a task
// changes.
type progressView struct {
	out    io.Writer
	tty    bool
	fd     int
	logs   *logRing     // tty: the process's log lines, shown under the tasks
	plain  *slog.Logger // not a tty: one line per change
	drawn  int          // lines of the last frame
	height int          // the terminal's rows when it was drawn
	seen   map[string]seenTask
}

// seenTask is what the view remembers of a task between frames.
type seenTask struct {
	key   string // state, polls and bytes: a change prints a plain line
	bytes int64
	at    time.Time
	rate  float64 // bytes per second while downloading
}

func newProgressView(out io.Writer, logFormat string) *progressView {
	v := &progressView{out: out, logs: &logRing{max: 6}, seen: map[string]seenTask{}}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb" {
		v.tty, v.fd = true, int(f.Fd())
	}
	v.plain = slog.New(slog.NewTextHandler(out, nil))
	if logFormat == "json" {
		v.plain = slog.New(slog.NewJSONHandler(out, nil))
	}
	return v
}

// update shows recs (newest first, as Records.List returns them).
func (v *progressView) update(recs []*jobs.Record, now time.Time) {
	recs = slices.Clone(recs)
	slices.Reverse(recs) // oldest at the top: lines don't jump as tasks are added
	for _, r := range recs {
		old := v.seen[r.TaskID]
		s := seenTask{key: fmt.Sprintf("%s/%d/%d", r.State, r.Polls, r.Bytes), bytes: r.Bytes, at: now, rate: old.rate}
		if r.State == jobs.StateDownloading && !old.at.IsZero() && r.Bytes > old.bytes {
			s.rate = float64(r.Bytes-old.bytes) / now.Sub(old.at).Seconds()
		} else if r.Bytes == old.bytes && !old.at.IsZero() {
			s.at = old.at // keep the last point the bytes moved, for the rate
		}
		if !v.tty && s.key != old.key {
			v.plain.Info("task", taskAttrs(r)...)
		}
		v.seen[r.TaskID] = s
	}
	if v.tty {
		width, height := 100, 24
		if w, h, err := term.GetSize(v.fd); err == nil && w > 10 && h > 3 {
			width, height = w, h
		}
		v.draw(v.frame(recs, now, height), width, height)
	}
}

func taskAttrs(r *jobs.Record) []any {
	a := []any{"task_id", r.TaskID, "state", r.State, "polls", r.Polls}
	if r.Bytes > 0 {
		a = append(a, "bytes", r.Bytes)
	}
	if r.File != "" {
		a = append(a, "file", r.File)
	}
	if r.Error != "" {
		a = append(a, "error", r.Error)
	}
	return a
}

// frame renders the lines of one redraw for a terminal of height rows: never more than
// height-1 lines (a full screen would scroll, and every redraw would leave a partial frame in
// the scrollback). The header always shows; the log gets what the tasks leave, up to six
// lines; tasks that do not fit collapse into "… N more".
func (v *progressView) frame(recs []*jobs.Record, now time.Time, height int) []string {
	done := 0
	for _, r := range recs {
		if r.State == jobs.StateDownloaded {
			done++
		}
	}
	avail := max(height-1, 2) // one row stays free for the cursor
	logs := v.logs.lines()
	logRows := min(len(logs), max(0, avail-1-2-min(len(recs), 3))) // keep 3 task rows before the log
	if logRows > 0 {
		logs = logs[len(logs)-logRows:]
	}
	rows := avail - 1
	if logRows > 0 {
		rows -= logRows + 2
	}
	lines := []string{fmt.Sprintf("%d/%d downloaded  ·  %s", done, len(recs), now.Format("15:04:05"))}
	for i, r := range recs {
		if len(recs) > rows && i == rows-1 {
			lines = append(lines, fmt.Sprintf("… %d more (see the dashboard's /videos)", len(recs)-i))
			break
		}
		lines = append(lines, v.line(r, now))
	}
	if logRows > 0 {
		lines = append(lines, "", "\x00── log ──")
		for _, l := range logs {
			lines = append(lines, "\x00"+l)
		}
	}
	return lines
}

// line renders one task.
func (v *progressView) line(r *jobs.Record, now time.Time) string {
	s := fmt.Sprintf("%-22s %-11s polls %-3d ", r.TaskID, r.State, r.Polls)
	switch r.State {
	case jobs.StatePending:
		return s + "KIE is making the video (" + now.Sub(r.CreatedAt).Round(time.Second).String() + ")"
	case jobs.StateReady:
		return s + "video ready; download queued"
	case jobs.StateDownloading:
		s += progressBar(r.Bytes, r.PartTotal, 24) + " " + dashboard.HumanBytes(r.Bytes)
		if r.PartTotal > 0 {
			s += "/" + dashboard.HumanBytes(r.PartTotal)
		}
		if rate := v.seen[r.TaskID].rate; rate > 0 {
			s += "  " + dashboard.HumanBytes(int64(rate)) + "/s"
		}
		return s
	case jobs.StateDownloaded:
		return s + dashboard.HumanBytes(r.Bytes) + "  " + displayPath(r.File)
	}
	return s + r.Error
}

// draw rewrites the previous frame in place. Frames never shrink while the terminal keeps its
// size, so every line of the last one is overwritten; lines are cut to the terminal width so
// that none wraps. When the terminal was resized, the screen is cleared and drawn afresh.
func (v *progressView) draw(lines []string, width, height int) {
	var b strings.Builder
	if height != v.height {
		if v.height != 0 {
			b.WriteString("\x1b[H\x1b[2J") // resized: start over at the top
		}
		v.drawn, v.height = 0, height
	}
	for len(lines) < v.drawn {
		lines = append(lines, "")
	}
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dF", v.drawn)
	}
	for _, l := range lines {
		dim := strings.HasPrefix(l, "\x00")
		l = cut(strings.TrimPrefix(l, "\x00"), width-1)
		if dim {
			l = "\x1b[2m" + l + "\x1b[0m"
		}
		b.WriteString("\x1b[2K" + l + "\n")
	}
	v.drawn = len(lines)
	io.WriteString(v.out, b.String())
}

// start hides the cursor during the live view; finish shows it again.
func (v *progressView) start() {
	if v.tty {
		io.WriteString(v.out, "\x1b[?25l")
	}
}

func (v *progressView) finish() {
	if v.tty {
		io.WriteString(v.out, "\x1b[?25h")
	}
}

// followProgress shows the tasks until ctx ends or, with a non-empty watch list, until every
// watched task is terminal: then it prints the summary and, with exitWhenDone, returns
// whether they were all downloaded. Otherwise it keeps the stack up until ctx ends.
func followProgress(ctx context.Context, log *slog.Logger, st *stack, v *progressView, watch []string, exitWhenDone bool) (bool, error) {
	recs := st.recs
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	v.start()
	defer v.finish()
	live, summarized := true, false
	var last []*jobs.Record
	for {
		list, err := recs.List(ctx, "", 100)
		if err != nil && ctx.Err() == nil {
			log.Warn("kiemv dev: read records", "error", err)
		} else if err == nil {
			last = list
			if live {
				v.update(list, time.Now())
			}
		}
		if ws, ok := watched(last, watch); len(watch) > 0 && !summarized && ok {
			v.finish()
			printSummary(v.out, ws)
			summarized, live = true, !v.tty
			if exitWhenDone {
				return allDownloaded(ws), nil
			}
			fmt.Fprintf(v.out, "\nAll done. The dashboard (%s) and Redis stay up until Ctrl-C.\n", st.dashURL)
		}
		select {
		case <-ctx.Done():
			if !summarized && len(watch) > 0 {
				v.finish()
				ws, _ := watched(last, watch)
				fmt.Fprintln(v.out, "\ninterrupted; the tasks as they stand:")
				printSummary(v.out, ws)
			}
			return false, nil
		case <-tick.C:
		}
	}
}

// watched returns the records of the watched ids in their order, and whether all of them
// exist and are terminal.
func watched(recs []*jobs.Record, watch []string) ([]*jobs.Record, bool) {
	by := make(map[string]*jobs.Record, len(recs))
	for _, r := range recs {
		by[r.TaskID] = r
	}
	out := make([]*jobs.Record, 0, len(watch))
	all := true
	for _, id := range watch {
		r := by[id]
		if r == nil {
			r, all = &jobs.Record{TaskID: id, State: "unknown"}, false
		}
		all = all && r.State.Terminal()
		out = append(out, r)
	}
	return out, all
}

func allDownloaded(recs []*jobs.Record) bool {
	for _, r := range recs {
		if r.State != jobs.StateDownloaded {
			return false
		}
	}
	return len(recs) > 0
}

// logRing is an io.Writer that keeps the last max lines written to it.
type logRing struct {
	mu  sync.Mutex
	max int
	buf []string
}

func (l *logRing) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, strings.Split(strings.TrimRight(string(p), "\n"), "\n")...)
	if n := len(l.buf) - l.max; n > 0 {
		l.buf = slices.Delete(l.buf, 0, n)
	}
	return len(p), nil
}

func (l *logRing) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.buf)
}
