package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"
	"github.com/kiemv/kiemv/jobs"
)

// runSubmitSong follows every take of a song (submit --task-id T without --audio-id) and
// prints T, or the song as JSON: the worker polls the music task and submits each take's MP4.
func runSubmitSong(ctx context.Context, cfg app.Config, o submitOptions, stdout io.Writer) error {
	req := jobs.SongRequest{MusicTaskID: o.Req.MusicTaskID, Author: o.Req.Author, Domain: o.Req.Domain, CallbackURL: o.Req.CallbackURL,
		MaxCredits: o.MaxCredits}
	if err := req.Validate(); err != nil {
		return submitUsage(err)
	}
	if o.FirstPoll < 0 {
		return usagef("--first-poll must not be negative")
	}
	if o.MaxCredits < 0 {
		return usagef("--max-credits must not be negative (0: no bound)")
	}
	conn, svc, err := cfg.ConnectService(ctx, app.ServiceOptions{NeedKIE: true, FirstPoll: o.FirstPoll})
	if err != nil {
		return err
	}
	defer conn.Close()
	sg, started, err := svc.SubmitSong(ctx, req)
	if err != nil {
		return err
	}
	if !started {
		cfg.Log.Info("song was submitted before; following it", "music_task_id", sg.TaskID, "state", sg.State)
	}
	if o.JSON {
		return json.NewEncoder(stdout).Encode(sg)
	}
	_, err = fmt.Fprintln(stdout, sg.TaskID)
	return err
}
