package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// figure is one measured number of one scenario, with its target when the issue sets one.
type figure struct {
	Scenario string
	Name     string // snake_case, unit included (e.g. lateness_p99_s)
	Value    float64
	Unit     string // "/s", "s", "ms", "MB", "B", "MB/s", "x" or ""
	Target   string // e.g. "≥ 5000" ("" for none)
	OK       *bool  // nil when no target
}

// scenario collects the figures and notes of one scenario.
type scenario struct {
	Name    string
	Figures []figure
	Notes   []string
}

// add records a figure without a target.
func (s *scenario) add(name string, v float64, unit string) {
	s.Figures = append(s.Figures, figure{Scenario: s.Name, Name: name, Value: v, Unit: unit})
}

// check records a figure against a target.
func (s *scenario) check(name string, v float64, unit, target string, ok bool) {
	s.Figures = append(s.Figures, figure{Scenario: s.Name, Name: name, Value: v, Unit: unit, Target: target, OK: &ok})
}

// note adds a line of explanation.
func (s *scenario) note(format string, a ...any) {
	s.Notes = append(s.Notes, s.Name+": "+fmt.Sprintf(format, a...))
}

// report is everything `kiemv bench` prints.
type report struct {
	Command   string
	Machine   machine
	Redis     string
	Config    map[string]any
	Scenarios []*scenario
	Elapsed   float64
}

// jsonCheck is a figure with a target, in the JSON output.
type jsonCheck struct {
	Scenario string `json:"scenario"`
	Figure   string `json:"figure"`
	Value    any    `json:"value"`
	Target   string `json:"target"`
	OK       bool   `json:"ok"`
}

// writeJSON prints one JSON object with every figure: results[scenario][figure] = value
// (null when it could not be measured), the checks against targets, and the notes.
func (r *report) writeJSON(w io.Writer) error {
	results := map[string]map[string]any{}
	var checks []jsonCheck
	var notes []string
	for _, s := range r.Scenarios {
		m := map[string]any{}
		for _, f := range s.Figures {
			m[f.Name] = jsonNumber(f.Value)
			if f.OK != nil {
				checks = append(checks, jsonCheck{s.Name, f.Name, jsonNumber(f.Value), f.Target, *f.OK})
			}
		}
		results[s.Name] = m
		notes = append(notes, s.Notes...)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{
		"command": r.Command, "machine": r.Machine, "redis": r.Redis, "config": r.Config,
		"results": results, "checks": checks, "notes": notes, "elapsed_s": round3(r.Elapsed),
	})
}

// jsonNumber is v rounded for reading, or nil for NaN and infinities (JSON has neither).
func jsonNumber(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return round3(v)
}

func round3(v float64) float64 {
	if v == math.Trunc(v) || math.Abs(v) >= 1000 {
		return math.Round(v*10) / 10
	}
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64)
	return f
}

// writeTable prints one row per figure: scenario, figure, value, target, ok/MISSED.
func (r *report) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "kiemv bench — %s\n", r.Command)
	fmt.Fprintf(w, "machine: %d CPUs, %s, %s RAM, %s, %s\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.MemTotal, r.Machine.OS, r.Machine.Go)
	fmt.Fprintf(w, "redis:   %s\n\n", r.Redis)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tfigure\tvalue\ttarget\tresult")
	for _, s := range r.Scenarios {
		for _, f := range s.Figures {
			res := ""
			if f.OK != nil {
				res = "ok"
				if !*f.OK {
					res = "MISSED"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, f.Name, formatValue(f.Value, f.Unit), f.Target, res)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes []string
	for _, s := range r.Scenarios {
		notes = append(notes, s.Notes...)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range notes {
			fmt.Fprintln(w, "  - "+n)
		}
	}
	fmt.Fprintf(w, "\ntotal %.0f s\n", r.Elapsed)
	return nil
}

// formatValue prints v with about three significant digits and its unit.
func formatValue(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	var s string
	switch a := math.Abs(v); {
	case v == math.Trunc(v) && a < 1e9:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	default:
		s = strconv.FormatFloat(v, 'f', 3, 64)
	}
	switch unit {
	case "":
		return s
	case "x", "/s":
		return strings.TrimSpace(s + " " + unit)
	}
	return s + " " + unit
}

// okIf builds a target check: v ≥ want (atLeast) or v ≤ want.
func okIf(v, want float64, atLeast bool) bool {
	if math.IsNaN(v) {
		return false
	}
	if atLeast {
		return v >= want
	}
	return v <= want
}

// ratio is a / b, NaN when b is 0 or either is NaN.
func ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}
