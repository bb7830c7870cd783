package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
	"github.com/kiemv/kiemv/store"
)

// songEnv adds songs to an env: a song store, a Service that knows it, and the song handler.
type songEnv struct {
	*env
	songs *store.Songs
	svc   *jobs.Service
	sp    *jobs.SongPoller
}

func newSongEnv(t *testing.T) *songEnv {
	e := newEnv(t, kiesim.Config{})
	s := &songEnv{env: e, songs: store.NewSongs(e.rdb, e.ns)}
	s.svc = e.service()
	s.svc.Songs = s.songs
	s.sp = &jobs.SongPoller{KIE: e.kie, Songs: s.songs, Service: s.svc, Limiter: e.lim, Log: quietLog(),
		Config: jobs.PollConfig{Interval: time.Second}}
	return s
}

func (s *songEnv) song(id string) *jobs.Song {
	s.t.Helper()
	sg, err := s.songs.GetSong(s.ctx, id)
	if err != nil {
		s.t.Fatalf("song %s: %v", id, err)
	}
	return sg
}

// run runs the song:poll task of the song's current generation.
func (s *songEnv) run(id string) error {
	return s.sp.ProcessTask(s.ctx, jobs.NewSongPollTask(id, s.song(id).Generation, s.q, 0))
}

func (s *songEnv) submit(id string) *jobs.Song {
	s.t.Helper()
	sg, _, err := s.svc.SubmitSong(s.ctx, jobs.SongRequest{MusicTaskID: id, Author: "Nova"})
	if err != nil {
		s.t.Fatalf("SubmitSong(%s): %v", id, err)
	}
	return sg
}

func TestSongSubmitsEachTakeOnce(t *testing.T) {
	t.Parallel()
	s := newSongEnv(t)
	sg := s.submit("m-1")
	if sg.State != jobs.SongPending || sg.Generation != 1 || !s.hasTask(s.q.Poll, jobs.SongPollTaskID("m-1", 1)) {
		t.Fatalf("submitted song %+v; want pending, generation 1, its song:poll queued", sg)
	}
	if err := s.run("m-1"); err != nil {
		t.Fatalf("song poll: %v", err)
	}
	sg = s.song("m-1")
	want := s.sim.TakeIDs("m-1")
	if sg.State != jobs.SongSubmitted || sg.KIEStatus != "SUCCESS" || sg.Polls != 1 || len(sg.Takes) != 2 {
		t.Fatalf("song %+v; want submitted after one poll, two takes", sg)
	}
	for i, tk := range sg.Takes {
		rec := s.get(tk.MP4TaskID)
		if tk.AudioID != want[i] || tk.Title == "" || rec.MusicTaskID != "m-1" || rec.AudioID != tk.AudioID || rec.State != jobs.StatePending {
			t.Errorf("take %d: %+v, record %+v", i, tk, rec)
		}
		if !s.hasTask(s.q.Poll, jobs.PollTaskID(tk.MP4TaskID, 1)) {
			t.Errorf("take %d: its MP4 poll is not queued", i)
		}
	}
	if err := s.run("m-1"); err != nil {
		t.Errorf("a second run of a submitted song: %v", err)
	}
	again, started, err := s.svc.SubmitSong(s.ctx, jobs.SongRequest{MusicTaskID: "m-1", Author: "Nova"})
	if err != nil || started || again.State != jobs.SongSubmitted {
		t.Errorf("submit again = %+v, %v, %v; want the song as it is", again, started, err)
	}
	for _, a := range want {
		if n := s.sim.Stats().Creates[a]; n != 1 {
			t.Errorf("take %s: %d creates, want 1", a, n)
		}
	}
}

// A worker that died after creating the first take's MP4 but before saving its id: the next
// run finds the audio bound and follows that task instead of paying again.
func TestSongCrashMidwayCreatesNothingTwice(t *testing.T) {
	t.Parallel()
	s := newSongEnv(t)
	s.submit("m-2")
	takes := s.sim.TakeIDs("m-2")
	first, _, err := s.svc.Submit(s.ctx, jobs.SubmitRequest{MusicTaskID: "m-2", AudioID: takes[0], Author: "Nova"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.songs.UpdateSong(s.ctx, "m-2", func(g *jobs.Song) error {
		g.State, g.Takes = jobs.SongSubmitting, []jobs.SongTake{{AudioID: takes[0]}, {AudioID: takes[1]}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.run("m-2"); err != nil {
		t.Fatal(err)
	}
	sg := s.song("m-2")
	if sg.State != jobs.SongSubmitted || sg.Takes[0].MP4TaskID != first.TaskID || sg.Takes[1].MP4TaskID == "" {
		t.Errorf("song %+v; want submitted, take 1 on %s", sg, first.TaskID)
	}
	for _, a := range takes {
		if n := s.sim.Stats().Creates[a]; n != 1 {
			t.Errorf("take %s: %d creates, want 1", a, n)
		}
	}
}

func TestSongPendingFailedAndFollowedAgain(t *testing.T) {
	t.Parallel()
	s := newSongEnv(t)
	s.sim.SetSongFate("m-slow", kiesim.SongFate{ReadyAfter: time.Hour})
	s.submit("m-slow")
	err := s.run("m-slow")
	if err == nil || jobs.IsFailure(err) {
		t.Errorf("pending song: %v; want a not-ready wait that is no failure", err)
	}
	if sg := s.song("m-slow"); sg.State != jobs.SongPending || sg.Polls != 1 || sg.KIEStatus != "PENDING" {
		t.Errorf("pending song %+v", sg)
	}

	s.submit("songfail-1")
	err = s.run("songfail-1")
	sg := s.song("songfail-1")
	if !errors.Is(err, asynq.SkipRetry) || sg.State != jobs.SongFailed || !strings.Contains(sg.Error, "GENERATE_AUDIO_FAILED") ||
		!strings.Contains(sg.Error, "code 501: Audio generation failed") || sg.CompletedAt.IsZero() {
		t.Fatalf("failed song: %v, %+v", err, sg)
	}
	// A stale task of the old generation changes nothing after the song is followed again.
	again, started, err := s.svc.SubmitSong(s.ctx, jobs.SongRequest{MusicTaskID: "songfail-1", Author: "Nova"})
	if err != nil || !started || again.State != jobs.SongPending || again.Generation != 2 || again.Error != "" ||
		!s.hasTask(s.q.Poll, jobs.SongPollTaskID("songfail-1", 2)) {
		t.Fatalf("follow a failed song again = %+v, %v, %v", again, started, err)
	}
	if err := s.sp.ProcessTask(s.ctx, jobs.NewSongPollTask("songfail-1", 1, s.q, 0)); err != nil {
		t.Errorf("stale song task: %v", err)
	}
	if sg := s.song("songfail-1"); sg.State != jobs.SongPending || sg.Polls != 1 {
		t.Errorf("after a stale task: %+v; want it untouched", sg)
	}
}

func TestSongUnknownToKIE(t *testing.T) {
	t.Parallel()
	s := newSongEnv(t)
	s.submit("nosong-1")
	if err := s.run("nosong-1"); err == nil || jobs.IsFailure(err) {
		t.Errorf("unknown within the grace: %v; want a wait", err)
	}
	s.sp.Config.NotFoundGrace = time.Nanosecond
	err := s.run("nosong-1")
	if sg := s.song("nosong-1"); !errors.Is(err, asynq.SkipRetry) || sg.State != jobs.SongFailed || !strings.Contains(sg.Error, "KIE has no music task nosong-1") {
		t.Errorf("unknown past the grace: %v, %+v", err, sg)
	}
}

func TestReconcilerReadoptsLostSongs(t *testing.T) {
	t.Parallel()
	s := newSongEnv(t)
	s.sim.SetSongFate("m-lost", kiesim.SongFate{ReadyAfter: time.Hour})
	s.submit("m-lost")
	if err := s.insp.DeleteTask(s.q.Poll, jobs.SongPollTaskID("m-lost", 1)); err != nil {
		t.Fatal(err)
	}
	s.submit("m-old")
	if err := s.insp.DeleteTask(s.q.Poll, jobs.SongPollTaskID("m-old", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.songs.UpdateSong(s.ctx, "m-old", func(g *jobs.Song) error { g.CreatedAt = time.Now().Add(-3 * time.Hour); return nil }); err != nil {
		t.Fatal(err)
	}
	s.submit("m-live")
	r := s.reconciler(time.Now().Add(time.Minute))
	r.Service.Songs, r.Songs = s.songs, s.songs
	res, err := r.Sweep(s.ctx)
	if err != nil || res.Requeued != 1 || res.Ended != 1 {
		t.Fatalf("sweep = %+v, %v; want 1 song requeued and 1 ended", res, err)
	}
	if sg := s.song("m-lost"); sg.Generation != 2 || sg.Requeued != 1 || !s.hasTask(s.q.Poll, jobs.SongPollTaskID("m-lost", 2)) {
		t.Errorf("lost song %+v; want generation 2 with its task", sg)
	}
	if sg := s.song("m-old"); sg.State != jobs.SongTimedOut || !strings.Contains(sg.Error, "poll budget") {
		t.Errorf("song past its budget %+v; want timed_out", sg)
	}
	if sg := s.song("m-live"); sg.Generation != 1 {
		t.Errorf("song with a live task re-adopted: %+v", sg)
	}
}

// failingSidecars is a Files whose sidecars cannot be written.
type failingSidecars struct{ jobs.Files }

func (failingSidecars) PutSidecar(context.Context, string, []byte) error {
	return errors.New("disk full")
}

func TestDownloadWritesSidecar(t *testing.T) {
	t.Parallel()
	s := newSongEnv(t)
	s.submit("m-sc")
	if err := s.run("m-sc"); err != nil {
		t.Fatal(err)
	}
	sg := s.song("m-sc")
	d := s.downloader()
	d.Songs = s.songs
	for i, tk := range sg.Takes {
		if err := s.poll(tk.MP4TaskID); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			d.Files = failingSidecars{s.dir} // a sidecar failure never costs the video
		}
		if err := s.download(d, tk.MP4TaskID); err != nil {
			t.Fatalf("download %s: %v", tk.MP4TaskID, err)
		}
		rec := s.get(tk.MP4TaskID)
		if rec.State != jobs.StateDownloaded {
			t.Fatalf("take %d: %s", i, rec.State)
		}
		path := filepath.Join(s.dir.Path(), tk.MP4TaskID+".json")
		if i == 1 {
			if exists(path) {
				t.Error("a sidecar appeared through a failing Files")
			}
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var sc jobs.Sidecar
		if err := json.Unmarshal(b, &sc); err != nil {
			t.Fatal(err)
		}
		want := jobs.Sidecar{MP4TaskID: tk.MP4TaskID, MusicTaskID: "m-sc", AudioID: tk.AudioID, Title: tk.Title, File: tk.MP4TaskID + ".mp4",
			Bytes: rec.Bytes, SHA256: rec.SHA256, CreatedAt: rec.CreatedAt, CompletedAt: rec.CompletedAt, DownloadedAt: rec.DownloadedAt}
		if !sc.CreatedAt.Equal(want.CreatedAt) || !sc.DownloadedAt.Equal(want.DownloadedAt) || !sc.CompletedAt.Equal(want.CompletedAt) {
			t.Errorf("sidecar times %s; record %+v", b, rec)
		}
		sc.CreatedAt, sc.CompletedAt, sc.DownloadedAt = want.CreatedAt, want.CompletedAt, want.DownloadedAt
		if sc != want || sc.SHA256 != fileSHA(t, filepath.Join(s.dir.Path(), tk.MP4TaskID+".mp4")) || strings.Contains(string(b), "http") {
			t.Errorf("sidecar %s; want %+v", b, want)
		}
	}
}

// brokeKIE refuses the create of one audio as KIE does without credits (code 402).
type brokeKIE struct {
	*kie.Client
	audio string
}

func (b *brokeKIE) CreateVideo(ctx context.Context, req kie.CreateRequest) (string, error) {
	if req.AudioID == b.audio {
		return "", &kie.APIError{Op: "create", Code: 402, Msg: "The current credits are insufficient"}
	}
	return b.Client.CreateVideo(ctx, req)
}

// A take refused for good (no credits) fails the song with KIE's word; after a top-up, the
// song submitted again creates only the missing take.
func TestSongTakeRefusedThenCompleted(t *testing.T) {
	t.Parallel()
	s := newSongEnv(t)
	takes := s.sim.TakeIDs("m-broke")
	s.svc.KIE = &brokeKIE{Client: s.kie, audio: takes[1]}
	s.submit("m-broke")
	err := s.run("m-broke")
	sg := s.song("m-broke")
	if !errors.Is(err, asynq.SkipRetry) || sg.State != jobs.SongFailed || !strings.Contains(sg.Error, "402") ||
		!strings.Contains(sg.Error, takes[1]) || sg.Takes[0].MP4TaskID == "" || sg.Takes[1].MP4TaskID != "" {
		t.Fatalf("refused take: %v, %+v", err, sg)
	}
	s.svc.KIE = s.kie // topped up
	s.submit("m-broke")
	if err := s.run("m-broke"); err != nil {
		t.Fatal(err)
	}
	again := s.song("m-broke")
	if again.State != jobs.SongSubmitted || again.Takes[0].MP4TaskID != sg.Takes[0].MP4TaskID || again.Takes[1].MP4TaskID == "" {
		t.Errorf("completed song %+v", again)
	}
	for _, a := range takes {
		if n := s.sim.Stats().Creates[a]; n != 1 {
			t.Errorf("take %s: %d creates, want 1", a, n)
		}
	}
}

// During a KIE outage a song's polls wait for the shared breaker (no retry used); once KIE is
// back the song goes on.
func TestSongWaitsOutKIEOutage(t *testing.T) {
	t.Parallel()
	s := newSongEnv(t)
	s.sp.Breaker = &jobs.Breaker{State: s.outages(), Log: quietLog(), Config: jobs.BreakerConfig{Threshold: 1, CacheFor: time.Nanosecond}}
	s.submit("m-out")
	s.sim.SetOutage(kiesim.Fault455)
	for i := range 3 {
		err := s.run("m-out")
		if err == nil || jobs.IsFailure(err) || !jobs.IsOutage(err) {
			t.Fatalf("poll %d during the outage: %v; want an outage wait, no failure", i, err)
		}
	}
	if sg := s.song("m-out"); sg.State != jobs.SongPending {
		t.Fatalf("song during the outage: %+v", sg)
	}
	s.sim.SetOutage(kiesim.FaultNone)
	if err := s.outages().Succeed(s.ctx, jobs.DepKIE); err != nil { // what the worker's probe does
		t.Fatal(err)
	}
	if err := s.run("m-out"); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	if sg := s.song("m-out"); sg.State != jobs.SongSubmitted {
		t.Errorf("song after the outage: %+v", sg)
	}
}

// A song's MaxCredits (submit --max-credits) bounds its takes' videos: at 2 credits per MP4, a
// bound of 3 pays for one take and the song ends failed naming the bound; followed again with
// a bound of 4, it creates only the missing take (the one made counts against the bound).
func TestSongMaxCredits(t *testing.T) {
	t.Parallel()
	s := newSongEnv(t)
	s.sp.MP4Credits = 2
	takes := s.sim.TakeIDs("m-cap")
	follow := func(max float64) {
		t.Helper()
		if _, _, err := s.svc.SubmitSong(s.ctx, jobs.SongRequest{MusicTaskID: "m-cap", Author: "Nova", MaxCredits: max}); err != nil {
			t.Fatal(err)
		}
	}
	follow(3)
	err := s.run("m-cap")
	sg := s.song("m-cap")
	if !errors.Is(err, asynq.SkipRetry) || sg.State != jobs.SongFailed || !strings.Contains(sg.Error, "credit budget") ||
		sg.Takes[0].MP4TaskID == "" || sg.Takes[1].MP4TaskID != "" || sg.MaxCredits != 3 {
		t.Fatalf("song capped at 3 credits: %v, %+v", err, sg)
	}
	follow(4)
	if err := s.run("m-cap"); err != nil {
		t.Fatal(err)
	}
	if sg := s.song("m-cap"); sg.State != jobs.SongSubmitted || sg.Takes[1].MP4TaskID == "" {
		t.Errorf("song capped at 4 credits: %+v", sg)
	}
	for _, a := range takes {
		if n := s.sim.Stats().Creates[a]; n != 1 {
			t.Errorf("take %s: %d creates, want 1", a, n)
		}
	}
}
