package jobs

import (
	"context"
	"encoding/json"
	"path/filepath"
	"time"
)

// Sidecar is what `<id>.json`, written next to each downloaded `<id>.mp4`, says about the
// file, so that a folder of videos tells what each one is. It holds ids, the take's title,
// the file's size and hash and times: never a KIE URL (they expire, and may be signed) and
// never a secret.
type Sidecar struct {
	MP4TaskID    string    `json:"mp4_task_id"`
	MusicTaskID  string    `json:"music_task_id,omitempty"`
	AudioID      string    `json:"audio_id,omitempty"`
	Title        string    `json:"title,omitempty"` // the take's title, when kiemv followed its song
	File         string    `json:"file"`            // the video's file name, beside the sidecar
	Bytes        int64     `json:"bytes"`
	SHA256       string    `json:"sha256"`
	CreatedAt    time.Time `json:"created_at"`             // when kiemv began following the MP4 task
	CompletedAt  time.Time `json:"completed_at,omitzero"`  // when KIE reported the video ready
	DownloadedAt time.Time `json:"downloaded_at,omitzero"` // when the file was verified
}

// NewSidecar builds the sidecar of rec's verified file; title is its take's, or "". Times
// are cut to the millisecond, as the record keeps them.
func NewSidecar(rec *Record, file, title string, size int64, sha string, downloadedAt time.Time) Sidecar {
	return Sidecar{MP4TaskID: rec.TaskID, MusicTaskID: rec.MusicTaskID, AudioID: rec.AudioID, Title: title,
		File: filepath.Base(file), Bytes: size, SHA256: sha, CreatedAt: rec.CreatedAt.UTC(),
		CompletedAt: rec.CompletedAt.UTC(), DownloadedAt: downloadedAt.UTC().Truncate(time.Millisecond)}
}

// sidecarAttempts is how often a sidecar write is tried before the download goes on without it.
const sidecarAttempts = 3

// putSidecar writes the sidecar of a verified file, right after the file was committed and
// before the record says downloaded. A sidecar that cannot be written (after a few tries) is
// logged and left: the video is what matters, and it is never lost or refetched for a
// sidecar; the next download task of the record (`kiemv retry` of a record whose file is
// missing, say) writes it again.
func (a *downloadAttempt) putSidecar(ctx context.Context, rec *Record, size int64, sha string, at time.Time) {
	sc := NewSidecar(rec, a.Files.FinalPath(rec.TaskID), a.takeTitle(ctx, rec), size, sha, at)
	data, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		a.log.Warn("sidecar not built; the video is downloaded without it", "task_id", rec.TaskID, "error", err)
		return
	}
	data = append(data, '\n')
	for i := range sidecarAttempts {
		if err = a.Files.PutSidecar(ctx, rec.TaskID, data); err == nil || ctx.Err() != nil {
			break
		}
		_ = Sleep(ctx, time.Duration(i+1)*100*time.Millisecond)
	}
	if err != nil {
		a.log.Warn("sidecar not written; the video is downloaded without it", "task_id", rec.TaskID, "error", err)
	}
}

// takeTitle is the title of rec's take when kiemv follows its song, else "".
func (a *downloadAttempt) takeTitle(ctx context.Context, rec *Record) string {
	if a.Songs == nil || rec.MusicTaskID == "" {
		return ""
	}
	sg, err := a.Songs.GetSong(ctx, rec.MusicTaskID)
	if err != nil {
		return ""
	}
	for _, tk := range sg.Takes {
		if tk.AudioID == rec.AudioID {
			return tk.Title
		}
	}
	return ""
}
