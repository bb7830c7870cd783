package kie

import (
	"encoding/json"
	"testing"
	"time"
)

func TestTimeUnmarshal(t *testing.T) {
	want := time.Date(2025, 3, 2, 10, 14, 9, 0, time.UTC)
	tests := []struct {
		name  string
		in    string
		raw   string
		valid bool
		at    time.Time
	}{
		{"kie layout", `"2025-03-02 10:14:09"`, "2025-03-02 10:14:09", true, want},
		{"kie layout with fraction", `"2025-03-02 10:14:09.000"`, "2025-03-02 10:14:09.000", true, want},
		{"rfc3339 Z", `"2025-03-02T10:14:09Z"`, "2025-03-02T10:14:09Z", true, want},
		{"rfc3339 offset", `"2025-03-02T11:14:09+01:00"`, "2025-03-02T11:14:09+01:00", true, want},
		{"iso no zone", `"2025-03-02T10:14:09"`, "2025-03-02T10:14:09", true, want},
		{"epoch ms number", `1740910449000`, "1740910449000", true, want},
		{"epoch ms string", `"1740910449000"`, "1740910449000", true, want},
		{"epoch ms float", `1740910449000.0`, "1740910449000.0", true, want},
		{"epoch seconds", `1740910449`, "1740910449", true, want},
		{"null", `null`, "", false, time.Time{}},
		{"empty string", `""`, "", false, time.Time{}},
		{"blank string", `"  "`, "", false, time.Time{}},
		{"zero", `0`, "0", false, time.Time{}},
		{"garbage string", `"yesterday"`, "yesterday", false, time.Time{}},
		{"bad date", `"2025-13-45 99:99:99"`, "2025-13-45 99:99:99", false, time.Time{}},
		{"huge number", `1e300`, "1e300", false, time.Time{}},
		{"bool", `true`, "true", false, time.Time{}},
		{"object", `{"a":1}`, `{"a":1}`, false, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Time
			if err := json.Unmarshal([]byte(tc.in), &got); err != nil {
				t.Fatalf("Unmarshal(%s) error: %v", tc.in, err)
			}
			if got.Raw != tc.raw || got.Valid != tc.valid || !got.Time.Equal(tc.at) {
				t.Errorf("Unmarshal(%s) = %+v; want raw %q valid %v time %v", tc.in, got, tc.raw, tc.valid, tc.at)
			}
		})
	}
}

func TestTimeRoundTrip(t *testing.T) {
	for _, in := range []string{`"2025-03-02 10:14:09"`, `1740910449000`, `null`, `"yesterday"`} {
		var a, b Time
		if err := json.Unmarshal([]byte(in), &a); err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != in {
			t.Errorf("Marshal(Unmarshal(%s)) = %s", in, out)
		}
		if err := json.Unmarshal(out, &b); err != nil || b != a {
			t.Errorf("round trip of %s: %+v != %+v (%v)", in, b, a, err)
		}
	}
	// A Time built in code with only Time set marshals in TimeLayout, whole seconds, UTC.
	nt := Time{Time: time.Date(2025, 3, 2, 11, 14, 9, 5e8, time.FixedZone("x", 3600)), Valid: true}
	out, _ := json.Marshal(nt)
	if string(out) != `"2025-03-02 10:14:09"` {
		t.Errorf("Marshal = %s, %+v", out, nt)
	}
	if nt.String() != "2025-03-02T10:14:09Z" {
		t.Errorf("String() = %q", nt.String())
	}
}
