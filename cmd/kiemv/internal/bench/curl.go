package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
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
	plainCPU     []float64 // CPU seconds (user + system) of each run, children included
	wholeCPU     []float64
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

// runPlain times `curl -o F` once.
func (c *curlTimer) runPlain(ctx context.Context) {
	if c.curl == "" {
		return
	}
	if d, cpu, err := c.time(ctx, exec.CommandContext(ctx, c.curl, "-s", "-S", "-o", c.path, c.url)); err != nil {
		c.s.note("curl failed: %v", err)
	} else {
		c.plain, c.plainCPU = append(c.plain, d.Seconds()), append(c.plainCPU, cpu.Seconds())
	}
}

// runWhole times `curl -o F && sha256sum F && sync F` once.
func (c *curlTimer) runWhole(ctx context.Context) {
	if c.curl == "" || c.sh == "" {
		return
	}
	script := `"$1" -s -S -o "$2" "$3" && sha256sum "$2" >/dev/null && sync "$2"`
	if d, cpu, err := c.time(ctx, exec.CommandContext(ctx, c.sh, "-c", script, "sh", c.curl, c.path, c.url)); err != nil {
		c.s.note("curl && sha256sum && sync failed: %v", err)
	} else {
		c.whole, c.wholeCPU = append(c.whole, d.Seconds()), append(c.wholeCPU, cpu.Seconds())
	}
}

// time runs cmd, checks the size of the file it wrote, and removes the file. It returns the
// wall time and the CPU time of cmd and the children it waited for.
func (c *curlTimer) time(ctx context.Context, cmd *exec.Cmd) (time.Duration, time.Duration, error) {
	defer os.Remove(c.path)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("%v: %s", err, out)
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	fi, err := os.Stat(c.path)
	if err != nil {
		return 0, 0, err
	}
	if fi.Size() != c.size {
		return 0, 0, fmt.Errorf("wrote %d bytes, want %d", fi.Size(), c.size)
	}
	return d, cpu, nil
}

// report adds the baselines' rates and kiemv's ratios to them, and the CPU each spent per
// GiB (kiemv's cpu seconds per download): unlike the rates, those do not depend on what else
// the machine runs. kiemv's download k (at rates[k] MB/s) ran between curl -o runs k and k+1:
// kiemv_vs_curl is the median of its ratios to the mean of those two.
func (c *curlTimer) report(mb float64, rates, cpu []float64) {
	gib := mb / 1024
	rate := quantile(rates, 0.5)
	c.s.add("kiemv_cpu_s_per_gib", quantile(cpu, 0.5)/gib, "s")
	if len(c.plainCPU) > 0 {
		c.s.add("curl_cpu_s_per_gib", mean(c.plainCPU)/gib, "s")
	}
	if len(c.wholeCPU) > 0 {
		c.s.add("curl_sha256_sync_cpu_s_per_gib", mean(c.wholeCPU)/gib, "s")
	}
	plain, whole := mb/mean(c.plain), mb/mean(c.whole)
	if len(c.plain) > 0 {
		c.s.add("curl_mb_per_s", plain, "MB/s")
		r := c.vsPlain(mb, rates)
		c.s.check("kiemv_vs_curl", r, "x", "≥ 0.9", okIf(r, 0.9, true))
	}
	if len(c.whole) > 0 && !math.IsNaN(whole) {
		s := c.s
		s.add("curl_sha256_sync_mb_per_s", whole, "MB/s")
		r := ratio(rate, whole)
		s.check("kiemv_vs_curl_sha256_sync", r, "x", "≥ 1.0", okIf(r, 1.0, true))
	}
}

// vsPlain is the median of kiemv's rates each against the mean of the curl -o runs before and
// after it; should a curl -o run have failed (the rounds no longer pair up), the median of
// kiemv's rates against the mean of curl's.
func (c *curlTimer) vsPlain(mb float64, rates []float64) float64 {
	if len(c.plain) != len(rates)+1 {
		c.s.note("a curl -o run failed: kiemv_vs_curl is kiemv's median rate against curl's mean")
		return ratio(quantile(rates, 0.5), mb/mean(c.plain))
	}
	each, rs := make([]float64, len(rates)), make([]string, len(rates))
	for k, rate := range rates {
		each[k] = ratio(rate, mb/mean(c.plain[k:k+2]))
		rs[k] = fmt.Sprintf("%.2f", each[k])
	}
	c.s.note("kiemv_vs_curl of each round (kiemv against the curl -o runs before and after it): %s", strings.Join(rs, ", "))
	return quantile(each, 0.5)
}
