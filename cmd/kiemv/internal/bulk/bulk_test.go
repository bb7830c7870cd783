package bulk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
)

func TestReadJSONLines(t *testing.T) {
	in := "\ufeff" + `{"task_id":"m","audio_id":"a1"}

{"task_id":"m"}
{"task_id":"m","audio_id":"a2","color":"red"}
{"task_id":"m","audio_id":5}
null
{"task_id":"m","audio_id":"a3","author":"Own"}
{"task_id":"m","audio_id":"a4","callback_url":"ftp://x"}
`
	got, err := Read(strings.NewReader(in), Defaults{Author: "Nova", Domain: "d.example"})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line int
		id   string
		err  string
	}{{1, "m/a1", ""}, {3, "m", ""}, {4, "m", "unknown field \"color\""}, {5, "m", "not a string"}, {6, "-", "not a JSON object"}, {7, "m/a3", ""}, {8, "m/a4", "callback URL"}}
	if len(got) != len(want) {
		t.Fatalf("%d inputs: %+v", len(got), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Line != w.line || g.ID() != w.id || (w.err == "") != (g.Err == nil) || (g.Err != nil && !strings.Contains(g.Err.Error(), w.err)) {
			t.Errorf("input %d: line %d id %s err %v; want line %d id %s err %q", i, g.Line, g.ID(), g.Err, w.line, w.id, w.err)
		}
	}
	if !got[1].Song() || got[0].Song() || got[0].Req.Author != "Nova" || got[0].Req.Domain != "d.example" || got[5].Req.Author != "Own" {
		t.Errorf("song or defaults wrong: %+v", got)
	}
}

func TestReadCSV(t *testing.T) {
	got, err := Read(strings.NewReader("Task_ID, audio_id ,domain\nm,a1,\nm,,x.example\n\"m,a2\n"), Defaults{Domain: "d.example"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Line != 2 || got[0].Req.Domain != "d.example" || !got[1].Song() || got[1].Req.Domain != "x.example" || got[2].Err == nil {
		t.Errorf("CSV inputs %+v", got)
	}
	for _, bad := range []string{"audio_id\na\n", "task_id,colour\nm,r\n"} {
		if _, err := Read(strings.NewReader(bad), Defaults{}); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: %v; want ErrFormat", bad, err)
		}
	}
	if got, err := Read(strings.NewReader(""), Defaults{}); err != nil || len(got) != 0 {
		t.Errorf("empty input: %v, %v", got, err)
	}
}

// fakeKIE is a Submitter that dedups like the Service: an audio already created returns its
// task, created false. It counts creates, takes a random short time, and honours ctx.
type fakeKIE struct {
	mu      sync.Mutex
	tasks   map[string]string
	creates int
	fail    map[string]error
}

func (f *fakeKIE) Submit(ctx context.Context, req jobs.SubmitRequest) (*jobs.Record, bool, error) {
	select {
	case <-time.After(time.Duration(rand.IntN(3)) * time.Millisecond):
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[req.AudioID]; err != nil {
		return nil, false, err
	}
	if id, ok := f.tasks[req.AudioID]; ok {
		return &jobs.Record{TaskID: id, State: jobs.StatePending}, false, nil
	}
	f.creates++
	id := fmt.Sprintf("mp4_%s", req.AudioID)
	f.tasks[req.AudioID] = id
	return &jobs.Record{TaskID: id, State: jobs.StatePending}, true, nil
}

func (f *fakeKIE) SubmitSong(ctx context.Context, req jobs.SongRequest) (*jobs.Song, bool, error) {
	return &jobs.Song{TaskID: req.MusicTaskID, State: jobs.SongPending}, true, nil
}

func inputs(n int) []Input {
	var in []Input
	for i := 1; i <= n; i++ {
		in = append(in, Input{Line: i, Req: jobs.SubmitRequest{MusicTaskID: "m", AudioID: fmt.Sprintf("a%02d", i)}})
	}
	return in
}

func TestRunPrintsInInputOrder(t *testing.T) {
	f := &fakeKIE{tasks: map[string]string{}, fail: map[string]error{"a05": errors.New("kie refused it")}}
	in := inputs(30)
	in[9].Err = errors.New("bad")
	var out bytes.Buffer
	s := Run(context.Background(), in, f, Options{Concurrency: 8}, &out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, fmt.Sprintf("%d ", i+1)) {
			t.Fatalf("line %d: %q (out of order)", i+1, l)
		}
	}
	if lines[4] != "5 m/a05 error: kie refused it" || lines[9] != "10 m/a10 error: bad" || lines[0] != "1 mp4_a01 pending" {
		t.Errorf("lines %q %q %q", lines[0], lines[4], lines[9])
	}
	if s.Created != 28 || s.Failed != 2 || fmt.Sprint(s.FailedLines) != "[5 10]" && fmt.Sprint(s.FailedLines) != "[10 5]" {
		t.Errorf("summary %+v", s)
	}
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "2 of 30 lines were not submitted") {
		t.Errorf("summary error %v", err)
	}
}

// credits is a Budget of n creates: past them, it refuses as KIE's 402 would.
type credits struct {
	mu   sync.Mutex
	left int
}

func (c *credits) Admit(context.Context, Input) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left <= 0 {
		return errors.New("insufficient credits")
	}
	c.left--
	return nil
}

func (c *credits) Done(_ Input, r Result) {
	if !r.Created {
		c.mu.Lock()
		c.left++ // nothing was paid
		c.mu.Unlock()
	}
}

func TestRunBudgetStopsAndRerunCompletes(t *testing.T) {
	f := &fakeKIE{tasks: map[string]string{}}
	in := inputs(12)
	var out bytes.Buffer
	s := Run(context.Background(), in, f, Options{Concurrency: 4, Budget: &credits{left: 5}}, &out)
	if f.creates != 5 || s.Created != 5 || s.NotSubmitted != 7 || strings.Count(out.String(), "not submitted: insufficient credits") != 7 {
		t.Fatalf("with 5 credits: %d creates, %+v\n%s", f.creates, s, out.String())
	}
	out.Reset()
	s = Run(context.Background(), in, f, Options{Concurrency: 4, Budget: &credits{left: 100}}, &out)
	if f.creates != 12 || s.Created != 7 || s.Existing != 5 || s.Err() != nil {
		t.Errorf("after a top-up: %d creates in all, %+v", f.creates, s)
	}
}

func TestRunStopFuncAndInterrupt(t *testing.T) {
	f := &fakeKIE{tasks: map[string]string{}, fail: map[string]error{"a03": errors.New("code 402: credits insufficient")}}
	var out bytes.Buffer
	s := Run(context.Background(), inputs(10), f, Options{Concurrency: 1, StopFunc: func(err error) bool { return strings.Contains(err.Error(), "402") }}, &out)
	if s.Created != 2 || s.NotSubmitted != 8 || !strings.Contains(out.String(), "3 m/a03 not submitted: code 402") {
		t.Errorf("stop on 402: %+v\n%s", s, out.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out.Reset()
	s = Run(ctx, inputs(5), &fakeKIE{tasks: map[string]string{}}, Options{}, &out)
	if s.NotSubmitted != 5 || strings.Count(out.String(), "not submitted: interrupted") != 5 {
		t.Errorf("interrupted run: %+v\n%s", s, out.String())
	}
}

type lookup struct {
	tasks map[string]string
	songs map[string]*jobs.Song
}

func (l lookup) AudioTask(_ context.Context, key string) (string, error) { return l.tasks[key], nil }
func (l lookup) GetSong(_ context.Context, id string) (*jobs.Song, error) {
	if s, ok := l.songs[id]; ok {
		return s, nil
	}
	return nil, jobs.ErrNoSong
}

func TestDryRun(t *testing.T) {
	in := inputs(4)
	in[1].Req.AudioID = "a01" // the same audio twice: paid once
	in[3].Err = errors.New("bad")
	in = append(in, Input{Line: 5, Req: jobs.SubmitRequest{MusicTaskID: "s1"}}, Input{Line: 6, Req: jobs.SubmitRequest{MusicTaskID: "s2"}},
		Input{Line: 7, Req: jobs.SubmitRequest{MusicTaskID: "s3"}})
	l := lookup{tasks: map[string]string{jobs.AudioKey("a03", "", ""): "mp4_x"}, songs: map[string]*jobs.Song{
		"s2": {TaskID: "s2", State: jobs.SongSubmitted},
		"s3": {TaskID: "s3", State: jobs.SongFailed, Takes: []jobs.SongTake{{AudioID: "t1", MP4TaskID: "mp4_t1"}, {AudioID: "t2"}}}}}
	var out bytes.Buffer
	p, err := DryRun(context.Background(), in, l, 2, false, &out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Lines != 7 || p.Bad != 1 || p.Creates != 1+2+1 || p.Credits != 8 {
		t.Errorf("plan %+v\n%s", p, out.String())
	}
	for _, want := range []string{"1 m/a01 would create 1 MP4 (2 credits)", "2 m/a01 would follow the MP4 of an earlier line", "3 m/a03 exists as mp4_x",
		"4 m/a04 error: bad", "5 s1 would follow the song", "6 s2 song exists", "7 s3 song ended failed: would follow it again and create 1 MP4 (2 credits)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run lacks %q:\n%s", want, out.String())
		}
	}
}

func TestProgressBar(t *testing.T) {
	var term, out bytes.Buffer
	Run(context.Background(), inputs(3), &fakeKIE{tasks: map[string]string{}}, Options{Concurrency: 1, Progress: &term}, &out)
	got := term.String()
	if !strings.Contains(got, "] 3/3  created 3, existing 0, errors 0, not submitted 0") || !strings.HasSuffix(got, "\r\033[K") ||
		!strings.Contains(got, "[##########....................] 1/3") {
		t.Errorf("progress drawn: %q", got)
	}
	if strings.Contains(out.String(), "\r") {
		t.Errorf("the bar leaked into the output: %q", out.String())
	}
	if newBar(nil, 3) != nil {
		t.Error("a bar without a terminal")
	}
}
