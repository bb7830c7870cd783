package kie

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// TimeLayout is KIE's own timestamp format, "YYYY-MM-DD HH:MM:SS", read as UTC.
const TimeLayout = "2006-01-02 15:04:05"

// timeLayouts are tried in order on string timestamps. Layouts without a zone parse as UTC,
// and a fraction of a second is optional in all of them.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
}

// UnmarshalJSON accepts every shape KIE uses (kie-api.md §9.3): null or "" (zero Time),
// "YYYY-MM-DD HH:MM:SS" (UTC), RFC 3339, and epoch milliseconds as a number or a numeric
// string. Numbers below 1e11 are taken as epoch seconds, and 0 as "unset". Anything else is
// kept in Raw with Valid false: it never returns an error, so one odd field cannot make a
// whole record undecodable.
func (t *Time) UnmarshalJSON(b []byte) error {
	*t = Time{}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	switch c := b[0]; {
	case c == '"' && plainString(b): // the usual "YYYY-MM-DD HH:MM:SS", without a decoder
		t.Raw = strings.TrimSpace(string(b[1 : len(b)-1]))
		t.Time, t.Valid = parseTime(t.Raw)
	case c == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			t.Raw = string(b)
			return nil
		}
		t.Raw = strings.TrimSpace(s)
		t.Time, t.Valid = parseTime(t.Raw)
	case c == '-' || (c >= '0' && c <= '9'):
		t.Raw = string(b)
		t.Time, t.Valid = parseEpoch(t.Raw)
	default: // true, false, objects, arrays
		t.Raw = string(b)
	}
	return nil
}

// MarshalJSON writes the value back as KIE sent it (a number stays a number), so that a
// decoded record survives a JSON round trip. A Time built in code with only Time set is
// written in TimeLayout; the zero Time is null.
func (t Time) MarshalJSON() ([]byte, error) {
	switch {
	case t.Raw == "" && t.Valid:
		return json.Marshal(t.Time.UTC().Format(TimeLayout))
	case t.Raw == "":
		return []byte("null"), nil
	case isNumber(t.Raw):
		return []byte(t.Raw), nil
	}
	return json.Marshal(t.Raw)
}

// String returns the instant in RFC 3339 when it was parsed, else Raw.
func (t Time) String() string {
	if t.Valid {
		return t.Time.UTC().Format(time.RFC3339)
	}
	return t.Raw
}

// parseTime reads a string timestamp: a date layout, or a numeric epoch.
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if isNumber(s) {
		return parseEpoch(s)
	}
	for _, l := range timeLayouts {
		if v, err := time.Parse(l, s); err == nil {
			return v.UTC(), true
		}
	}
	return time.Time{}, false
}

// parseEpoch reads epoch milliseconds (or seconds, below 1e11). 0 and values beyond year
// ±30000 are not valid.
func parseEpoch(s string) (time.Time, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f == 0 {
		return time.Time{}, false
	}
	ms := f
	if math.Abs(f) < 1e11 {
		ms = f * 1000
	}
	if math.Abs(ms) > 9e14 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(ms)).UTC(), true
}

// isNumber reports whether s is a plain JSON-style number (digits, sign, dot, exponent).
func isNumber(s string) bool {
	if s == "" {
		return false
	}
	digit := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digit = true
		case r == '-' || r == '+':
			if i != 0 && s[i-1] != 'e' && s[i-1] != 'E' {
				return false
			}
		case r == '.' || r == 'e' || r == 'E':
		default:
			return false
		}
	}
	return digit && json.Valid([]byte(s))
}
