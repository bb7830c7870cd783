package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// TestSongEndToEnd: `submit --task-id T` alone follows the music task, creates one MP4 per
// take, downloads both with their sidecars, and `wait T` exits 0; status, list --song and a
// repeated submit agree, and nothing is created twice.
func TestSongEndToEnd(t *testing.T) {
	e := newEnv(t, kiesim.Config{ReadyAfter: 1500 * time.Millisecond, FileSize: 120_000})
	e.worker("--poll-interval", "1s", "--reconcile-interval", "1s")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	out, stderr, code := e.kiemv(ctx, "submit", "--task-id", "song-e2e", "--author", "Nova Lane", "--first-poll", "0s")
	if code != 0 || out != "song-e2e\n" {
		t.Fatalf("submit --task-id alone: exit %d, stdout %q (want the music task id), stderr %s", code, out, tail(stderr, 800))
	}
	out, stderr, code = e.kiemv(ctx, "wait", "--timeout", "60s", "song-e2e")
	if code != 0 {
		t.Fatalf("wait song: exit %d, stdout %q, stderr %s\n%s", code, out, tail(stderr, 800), tail(e.output(), 3000))
	}
	if f := strings.Fields(out); len(f) != 4 || f[0] != "song-e2e" || f[1] != "downloaded" {
		t.Errorf("wait printed %q; want `song-e2e downloaded <file> <file>`", out)
	}

	out, _, code = e.kiemv(ctx, "status", "--json", "song-e2e")
	var sg struct {
		TaskID string `json:"task_id"`
		Kind   string `json:"kind"`
		State  string `json:"state"`
		Author string `json:"author"`
		Takes  []struct {
			AudioID   string `json:"audio_id"`
			Title     string `json:"title"`
			MP4TaskID string `json:"mp4_task_id"`
			State     string `json:"state"`
		} `json:"takes"`
	}
	if err := json.Unmarshal([]byte(out), &sg); code != 0 || err != nil {
		t.Fatalf("status --json: exit %d, %v: %s", code, err, out)
	}
	want := e.sim.TakeIDs("song-e2e")
	if sg.TaskID != "song-e2e" || sg.Kind != "song" || sg.State != "submitted" || sg.Author != "Nova Lane" || len(sg.Takes) != len(want) {
		t.Fatalf("song status %+v; want kind song, submitted, %d takes", sg, len(want))
	}
	st := e.sim.Stats()
	for i, tk := range sg.Takes {
		if tk.AudioID != want[i] || tk.Title == "" || tk.MP4TaskID == "" || tk.State != "downloaded" {
			t.Errorf("take %d: %+v; want audio %s, a title, an MP4 task, downloaded", i, tk, want[i])
		}
		if n := st.Creates[tk.AudioID]; n != 1 {
			t.Errorf("take %s: %d creates reached KIE, want 1", tk.AudioID, n)
		}
		checkSidecar(t, e, tk.MP4TaskID, "song-e2e", tk.AudioID, tk.Title)
	}
	if ms := e.sim.MusicStats(); ms.MaxPerTask > kiesim.MusicPollsPerSecond || ms.Refused != 0 || ms.Polls["song-e2e"] < 2 {
		t.Errorf("music record-info: %+v; want at most %d a second for the task, none refused", ms, kiesim.MusicPollsPerSecond)
	}

	out, _, code = e.kiemv(ctx, "list", "--song", "song-e2e", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[0], `"kind":"mp4"`) || !strings.Contains(lines[0], sg.Takes[0].MP4TaskID) {
		t.Errorf("list --song: exit %d, %q", code, out)
	}
	out, _, code = e.kiemv(ctx, "status", sg.Takes[1].MP4TaskID)
	if code != 0 || !strings.Contains(out, "downloaded") {
		t.Errorf("status of a take's video: exit %d, %q", code, out)
	}
	out, _, code = e.kiemv(ctx, "status", "song-e2e")
	if code != 0 || !strings.Contains(out, sg.Takes[0].Title) || !strings.Contains(out, "submitted") {
		t.Errorf("status of the song: exit %d, %q", code, out)
	}

	// The same song again: the same id, nothing new at KIE.
	out, _, code = e.kiemv(ctx, "submit", "--task-id", "song-e2e", "--author", "Nova Lane")
	if code != 0 || out != "song-e2e\n" {
		t.Errorf("second submit of the song: exit %d, %q", code, out)
	}
	if _, stderr, code := e.kiemv(ctx, "submit", "--task-id", "song-e2e", "--author", "Other"); code != 1 || !strings.Contains(stderr, "--audio-id") {
		t.Errorf("the song with another author: exit %d, stderr %s; want 1 and advice", code, stderr)
	}
	for _, a := range want {
		if n := e.sim.Stats().Creates[a]; n != 1 {
			t.Errorf("after a second submit, take %s has %d creates", a, n)
		}
	}
	if strings.Contains(e.output(), testAPIKey) {
		t.Error("the API key appears in kiemv's output")
	}
}

// checkSidecar reads <id>.json beside <id>.mp4 and checks what it says against the file.
func checkSidecar(t *testing.T, e *env, id, music, audio, title string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, id+".json"))
	if err != nil {
		t.Errorf("sidecar of %s: %v", id, err)
		return
	}
	var sc jobs.Sidecar
	if err := json.Unmarshal(b, &sc); err != nil {
		t.Errorf("sidecar of %s: %v", id, err)
		return
	}
	video := filepath.Join(e.dir, id+".mp4")
	fi, err := os.Stat(video)
	if err != nil {
		t.Errorf("video of %s: %v", id, err)
		return
	}
	if sc.MP4TaskID != id || sc.MusicTaskID != music || sc.AudioID != audio || sc.Title != title || sc.File != id+".mp4" ||
		sc.Bytes != fi.Size() || sc.SHA256 != fileSHA256(t, video) || sc.CreatedAt.IsZero() || sc.DownloadedAt.IsZero() || sc.CompletedAt.IsZero() {
		t.Errorf("sidecar of %s: %s", id, b)
	}
	if strings.Contains(string(b), "http") || strings.Contains(string(b), testAPIKey) {
		t.Errorf("sidecar of %s holds a URL or the key: %s", id, b)
	}
}

// TestSongFailedEndToEnd: a song KIE fails ends failed with KIE's code and message, and
// `wait T` exits 1 saying so.
func TestSongFailedEndToEnd(t *testing.T) {
	e := newEnv(t, kiesim.Config{ReadyAfter: time.Second})
	e.worker("--poll-interval", "1s")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range []struct{ id, status, msg string }{
		{"songfail-e2e", "GENERATE_AUDIO_FAILED", "Audio generation failed"},
		{"sensitive-e2e", "SENSITIVE_WORD_ERROR", "sensitive words"},
	} {
		if out, stderr, code := e.kiemv(ctx, "submit", "--task-id", c.id, "--first-poll", "0s"); code != 0 || out != c.id+"\n" {
			t.Fatalf("submit %s: exit %d, %q, %s", c.id, code, out, stderr)
		}
		out, stderr, code := e.kiemv(ctx, "wait", "--timeout", "30s", c.id)
		if code != 1 || !strings.HasPrefix(out, c.id+" failed") || !strings.Contains(stderr, c.status) || !strings.Contains(stderr, c.msg) {
			t.Errorf("wait %s: exit %d, stdout %q, stderr %q; want 1 with KIE's status and message", c.id, code, out, stderr)
		}
		out, _, _ = e.kiemv(ctx, "status", "--json", c.id)
		var sg jobs.Song
		if err := json.Unmarshal([]byte(out), &sg); err != nil || sg.State != jobs.SongFailed || !strings.Contains(sg.Error, c.msg) || len(sg.Takes) != 0 {
			t.Errorf("status %s: %s (%v)", c.id, out, err)
		}
	}
	if n := e.sim.Stats().CreateCalls; n != 0 {
		t.Errorf("%d creates reached KIE for failed songs; want 0", n)
	}
}
