package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// SongRequest is a whole song to make videos of: every take of a music task, each with the
// same author, domain and callback URL.
type SongRequest struct {
	MusicTaskID string
	Author      string
	Domain      string
	CallbackURL string
	MaxCredits  float64 // the most the takes' videos may cost, all together (0: no bound)
}

// Validate checks the request with the rules of SubmitRequest.Validate (a *FieldError names
// the field refused).
func (r SongRequest) Validate() error {
	return r.take("song").Validate()
}

// take is the submit request of one take of the song.
func (r SongRequest) take(audioID string) SubmitRequest {
	return SubmitRequest{MusicTaskID: r.MusicTaskID, AudioID: audioID, Author: r.Author, Domain: r.Domain, CallbackURL: r.CallbackURL}
}

// errSongMoved means a song changed between its read and its update: read it again.
var errSongMoved = errors.New("the song changed meanwhile")

// SubmitSong follows a whole song: a song:poll task asks KIE's music record-info until the
// takes are known, then submits one MP4 per take (see SongPoller). It is idempotent: a song
// followed already is returned as it is (its lost task re-queued), and one that ended without
// every take's MP4 (failed, timed_out) is followed again as a new generation, keeping the MP4
// tasks its takes have: nothing is paid twice. started reports whether a follow began.
func (s *Service) SubmitSong(ctx context.Context, req SongRequest) (song *Song, started bool, err error) {
	if err := req.Validate(); err != nil {
		return nil, false, err
	}
	if s.Songs == nil {
		return nil, false, fmt.Errorf("song %s: this kiemv was built without a song store", req.MusicTaskID)
	}
	id, now := req.MusicTaskID, time.Now().UTC()
	song = &Song{TaskID: id, State: SongPending, Generation: 1, Author: req.Author, Domain: req.Domain,
		CallbackURL: req.CallbackURL, MaxCredits: req.MaxCredits, CreatedAt: now, UpdatedAt: now}
	created, err := s.Songs.CreateSong(ctx, song)
	if err != nil {
		return nil, false, fmt.Errorf("save song %s: %w", id, err)
	}
	if created {
		return song, true, s.enqueueSong(ctx, song, s.FirstPoll)
	}
	for range 5 {
		cur, err := s.Songs.GetSong(ctx, id)
		if err != nil {
			return nil, false, err
		}
		if cur.Author != req.Author || cur.Domain != req.Domain {
			return cur, false, fmt.Errorf("song %s is followed with author %q and domain %q already; its videos carry those. For other labels, submit each take with --audio-id (see `kiemv status %s` for the audio ids)",
				id, cur.Author, cur.Domain, id)
		}
		switch cur.State {
		case SongSubmitted:
			return cur, false, nil
		case SongPending, SongSubmitting:
			cur, err = s.ensureSongLive(ctx, cur, false)
			return cur, false, err
		}
		next, err := s.Songs.UpdateSong(ctx, id, func(sg *Song) error {
			if sg.State != cur.State || sg.Generation != cur.Generation {
				return errSongMoved
			}
			sg.State, sg.Generation, sg.Error, sg.RetriedAt = SongPending, sg.Generation+1, "", now
			sg.CompletedAt, sg.CallbackURL, sg.MaxCredits = time.Time{}, req.CallbackURL, req.MaxCredits
			return nil
		})
		if errors.Is(err, errSongMoved) {
			continue
		} else if err != nil {
			return nil, false, fmt.Errorf("follow song %s again: %w", id, err)
		}
		s.log().Info("song followed again", "music_task_id", id, "was", cur.State, "generation", next.Generation)
		return next, true, s.enqueueSong(ctx, next, 0)
	}
	return nil, false, fmt.Errorf("song %s kept changing while kiemv tried to follow it; run the same submit again", id)
}

// enqueueSong queues the song:poll task of sg's generation; one queued already is fine.
func (s *Service) enqueueSong(ctx context.Context, sg *Song, delay time.Duration) error {
	_, err := s.Enqueuer.EnqueueContext(ctx, NewSongPollTask(sg.TaskID, sg.Generation, s.Queues, delay))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("queue the song:poll task of song %s: %w; run `kiemv submit --task-id %s` again", sg.TaskID, err, sg.TaskID)
	}
	return nil
}

// ensureSongLive gives a song that has not ended a live song:poll task, as ensureLive does for
// records: a missing, archived or completed task makes a new generation and a new task, due
// now. requeue counts it in Song.Requeued (the reconciler).
func (s *Service) ensureSongLive(ctx context.Context, sg *Song, requeue bool) (*Song, error) {
	if sg.State.Terminal() {
		return sg, nil
	}
	if s.Tasks == nil {
		return sg, s.enqueueSong(ctx, sg, 0)
	}
	taskID := SongPollTaskID(sg.TaskID, sg.Generation)
	state, err := s.taskState(s.Queues.Poll, taskID)
	if err != nil {
		s.log().Warn("cannot tell whether a song's task is alive; leaving it", "music_task_id", sg.TaskID, "task", taskID, "error", err)
		return sg, nil
	}
	if liveTask(state) {
		return sg, nil
	}
	next, err := s.Songs.UpdateSong(ctx, sg.TaskID, func(cur *Song) error {
		if cur.Generation != sg.Generation || cur.State != sg.State {
			return errSongMoved
		}
		cur.Generation++
		if requeue {
			cur.Requeued++
		}
		return nil
	})
	if errors.Is(err, errSongMoved) {
		return s.Songs.GetSong(ctx, sg.TaskID)
	} else if err != nil {
		return nil, fmt.Errorf("re-adopt song %s: %w", sg.TaskID, err)
	}
	if state != "" {
		if err := s.Tasks.DeleteTask(s.Queues.Poll, taskID); err != nil && !isGone(err) {
			s.log().Warn("the old generation's song task could not be deleted; it is stale and will drop itself", "music_task_id", sg.TaskID, "error", err)
		}
	}
	s.log().Info("re-adopted a song whose task was lost; queued it again as a new generation",
		"music_task_id", sg.TaskID, "state", next.State, "generation", next.Generation)
	return next, s.enqueueSong(ctx, next, 0)
}

// FillTakeStates fills in each take's State from its MP4 record in st (left empty for a take
// without one).
func FillTakeStates(ctx context.Context, st Store, sg *Song) error {
	for i, tk := range sg.Takes {
		if tk.MP4TaskID == "" {
			continue
		}
		rec, err := st.Get(ctx, tk.MP4TaskID)
		if errors.Is(err, ErrNoRecord) {
			continue
		} else if err != nil {
			return fmt.Errorf("read mp4 task %s of song %s: %w", tk.MP4TaskID, sg.TaskID, err)
		}
		sg.Takes[i].State = rec.State
	}
	return nil
}
