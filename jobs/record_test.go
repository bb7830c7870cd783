package jobs_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kiemv/kiemv/jobs"
)

// forward lists every move the state diagram of ARCHITECTURE.md allows (besides staying put).
var forward = map[jobs.State][]jobs.State{
	jobs.StatePending:     {jobs.StateReady, jobs.StateFailed, jobs.StateTimedOut, jobs.StateCanceled},
	jobs.StateReady:       {jobs.StateDownloading, jobs.StateDownloaded, jobs.StateFailed, jobs.StateExpired, jobs.StateCanceled},
	jobs.StateDownloading: {jobs.StateDownloaded, jobs.StateFailed, jobs.StateExpired, jobs.StateCanceled},
	jobs.StateDownloaded:  {},
	// kiemv retry: a terminal record that has no file goes back to pending.
	jobs.StateFailed:   {jobs.StatePending},
	jobs.StateTimedOut: {jobs.StatePending},
	jobs.StateExpired:  {jobs.StatePending},
	jobs.StateCanceled: {jobs.StatePending},
}

func TestTransitionTable(t *testing.T) {
	t.Parallel()
	for _, from := range jobs.States {
		for _, to := range jobs.States {
			want := from == to
			for _, s := range forward[from] {
				want = want || s == to
			}
			if got := canMove(from, to); got != want {
				t.Errorf("canMove(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
}

func TestTransitionsNeverBackwards(t *testing.T) {
	t.Parallel()
	for _, c := range [][2]jobs.State{
		{jobs.StateDownloaded, jobs.StateReady},
		{jobs.StateDownloaded, jobs.StateDownloading},
		{jobs.StateDownloaded, jobs.StatePending},
		{jobs.StateDownloading, jobs.StateReady},
		{jobs.StateDownloading, jobs.StatePending},
		{jobs.StateReady, jobs.StatePending},
		{jobs.StateFailed, jobs.StateReady},
		{jobs.StateCanceled, jobs.StateDownloading},
		{jobs.StateTimedOut, jobs.StateDownloaded},
	} {
		if canMove(c[0], c[1]) {
			t.Errorf("canMove(%s, %s) = true: a backwards move", c[0], c[1])
		}
	}
	if canMove("", jobs.StatePending) || canMove(jobs.StatePending, "bogus") {
		t.Error("canMove accepts a state that does not exist")
	}
}

func TestSourcesOfIncludesItself(t *testing.T) {
	t.Parallel()
	for _, s := range jobs.States {
		src := jobs.SourcesOf(s)
		if len(src) == 0 || src[0] != s {
			t.Errorf("SourcesOf(%s) = %v: the state itself must come first", s, src)
		}
		// SourcesOf must not hand out its internal slice: appending to it changes nothing.
		_ = append(src[:1], jobs.StateDownloaded)
		if s != jobs.StateDownloaded && canMove(jobs.StateDownloaded, s) {
			t.Fatalf("mutating SourcesOf(%s) changed the transition table", s)
		}
	}
}

func TestTerminalAndValid(t *testing.T) {
	t.Parallel()
	terminal := map[jobs.State]bool{jobs.StateDownloaded: true, jobs.StateFailed: true,
		jobs.StateTimedOut: true, jobs.StateExpired: true, jobs.StateCanceled: true}
	for _, s := range jobs.States {
		if s.Terminal() != terminal[s] {
			t.Errorf("%s.Terminal() = %v", s, s.Terminal())
		}
		if !s.Valid() {
			t.Errorf("%s.Valid() = false", s)
		}
	}
	for _, s := range []jobs.State{"", "Pending", "done", "pending "} {
		if s.Valid() || s.Terminal() {
			t.Errorf("%q: Valid %v Terminal %v", s, s.Valid(), s.Terminal())
		}
	}
}

func TestParseState(t *testing.T) {
	t.Parallel()
	for _, s := range jobs.States {
		got, err := jobs.ParseState(string(s))
		if err != nil || got != s {
			t.Errorf("ParseState(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "PENDING", "timed-out", "finished"} {
		got, err := jobs.ParseState(s)
		if err == nil || got != "" {
			t.Errorf("ParseState(%q) = %q, %v; want an error", s, got, err)
			continue
		}
		if !strings.Contains(err.Error(), "timed_out") || !strings.Contains(err.Error(), "downloaded") {
			t.Errorf("ParseState(%q) error %q does not list the valid names", s, err)
		}
	}
}

func TestValidateID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"a", "mp4_9f21c0d4", "5c79aa01be8e", "e2310f3a-77b1-4c2e-9d1a-1f8c8cadc7dc",
		"A_b-C", strings.Repeat("x", 128)} {
		if err := jobs.ValidateID("task id", id); err != nil {
			t.Errorf("ValidateID(%q) = %v", id, err)
		}
	}
	for _, c := range []struct{ id, want string }{
		{"", "empty"},
		{strings.Repeat("x", 129), "129 characters"},
		{"../x", "may only contain"},
		{"a/b", "may only contain"},
		{"a b", "may only contain"},
		{"a.mp4", "may only contain"},
		{"tâche", "may only contain"},
		{"ид", "may only contain"},
		{"a\x00b", "may only contain"},
		{"a\n", "may only contain"},
		{"*", "may only contain"},
	} {
		err := jobs.ValidateID("audio id", c.id)
		if err == nil {
			t.Errorf("ValidateID(%q) = nil", c.id)
			continue
		}
		if !errors.Is(err, jobs.ErrBadID) || !strings.Contains(err.Error(), c.want) ||
			!strings.Contains(err.Error(), "audio id") {
			t.Errorf("ValidateID(%q) = %q; want ErrBadID naming the audio id and saying %q", c.id, err, c.want)
		}
	}
	// A long id is quoted only in part: errors stay readable.
	if err := jobs.ValidateID("task id", strings.Repeat("y", 5000)); len(err.Error()) > 200 {
		t.Errorf("error for a 5000-character id is %d characters long", len(err.Error()))
	}
}

func TestQueuesAndTaskIDs(t *testing.T) {
	t.Parallel()
	q := jobs.QueuesFor("ns1")
	if q.Poll != "ns1:poll" || q.Download != "ns1:download" {
		t.Errorf("QueuesFor = %+v", q)
	}
	if jobs.PollTaskID("x", 1) != "poll:x" || jobs.DownloadTaskID("x", 1) != "dl:x" || jobs.PollTaskID("x", 2) != "poll:x:2" || jobs.DownloadTaskID("x", 7) != "dl:x:7" {
		t.Error("task ids")
	}
	for _, c := range []struct {
		task interface {
			Type() string
			Payload() []byte
		}
		want string
	}{
		{jobs.NewPollTask("mp4_a", 2, q, 0), `{"id":"mp4_a","gen":2}`},
		{jobs.NewDownloadTask("mp4_a", 2, q, 0), `{"id":"mp4_a","gen":2}`},
		{jobs.NewPollTask("mp4_a", 1, q, 0), `{"id":"mp4_a"}`}, // the first generation is implied
	} {
		if string(c.task.Payload()) != c.want {
			t.Errorf("%s payload = %s, want %s: it must carry the id, the generation and nothing else", c.task.Type(), c.task.Payload(), c.want)
		}
	}
}

// canMove reports whether a record in state from may move to state to, as a Store decides.
func canMove(from, to jobs.State) bool { return slices.Contains(jobs.SourcesOf(to), from) }
