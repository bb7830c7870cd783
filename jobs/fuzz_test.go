package jobs_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kiemv/kiemv/jobs"
)

// FuzzValidateID checks that an id ValidateID accepts can neither steer a file path nor a
// Redis key, and that a refused one gets a short error that wraps ErrBadID.
// Seed corpus: testdata/fuzz/FuzzValidateID.
func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"mp4_9f21c0d4", "", "../../etc/passwd", "a/b", `a\b`, "a:b", "a*", "a b",
		"tâche", "a\x00b", "-", strings.Repeat("a", 128), strings.Repeat("a", 129), "\xff\xfe", "poll:x", "{ns}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := jobs.ValidateID("task id", id)
		if err != nil {
			if !errors.Is(err, jobs.ErrBadID) {
				t.Fatalf("ValidateID(%q) = %v; want it to wrap ErrBadID", id, err)
			}
			if n := len(err.Error()); n > 700 || !utf8.ValidString(err.Error()) {
				t.Fatalf("ValidateID(%q): a %d-byte error (valid UTF-8: %v); want a short, printable one", id, n, utf8.ValidString(err.Error()))
			}
			return
		}
		if id == "" || len(id) > 128 || strings.ContainsAny(id, `/\:.*?{}[] `+"\x00") {
			t.Fatalf("ValidateID accepted %q", id)
		}
		for _, r := range id {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				t.Fatalf("ValidateID accepted %q with %q", id, r)
			}
		}
		dir := filepath.Join("/srv", "videos")
		if p := filepath.Join(dir, id+".mp4.part"); filepath.Dir(p) != dir {
			t.Fatalf("accepted id %q puts its file at %s, outside %s", id, p, dir)
		}
	})
}
