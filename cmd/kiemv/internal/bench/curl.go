package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"time"
)

// curlTimer times the two baselines of the downloads scenario on one URL: `curl -o F`, and
// `curl -o F && sha256sum F && sync F` (the same work as kiemv: fetch, hash every byte, make
// the file durable).
type curlTimer struct {
	s            *scenario
	curl, sh     string
	url, path    string
	size         int64
	plain, whole []float64 // seconds of each run
}

func newCurlTimer(s *scenario, url, path string, size int64) *curlTimer {
	c := &curlTimer{s: s, curl: lookPath("curl"), sh: lookPath("sh"), url: url, path: path, size: size}
	switch {
	case c.curl == "":
		s.note("curl is not on PATH: no curl columns (install curl to compare)")
	case c.sh == "" || lookPath("sha256sum") == "" || lookPath("sync") == "":
		s.note("sh, sha256sum or sync is not on PATH: no curl_sha256_sync column")
		c.sh = ""
	}
	return c
}

// run times each baseline once.
func (c *curlTimer) run(ctx context.Context) {
	if c.curl == "" {
		return
	}
	if d, err := c.time(ctx, exec.CommandContext(ctx, c.curl, "-s", "-S", "-o", c.path, c.url)); err != nil {
		c.s.note("curl failed: %v", err)
	} else {
		c.plain = append(c.plain, d.Seconds())
	}
	if c.sh == "" {
		return
	}
	script := `"$1" -s -S -o "$2" "$3" && sha256sum "$2" >/dev/null && sync "$2"`
	if d, err := c.time(ctx, exec.CommandContext(ctx, c.sh, "-c", script, "sh", c.curl, c.path, c.url)); err != nil {
		c.s.note("curl && sha256sum && sync failed: %v", err)
	} else {
		c.whole = append(c.whole, d.Seconds())
	}
}

// time runs cmd, checks the size of the file it wrote, and removes the file.
func (c *curlTimer) time(ctx context.Context, cmd *exec.Cmd) (time.Duration, error) {
	defer os.Remove(c.path)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	fi, err := os.Stat(c.path)
	if err != nil {
		return 0, err
	}
	if fi.Size() != c.size {
		return 0, fmt.Errorf("wrote %d bytes, want %d", fi.Size(), c.size)
	}
	return d, nil
}

// report adds the baselines' rates and kiemv's ratios to them (kiemv at rate MB/s).
func (c *curlTimer) report(mb, rate float64) {
	plain, whole := mb/mean(c.plain), mb/mean(c.whole)
	if len(c.plain) > 0 {
		s := c.s
		s.add("curl_mb_per_s", plain, "MB/s")
		r := ratio(rate, plain)
		s.check("kiemv_vs_curl", r, "x", "≥ 0.9", okIf(r, 0.9, true))
	}
	if len(c.whole) > 0 && !math.IsNaN(whole) {
		s := c.s
		s.add("curl_sha256_sync_mb_per_s", whole, "MB/s")
		r := ratio(rate, whole)
		s.check("kiemv_vs_curl_sha256_sync", r, "x", "≥ 1.0", okIf(r, 1.0, true))
	}
}
