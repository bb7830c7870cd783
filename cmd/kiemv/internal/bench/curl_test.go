package bench

import (
	"math"
	"strings"
	"testing"
)

// kiemv_vs_curl pairs each kiemv download with the curl -o runs around it and takes the
// median; when a curl -o run is missing it falls back to the means, and says so.
func TestVsPlain(t *testing.T) {
	// 100 MB; curl -o took 1, 1, 2, 4 s; kiemv ran at 90, 60, 40 MB/s between them: against
	// 100, 66.7 and 33.3 MB/s, rounds of 0.9, 0.9 and 1.2 (the means, 60 over 50 MB/s, 1.2).
	c := &curlTimer{s: &scenario{}, plain: []float64{1, 1, 2, 4}}
	if got := c.vsPlain(100, []float64{90, 60, 40}); math.Abs(got-0.9) > 1e-9 {
		t.Errorf("vsPlain = %v; want the median round, 0.9", got)
	}
	if len(c.s.Notes) != 1 || !strings.Contains(c.s.Notes[0], "0.90, 0.90, 1.20") {
		t.Errorf("notes %q; want each round's ratio", c.s.Notes)
	}

	// One curl -o run failed: 3 kiemv downloads, 3 curl runs (mean 1.5 s: 66.7 MB/s).
	c = &curlTimer{s: &scenario{}, plain: []float64{1, 1.5, 2}}
	if got := c.vsPlain(100, []float64{90, 60, 55}); math.Abs(got-0.9) > 1e-9 {
		t.Errorf("vsPlain with a failed curl run = %v; want kiemv's median 60 over curl's 66.7 MB/s, 0.9", got)
	}
	if len(c.s.Notes) != 1 || !strings.Contains(c.s.Notes[0], "failed") {
		t.Errorf("notes %q; want one saying a curl -o run failed", c.s.Notes)
	}
}
