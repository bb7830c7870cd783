package storetest

import (
	"sync"
	"time"

	"github.com/kiemv/kiemv/jobs"
)

// shortTTL is the TTL of a claim the suite lets lapse; lapse is the time it lets pass for that.
const (
	shortTTL = 50 * time.Millisecond
	lapse    = 150 * time.Millisecond
)

// reserve calls ReserveAudio and fails the test unless it gives want and wantOK.
func (e *env) reserve(key string, ttl time.Duration, want string, wantOK bool, when string) {
	e.t.Helper()
	got, ok, err := e.s.ReserveAudio(e.ctx, key, ttl)
	if err != nil {
		e.t.Fatalf("ReserveAudio %s: %v", when, err)
	}
	if got != want || ok != wantOK {
		e.t.Errorf("ReserveAudio %s = %q, %v; want %q, %v", when, got, ok, want, wantOK)
	}
}

// bind calls BindAudio, failing the test on an error.
func (e *env) bind(key, id string) {
	e.t.Helper()
	if err := e.s.BindAudio(e.ctx, key, id); err != nil {
		e.t.Fatalf("BindAudio(%s, %s): %v", key, id, err)
	}
}

// release calls ReleaseAudio, failing the test on an error.
func (e *env) release(key string) {
	e.t.Helper()
	if err := e.s.ReleaseAudio(e.ctx, key); err != nil {
		e.t.Fatalf("ReleaseAudio(%s): %v", key, err)
	}
}

var audioTests = []subtest{
	{"FirstClaimWins", func(e *env) {
		key := jobs.AudioKey("au_1", "", "")
		e.reserve(key, time.Minute, "", true, "on a new key")
		e.reserve(key, time.Minute, "", false, "while claimed")
	}},
	{"LiveClaimBlocks", func(e *env) {
		key := jobs.AudioKey("au_1", "me", "example.com")
		e.reserve(key, 10*time.Second, "", true, "on a new key")
		e.elapse(lapse)
		e.reserve(key, 10*time.Second, "", false, "while the claim is live")
	}},
	{"ClaimLapses", func(e *env) {
		key := jobs.AudioKey("au_1", "", "")
		e.reserve(key, shortTTL, "", true, "on a new key")
		e.elapse(lapse)
		e.reserve(key, time.Minute, "", true, "after the claim lapsed")
	}},
	{"BoundTaskReturned", func(e *env) {
		key := jobs.AudioKey("au_1", "", "")
		e.reserve(key, shortTTL, "", true, "on a new key")
		e.bind(key, "mp4_made")
		e.reserve(key, time.Minute, "mp4_made", false, "after BindAudio")
		e.elapse(lapse)
		e.reserve(key, time.Minute, "mp4_made", false, "after BindAudio, past the claim's ttl")
		e.release(key)
		e.reserve(key, time.Minute, "mp4_made", false, "after BindAudio and ReleaseAudio")
	}},
	{"ReleaseLetsLaterClaim", func(e *env) {
		key := jobs.AudioKey("au_1", "", "")
		e.reserve(key, time.Minute, "", true, "on a new key")
		e.release(key)
		e.reserve(key, time.Minute, "", true, "after ReleaseAudio")
		e.reserve(key, time.Minute, "", false, "claimed again")
	}},
	{"KeysApart", func(e *env) {
		a, b := jobs.AudioKey("au_1", "", ""), jobs.AudioKey("au_1", "someone", "")
		c := jobs.AudioKey("au_2", "", "")
		e.reserve(a, time.Minute, "", true, "of a")
		e.reserve(b, time.Minute, "", true, "of b while a is claimed")
		e.bind(a, "mp4_a")
		e.reserve(c, time.Minute, "", true, "of c while a is bound")
		e.release(b)
		e.reserve(a, time.Minute, "mp4_a", false, "of a after b was released")
		e.reserve(c, time.Minute, "", false, "of c while claimed")
	}},
	{"RacingClaims", func(e *env) {
		for round := range 5 {
			key := jobs.AudioKey("au_race", "", string(rune('a'+round)))
			const callers = 10
			var mu sync.Mutex
			winners := 0
			start := make(chan struct{})
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					<-start
					existing, ok, err := e.s.ReserveAudio(e.ctx, key, time.Minute)
					if err != nil || existing != "" {
						e.t.Errorf("ReserveAudio = %q, %v", existing, err)
					}
					if ok {
						mu.Lock()
						winners++
						mu.Unlock()
					}
				})
			}
			close(start)
			wg.Wait()
			if winners != 1 {
				e.t.Errorf("round %d: %d of %d racing callers got the claim; want exactly 1", round, winners, callers)
			}
		}
	}},
}
