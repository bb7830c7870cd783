package dev

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/dashboard"
	"github.com/kiemv/kiemv/jobs"
)

// printSummary prints one row per task: id, state, file, size, time from creation to a
// ready video and to a verified file, and the file's sha256 (in full: it is for checking).
func printSummary(w io.Writer, recs []*jobs.Record) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tFILE\tSIZE\tTO READY\tTO FILE\tSHA256")
	for _, r := range recs {
		file := displayPath(r.File)
		if file == "" && r.Error != "" {
			file = cut(r.Error, 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.TaskID, r.State, dash(file), dash(sizeOf(r)),
			dash(elapsed(r.CreatedAt, r.CompletedAt)), dash(elapsed(r.CreatedAt, r.DownloadedAt)), dash(r.SHA256))
	}
	tw.Flush()
}

func sizeOf(r *jobs.Record) string {
	if r.Bytes <= 0 {
		return ""
	}
	return dashboard.HumanBytes(r.Bytes)
}

func elapsed(from, to time.Time) string {
	if from.IsZero() || to.IsZero() {
		return ""
	}
	return to.Sub(from).Round(100 * time.Millisecond).String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// displayPath shows path relative to the working directory when it is below it.
func displayPath(path string) string {
	if path == "" {
		return ""
	}
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return path
	}
	return "." + string(filepath.Separator) + rel
}

// progressBar draws done/total in width cells; with total unknown, a bar of dots.
func progressBar(done, total int64, width int) string {
	if total <= 0 {
		return "[" + strings.Repeat("·", width) + "]"
	}
	n := int(min(done, total) * int64(width) / total)
	return "[" + strings.Repeat("█", n) + strings.Repeat("░", width-n) + "]"
}

// cut shortens s to at most n characters (runes), marking the cut with "…".
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n || n < 1 {
		return s
	}
	return string(r[:n-1]) + "…"
}
