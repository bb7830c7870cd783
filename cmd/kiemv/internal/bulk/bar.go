package bulk

import (
	"fmt"
	"io"
	"strings"
)

// bar is a one-line progress bar on a terminal, redrawn in place; nil draws nothing.
type bar struct {
	w     io.Writer
	total int
	shown bool
}

func newBar(w io.Writer, total int) *bar {
	if w == nil {
		return nil
	}
	return &bar{w: w, total: total}
}

// draw shows how far the run is.
func (b *bar) draw(s Summary) {
	if b == nil || b.total == 0 {
		return
	}
	const width = 30
	n := s.Lines * width / b.total
	fmt.Fprintf(b.w, "\r\033[K[%s%s] %d/%d  created %d, existing %d, errors %d, not submitted %d",
		strings.Repeat("#", n), strings.Repeat(".", width-n), s.Lines, b.total, s.Created, s.Existing, s.Failed, s.NotSubmitted)
	b.shown = true
}

// clear removes the bar, so that a result line can be printed.
func (b *bar) clear() {
	if b == nil || !b.shown {
		return
	}
	fmt.Fprint(b.w, "\r\033[K")
	b.shown = false
}
