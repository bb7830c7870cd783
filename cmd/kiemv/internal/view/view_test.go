package view

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
)

func TestSongAsRecord(t *testing.T) {
	takes := func(states ...jobs.State) []jobs.SongTake {
		var out []jobs.SongTake
		for i, st := range states {
			out = append(out, jobs.SongTake{AudioID: string(rune('a' + i)), MP4TaskID: "mp4_" + string(rune('a'+i)), State: st})
		}
		return out
	}
	files := map[string]string{"mp4_a": "/v/mp4_a.mp4", "mp4_b": "/v/mp4_b.mp4"}
	for _, c := range []struct {
		name  string
		song  jobs.Song
		state jobs.State
		file  string
		err   string
	}{
		{"music pending", jobs.Song{State: jobs.SongPending}, jobs.StatePending, "", ""},
		{"takes being made", jobs.Song{State: jobs.SongSubmitting, Takes: takes(jobs.StateDownloaded)}, jobs.StatePending, "", ""},
		{"a video still downloading", jobs.Song{State: jobs.SongSubmitted, Takes: takes(jobs.StateDownloaded, jobs.StateDownloading)}, jobs.StatePending, "", ""},
		{"all downloaded", jobs.Song{State: jobs.SongSubmitted, Takes: takes(jobs.StateDownloaded, jobs.StateDownloaded)}, jobs.StateDownloaded, "/v/mp4_a.mp4 /v/mp4_b.mp4", ""},
		{"a video failed", jobs.Song{State: jobs.SongSubmitted, Takes: takes(jobs.StateDownloaded, jobs.StateFailed)}, jobs.StateFailed, "", "take b (mp4 task mp4_b) ended failed"},
		{"music failed", jobs.Song{State: jobs.SongFailed, Error: "KIE could not make music task m: SENSITIVE_WORD_ERROR"}, jobs.StateFailed, "", "SENSITIVE_WORD_ERROR"},
		{"music timed out", jobs.Song{State: jobs.SongTimedOut, Error: "budget"}, jobs.StateTimedOut, "", "budget"},
	} {
		c.song.TaskID = "m"
		r := SongAsRecord(&c.song, files)
		if r.TaskID != "m" || r.State != c.state || (c.file != "" && r.File != c.file) || !strings.Contains(r.Error, c.err) || (c.err == "") != (r.Error == "") {
			t.Errorf("%s: %+v; want %s, file %q, error with %q", c.name, r, c.state, c.file, c.err)
		}
	}
}

func TestPrintShapes(t *testing.T) {
	b, _ := json.Marshal(Record(&jobs.Record{TaskID: "mp4_1", State: jobs.StatePending}))
	if !strings.HasPrefix(string(b), `{"kind":"mp4","task_id":"mp4_1"`) {
		t.Errorf("mp4 JSON %s", b)
	}
	var out bytes.Buffer
	sg := &jobs.Song{TaskID: "m", State: jobs.SongSubmitted, Takes: []jobs.SongTake{{AudioID: "a1", Title: "Night Drive", MP4TaskID: "mp4_1", State: jobs.StateReady}}}
	if err := PrintSong(&out, sg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind", "song", "submitted", "a1", "Night Drive", "mp4_1", "ready"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("PrintSong lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	_ = PrintSong(&out, &jobs.Song{TaskID: "m", State: jobs.SongPending})
	if !strings.Contains(out.String(), "not known yet") {
		t.Errorf("a song without takes:\n%s", out.String())
	}
}

// PrintRecord writes set fields only: times in RFC 3339, numbers as numbers, nothing for a
// zero time or an empty value.
func TestPrintRecordFields(t *testing.T) {
	var out strings.Builder
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	if err := PrintRecord(&out, &jobs.Record{TaskID: "mp4_x", State: jobs.StateDownloaded, Polls: 3, Bytes: 42, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"task_id", "mp4_x", "downloaded", "polls", "3", "bytes", "42", "created_at", "2026-12-01T08:00:00Z"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("PrintRecord lacks %q:\n%s", want, out.String())
		}
	}
	for _, absent := range []string{"completed_at", "sha256", "error", "0001"} {
		if strings.Contains(out.String(), absent) {
			t.Errorf("PrintRecord shows %q, which is not set:\n%s", absent, out.String())
		}
	}
}
