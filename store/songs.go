package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kiemv/kiemv/jobs"
)

// Songs is the Redis-backed jobs.SongStore. Keys (see keys.go), under its namespace ns:
//
//	<ns>:song:<id>   the song as one JSON document (songDoc)
//	<ns>:songs:open  sorted set of the ids of songs not ended, by creation time (Unix ms)
//
// A song is small and changes a handful of times in its life, so it is read, changed in Go
// and written back under WATCH (an optimistic transaction, retried when a racing writer
// wins): a change can never be lost, and the document and its index never disagree.
type Songs struct {
	rdb  redis.UniversalClient
	keys Keys
	now  func() time.Time
}

var _ jobs.SongStore = (*Songs)(nil)

// NewSongs returns the song store of namespace (DefaultNamespace if "") in rdb.
func NewSongs(rdb redis.UniversalClient, namespace string) *Songs {
	return &Songs{rdb: rdb, keys: NewKeys(namespace), now: time.Now}
}

// encodeSong is the stored form of a song: what it prints, plus what it keeps to itself.
func encodeSong(s *jobs.Song) ([]byte, error) {
	type plain jobs.Song // without Song's MarshalJSON, which adds "kind"
	doc := struct {
		*plain
		CallbackURL string    `json:"callback_url,omitempty"`
		RetriedAt   time.Time `json:"retried_at,omitzero"`
	}{(*plain)(s), s.CallbackURL, s.RetriedAt}
	return json.Marshal(doc)
}

func decodeSong(id string, b []byte) (*jobs.Song, error) {
	type plain jobs.Song
	var doc struct {
		plain
		CallbackURL string    `json:"callback_url"`
		RetriedAt   time.Time `json:"retried_at"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("song %s: stored document is not valid: %w", id, err)
	}
	s := jobs.Song(doc.plain)
	s.CallbackURL, s.RetriedAt = doc.CallbackURL, doc.RetriedAt
	for i := range s.Takes {
		s.Takes[i].State = "" // never stored; readers fill it in
	}
	return &s, nil
}

// createSongScript stores a song unless it exists, and indexes it as open.
// KEYS: song, open index. ARGV: document, score, id.
var createSongScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  return 1
end
return 0
`)

// CreateSong stores s unless a song with s.TaskID exists, and reports whether it did.
func (s *Songs) CreateSong(ctx context.Context, sg *jobs.Song) (bool, error) {
	if err := jobs.ValidateID("music task id", sg.TaskID); err != nil {
		return false, fmt.Errorf("create song: %w", err)
	}
	if sg.Generation < 1 {
		sg.Generation = 1
	}
	b, err := encodeSong(sg)
	if err != nil {
		return false, fmt.Errorf("create song %s: %w", sg.TaskID, err)
	}
	n, err := createSongScript.Run(ctx, s.rdb, []string{s.keys.Song(sg.TaskID), s.keys.OpenSongs()},
		b, sg.CreatedAt.UnixMilli(), sg.TaskID).Int()
	if err != nil {
		return false, fmt.Errorf("create song %s: %w", sg.TaskID, err)
	}
	return n == 1, nil
}

// GetSong returns the song of music task id, or an error wrapping jobs.ErrNoSong.
func (s *Songs) GetSong(ctx context.Context, id string) (*jobs.Song, error) {
	if err := jobs.ValidateID("music task id", id); err != nil {
		return nil, err
	}
	b, err := s.rdb.Get(ctx, s.keys.Song(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("song %s: %w", id, jobs.ErrNoSong)
	} else if err != nil {
		return nil, fmt.Errorf("read song %s: %w", id, err)
	}
	return decodeSong(id, b)
}

// updateAttempts bounds the optimistic retries of UpdateSong under contention.
const updateAttempts = 50

// UpdateSong implements jobs.SongStore: read, fn, write back under WATCH, retried when another
// writer changed the song in between.
func (s *Songs) UpdateSong(ctx context.Context, id string, fn func(*jobs.Song) error) (*jobs.Song, error) {
	if err := jobs.ValidateID("music task id", id); err != nil {
		return nil, err
	}
	key := s.keys.Song(id)
	var out *jobs.Song
	txf := func(tx *redis.Tx) error {
		b, err := tx.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			return fmt.Errorf("song %s: %w", id, jobs.ErrNoSong)
		} else if err != nil {
			return err
		}
		sg, err := decodeSong(id, b)
		if err != nil {
			return err
		}
		if err := fn(sg); err != nil {
			return err
		}
		sg.TaskID, sg.UpdatedAt = id, s.now().UTC()
		nb, err := encodeSong(sg)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, nb, 0)
			if sg.State.Terminal() {
				p.ZRem(ctx, s.keys.OpenSongs(), id)
			} else {
				p.ZAdd(ctx, s.keys.OpenSongs(), redis.Z{Score: float64(sg.CreatedAt.UnixMilli()), Member: id})
			}
			return nil
		})
		out = sg
		return err
	}
	for range updateAttempts {
		err := s.rdb.Watch(ctx, txf, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	return nil, fmt.Errorf("update song %s: it kept changing (%d tries); try again", id, updateAttempts)
}

// ScanOpenSongs implements jobs.SongStore with ZSCAN over the open index: every open song is
// returned at least once per walk, some may come twice. A song whose document is gone is
// dropped from the index.
func (s *Songs) ScanOpenSongs(ctx context.Context, cursor uint64, count int) ([]*jobs.Song, uint64, error) {
	pairs, next, err := s.rdb.ZScan(ctx, s.keys.OpenSongs(), cursor, "", int64(max(count, 1))).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("scan open songs: %w", err)
	}
	var songs []*jobs.Song
	for i := 0; i < len(pairs); i += 2 {
		sg, err := s.GetSong(ctx, pairs[i])
		if errors.Is(err, jobs.ErrNoSong) {
			s.rdb.ZRem(ctx, s.keys.OpenSongs(), pairs[i])
			continue
		} else if err != nil {
			return nil, 0, err
		}
		songs = append(songs, sg)
	}
	return songs, next, nil
}
