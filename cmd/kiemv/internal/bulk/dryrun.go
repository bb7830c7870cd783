package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/kiemv/kiemv/jobs"
)

// Lookup tells, without changing anything, what a line would find. store.Records and
// store.Songs together implement it.
type Lookup interface {
	// AudioTask returns the MP4 task bound to an audio key, "" when none is.
	AudioTask(ctx context.Context, key string) (string, error)
	// GetSong returns a followed song, or an error wrapping jobs.ErrNoSong.
	GetSong(ctx context.Context, id string) (*jobs.Song, error)
}

// assumedTakes is how many takes a song whose takes are not known yet is counted for: KIE
// makes two per generation.
const assumedTakes = 2

// Plan is what a run would create.
type Plan struct {
	Lines   int     // input lines
	Bad     int     // bad lines
	Creates int     // MP4 creates it would pay for (songs with unknown takes count two)
	Credits float64 // Creates × the price of an MP4
}

// DryRun checks every line and writes, one line per input, what submitting it would do and
// cost, creating nothing. mp4Credits is the price of one MP4.
func DryRun(ctx context.Context, inputs []Input, look Lookup, mp4Credits float64, asJSON bool, out io.Writer) (Plan, error) {
	var p Plan
	seen := map[string]bool{} // audio keys and songs met earlier in the file: paid once
	for _, in := range inputs {
		p.Lines++
		res := Result{Line: in.Line, ID: in.ID()}
		n, what, err := plan(ctx, in, look, seen)
		switch {
		case err != nil:
			return p, err
		case in.Err != nil:
			p.Bad++
			res.Error = "error: " + in.Err.Error()
		default:
			p.Creates += n
			res.State = what
			if n > 0 {
				res.State += fmt.Sprintf(" (%g credits)", float64(n)*mp4Credits)
			}
		}
		if asJSON {
			b, _ := json.Marshal(struct {
				Result
				Creates int `json:"creates"`
			}{res, n})
			fmt.Fprintf(out, "%s\n", b)
		} else {
			what := res.State
			if res.Error != "" {
				what = res.Error
			}
			fmt.Fprintf(out, "%d %s %s\n", res.Line, res.ID, what)
		}
	}
	p.Credits = float64(p.Creates) * mp4Credits
	return p, nil
}

// plan says how many MP4s in would create, and in words what it would do.
func plan(ctx context.Context, in Input, look Lookup, seen map[string]bool) (int, string, error) {
	if in.Err != nil {
		return 0, "", nil
	}
	if !in.Song() {
		key := jobs.AudioKey(in.Req.AudioID, in.Req.Author, in.Req.Domain)
		if seen[key] {
			return 0, "would follow the MP4 of an earlier line (nothing to pay)", nil
		}
		seen[key] = true
		id, err := look.AudioTask(ctx, key)
		switch {
		case err != nil:
			return 0, "", err
		case id != "":
			return 0, "exists as " + id + " (nothing to pay)", nil
		}
		return 1, "would create 1 MP4", nil
	}
	id := in.Req.MusicTaskID
	if seen["song:"+id] {
		return 0, "would follow the song of an earlier line (nothing to pay)", nil
	}
	seen["song:"+id] = true
	sg, err := look.GetSong(ctx, id)
	if errors.Is(err, jobs.ErrNoSong) {
		return assumedTakes, fmt.Sprintf("would follow the song: one MP4 per take (counted as %d takes)", assumedTakes), nil
	} else if err != nil {
		return 0, "", err
	}
	missing := 0
	for _, tk := range sg.Takes {
		if tk.MP4TaskID == "" {
			missing++
		}
	}
	if len(sg.Takes) == 0 {
		missing = assumedTakes
	}
	switch sg.State {
	case jobs.SongSubmitted:
		return 0, "song exists, every take submitted (nothing to pay)", nil
	case jobs.SongFailed, jobs.SongTimedOut:
		return missing, fmt.Sprintf("song ended %s: would follow it again and create %d MP4", sg.State, missing), nil
	}
	return 0, fmt.Sprintf("song is %s: already followed; its worker creates %d MP4 (not this run)", sg.State, missing), nil
}
