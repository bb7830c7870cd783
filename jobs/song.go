package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/jobs/kie"
)

// A song is a followed *music* task: `kiemv submit --task-id T` without an audio id. A
// song:poll task asks KIE's music record-info until the takes are known, then submits one MP4
// per take through Service.Submit (deduplicated by the audio claims), and the song records
// each take's MP4 task, whose video is then followed like any other.

// SongState is where a followed song stands.
type SongState string

// The states of a Song. pending → submitting → submitted; pending or submitting → failed or
// timed_out. submitted, failed and timed_out end the song's own work (its videos go on as
// MP4 records); submitting a song that ended without every take's MP4 follows it again.
const (
	SongPending    SongState = "pending"    // KIE is still making the music; takes unknown
	SongSubmitting SongState = "submitting" // takes known; their MP4 tasks are being created
	SongSubmitted  SongState = "submitted"  // every take has its MP4 task
	SongFailed     SongState = "failed"     // KIE failed the music, or a take's MP4 could not be created
	SongTimedOut   SongState = "timed_out"  // the music was not ready within the poll budget
)

// Terminal reports whether the song's own work is over.
func (s SongState) Terminal() bool {
	return s == SongSubmitted || s == SongFailed || s == SongTimedOut
}

// SongTake is one take of a song: its audio, and the MP4 task made from it.
type SongTake struct {
	AudioID   string `json:"audio_id"`
	Title     string `json:"title,omitempty"`
	MP4TaskID string `json:"mp4_task_id,omitempty"`
	State     State  `json:"state,omitempty"` // the MP4 record's state; filled by readers, never stored
}

// Song is one followed music task, as kept in the store (`<ns>:song:<task id>`) and printed.
type Song struct {
	TaskID      string     `json:"task_id"` // the music task id
	State       SongState  `json:"state"`
	Generation  int64      `json:"generation"` // bumped when followed again and by re-adoption; song:poll tasks carry it
	Requeued    int        `json:"requeued,omitempty"`
	KIEStatus   string     `json:"kie_status,omitempty"` // KIE's status at the last poll
	Polls       int        `json:"polls"`
	Takes       []SongTake `json:"takes"`
	Author      string     `json:"author,omitempty"`
	Domain      string     `json:"domain,omitempty"`
	CallbackURL string     `json:"-"`                     // sent with each take's create; kept in the store, never printed
	MaxCredits  float64    `json:"max_credits,omitempty"` // the most its takes' videos may cost (submit --max-credits; 0: no bound)
	Error       string     `json:"error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	CompletedAt time.Time  `json:"completed_at,omitzero"` // when the takes became known, or the song ended
	RetriedAt   time.Time  `json:"-"`                     // last follow-again; the poll budget restarts here
}

// MarshalJSON writes the song with "kind":"song", the shape of `kiemv status --json T`.
func (s Song) MarshalJSON() ([]byte, error) {
	type plain Song
	if s.Takes == nil {
		s.Takes = []SongTake{}
	}
	return json.Marshal(struct {
		Kind string `json:"kind"`
		plain
	}{"song", plain(s)})
}

// ErrNoSong means the store follows no song with that music task id.
var ErrNoSong = errors.New("no such song")

// SongStore keeps Songs. store.Songs implements it on Redis.
type SongStore interface {
	// CreateSong inserts s unless a song with s.TaskID exists; it reports whether it did.
	CreateSong(ctx context.Context, s *Song) (bool, error)
	// GetSong returns the song, or an error wrapping ErrNoSong.
	GetSong(ctx context.Context, id string) (*Song, error)
	// UpdateSong applies fn to the song atomically (fn may run more than once if the song
	// changes meanwhile) and returns it as saved. An error from fn is returned and nothing
	// is written. UpdatedAt is set.
	UpdateSong(ctx context.Context, id string, fn func(*Song) error) (*Song, error)
	// ScanOpenSongs walks the songs that have not ended, about count at a time, from cursor
	// (0 to start); it returns the cursor to go on from, 0 once walked through.
	ScanOpenSongs(ctx context.Context, cursor uint64, count int) ([]*Song, uint64, error)
}

// MusicDetails is the part of the KIE API the song handler needs. *kie.Client implements it.
type MusicDetails interface {
	MusicDetails(ctx context.Context, taskID string) (*kie.MusicRecord, error)
}

// TypeSongPoll is the Asynq task type that follows a song, on the poll queue.
const TypeSongPoll = "song:poll"

// SongPollTaskID is the Asynq TaskID of the song:poll task of generation gen of music task
// id: song:<id>, then song:<id>:<gen>.
func SongPollTaskID(id string, gen int64) string { return "song:" + id + genSuffix(gen) }

// songTaskTimeout bounds one run of a song:poll task: a poll, then up to one create per take
// (each waiting at most songCreateWait for its create slot).
const songTaskTimeout = 10 * time.Minute

// NewSongPollTask returns the song:poll task of generation gen of music task id, due after
// delay. Its payload is the music task id and the generation, nothing else.
func NewSongPollTask(id string, gen int64, q Queues, delay time.Duration) *asynq.Task {
	return newTask(TypeSongPoll, newPayload(id, gen), asynq.TaskID(SongPollTaskID(id, gen)), asynq.Queue(q.Poll),
		asynq.MaxRetry(PollMaxRetry), asynq.Timeout(songTaskTimeout), asynq.ProcessIn(DueIn(delay)))
}

// songFollowedSince is when the current follow of s began: creation, or the last follow-again.
func songFollowedSince(s *Song) time.Time {
	if s.RetriedAt.After(s.CreatedAt) {
		return s.RetriedAt
	}
	return s.CreatedAt
}
