package dev

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
)

// TestFrameFitsTheTerminal: the live view never draws more lines than the terminal has rows
// (less one), always starts with its header, and folds what does not fit into "… N more".
func TestFrameFitsTheTerminal(t *testing.T) {
	v := newProgressView(io.Discard, "text")
	for i := range 10 {
		fmt.Fprintf(v.logs, "log line %d\n", i)
	}
	now := time.Now()
	recs := func(n int) []*jobs.Record {
		out := make([]*jobs.Record, n)
		for i := range out {
			out[i] = &jobs.Record{TaskID: fmt.Sprintf("mp4_%03d", i), State: jobs.StatePending, CreatedAt: now}
		}
		return out
	}
	for _, c := range []struct{ tasks, height int }{{40, 24}, {40, 10}, {40, 5}, {3, 24}, {5, 60}, {100, 80}} {
		lines := v.frame(recs(c.tasks), now, c.height)
		shown := 0
		more := ""
		for _, l := range lines {
			if strings.HasPrefix(l, "mp4_") {
				shown++
			}
			if strings.HasPrefix(l, "… ") {
				more = l
			}
		}
		switch {
		case len(lines) > c.height-1:
			t.Errorf("%d tasks, %d rows: %d lines", c.tasks, c.height, len(lines))
		case !strings.Contains(lines[0], "downloaded"):
			t.Errorf("%d tasks, %d rows: the header is not first: %q", c.tasks, c.height, lines[0])
		case shown < c.tasks && more != fmt.Sprintf("… %d more (see the dashboard's /videos)", c.tasks-shown):
			t.Errorf("%d tasks, %d rows: %d shown, fold %q", c.tasks, c.height, shown, more)
		case shown == c.tasks && more != "":
			t.Errorf("%d tasks, %d rows: all shown yet folded %q", c.tasks, c.height, more)
		}
	}
	if lines := v.frame(recs(5), now, 60); !strings.Contains(strings.Join(lines, "\n"), "log line 9") {
		t.Error("a tall terminal shows no log lines")
	}
}

func TestDownloadingLineShowsProgress(t *testing.T) {
	v := newProgressView(io.Discard, "text")
	r := &jobs.Record{TaskID: "mp4_x", State: jobs.StateDownloading, Bytes: 5 << 20, PartTotal: 10 << 20}
	if l := v.line(r, time.Now()); !strings.Contains(l, "5.0 MiB/10.0 MiB") || !strings.Contains(l, "█") {
		t.Errorf("downloading line %q; want a bar and bytes of the declared length", l)
	}
}

func TestSayProgressWhileCreatesWait(t *testing.T) {
	var out strings.Builder
	st := &stack{out: &out}
	st.cfg.CreateLimit = 18
	var n atomic.Int64
	n.Store(19)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { st.sayProgress(stop, &n, 40); close(done) }()
	time.Sleep(2300 * time.Millisecond)
	close(stop)
	<-done
	if got := out.String(); got != "submitting 20/40 (waiting for a create slot: KIE allows 18 per 10 s)\n" {
		t.Errorf("progress %q", got)
	}
}
