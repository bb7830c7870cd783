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

// reserve calls ReserveAudio and fails the test unless it gives the bound task want and, as
// wantClaim says, an owner token or none. It returns the token.
func (e *env) reserve(key string, ttl time.Duration, want string, wantClaim bool, when string) string {
	e.t.Helper()
	got, token, err := e.s.ReserveAudio(e.ctx, key, ttl)
	if err != nil {
		e.t.Fatalf("ReserveAudio %s: %v", when, err)
	}
	if got != want || (token != "") != wantClaim {
		e.t.Errorf("ReserveAudio %s = %q, token %q; want %q, claimed %v", when, got, token, want, wantClaim)
	}
	if got != "" && token != "" {
		e.t.Errorf("ReserveAudio %s returned both a bound task %q and a token", when, got)
	}
	return token
}

// bind calls BindAudio, failing the test on an error or unless key is bound to want afterwards.
func (e *env) bind(key, id, want string) {
	e.t.Helper()
	bound, err := e.s.BindAudio(e.ctx, key, id)
	if err != nil {
		e.t.Fatalf("BindAudio(%s, %s): %v", key, id, err)
	}
	if bound != want {
		e.t.Errorf("BindAudio(%s, %s) = %q; want %q", key, id, bound, want)
	}
}

// release calls ReleaseAudio, failing the test on an error.
func (e *env) release(key, token string) {
	e.t.Helper()
	if err := e.s.ReleaseAudio(e.ctx, key, token); err != nil {
		e.t.Fatalf("ReleaseAudio(%s): %v", key, err)
	}
}

// renew calls RenewAudio, failing the test on an error or unless it reports want.
func (e *env) renew(key, token string, ttl time.Duration, want bool, when string) {
	e.t.Helper()
	ok, err := e.s.RenewAudio(e.ctx, key, token, ttl)
	if err != nil {
		e.t.Fatalf("RenewAudio %s: %v", when, err)
	}
	if ok != want {
		e.t.Errorf("RenewAudio %s = %v; want %v", when, ok, want)
	}
}

var audioTests = []subtest{
	{"FirstClaimWins", func(e *env) {
		key := jobs.AudioKey("au_1", "", "")
		e.reserve(key, time.Minute, "", true, "on a new key")
		e.reserve(key, time.Minute, "", false, "while claimed")
	}},
	{"TokensDiffer", func(e *env) {
		key := jobs.AudioKey("au_1", "", "")
		seen := map[string]bool{}
		for range 5 {
			token := e.reserve(key, time.Minute, "", true, "after a release")
			if seen[token] {
				e.t.Errorf("owner token %q given twice", token)
			}
			seen[token] = true
			e.release(key, token)
		}
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
	{"RenewKeepsClaimAlive", func(e *env) {
		key := jobs.AudioKey("au_1", "", "")
		const ttl = 200 * time.Millisecond
		token := e.reserve(key, ttl, "", true, "on a new key")
		for range 4 { // 400ms in all: twice the ttl
			e.elapse(ttl / 2)
			e.renew(key, token, ttl, true, "of a live claim")
		}
		e.reserve(key, ttl, "", false, "renewed past its ttl")
		e.elapse(ttl + lapse)
		e.reserve(key, time.Minute, "", true, "a ttl after the last renewal")
	}},
	{"RenewAfterLapseFails", func(e *env) {
		key := jobs.AudioKey("au_1", "", "")
		token := e.reserve(key, shortTTL, "", true, "on a new key")
		e.elapse(lapse)
		e.renew(key, token, time.Minute, false, "of a lapsed claim")
		e.reserve(key, time.Minute, "", true, "after a failed renewal")
	}},
	{"OtherTokenCannotRenewOrRelease", func(e *env) {
		key := jobs.AudioKey("au_1", "", "")
		stale := e.reserve(key, shortTTL, "", true, "on a new key")
		e.elapse(lapse)
		const liveTTL = 300 * time.Millisecond
		live := e.reserve(key, liveTTL, "", true, "taking the lapsed claim over")
		e.renew(key, stale, time.Minute, false, "with the lapsed claim's token")
		e.release(key, stale)
		other := e.reserve(jobs.AudioKey("au_2", "", ""), time.Minute, "", true, "of another key")
		e.renew(key, other, time.Minute, false, "with another key's token")
		e.release(key, other)
		e.reserve(key, time.Minute, "", false, "after releases with other tokens")
		e.elapse(liveTTL + lapse) // renewals with other tokens left the live claim's ttl alone
		e.renew(key, live, time.Minute, false, "after the live claim's own ttl")
		e.reserve(key, time.Minute, "", true, "after the live claim lapsed")
	}},
	{"BoundTaskReturned", func(e *env) {
		key := jobs.AudioKey("au_1", "", "")
		token := e.reserve(key, shortTTL, "", true, "on a new key")
		e.bind(key, "mp4_made", "mp4_made")
		e.reserve(key, time.Minute, "mp4_made", false, "after BindAudio")
		e.elapse(lapse)
		e.reserve(key, time.Minute, "mp4_made", false, "after BindAudio, past the claim's ttl")
		e.renew(key, token, time.Minute, false, "after BindAudio")
		e.release(key, token)
		e.reserve(key, time.Minute, "mp4_made", false, "after BindAudio and ReleaseAudio")
	}},
	{"BindKeepsTheFirstTask", func(e *env) {
		key := jobs.AudioKey("au_1", "", "")
		e.reserve(key, time.Minute, "", true, "on a new key")
		e.bind(key, "mp4_first", "mp4_first")
		e.bind(key, "mp4_first", "mp4_first")
		e.bind(key, "mp4_second", "mp4_first")
		e.reserve(key, time.Minute, "mp4_first", false, "after a second BindAudio")
	}},
	{"BindWithoutLiveClaim", func(e *env) {
		never := jobs.AudioKey("au_1", "", "")
		e.bind(never, "mp4_never", "mp4_never")
		e.reserve(never, time.Minute, "mp4_never", false, "after BindAudio of an unclaimed key")
		lapsed := jobs.AudioKey("au_2", "", "")
		e.reserve(lapsed, shortTTL, "", true, "on a new key")
		e.elapse(lapse)
		e.bind(lapsed, "mp4_lapsed", "mp4_lapsed")
		e.reserve(lapsed, time.Minute, "mp4_lapsed", false, "after BindAudio of a lapsed claim")
	}},
	{"BindReplacesAnotherClaim", func(e *env) {
		key := jobs.AudioKey("au_1", "", "")
		e.reserve(key, shortTTL, "", true, "on a new key")
		e.elapse(lapse)
		other := e.reserve(key, time.Minute, "", true, "taking the lapsed claim over")
		e.bind(key, "mp4_first", "mp4_first") // the lapsed claimer's task exists: it wins
		e.renew(key, other, time.Minute, false, "of a claim replaced by a task")
		e.release(key, other)
		e.reserve(key, time.Minute, "mp4_first", false, "after the other claim's release")
	}},
	{"ReleaseLetsLaterClaim", func(e *env) {
		key := jobs.AudioKey("au_1", "", "")
		token := e.reserve(key, time.Minute, "", true, "on a new key")
		e.release(key, token)
		e.reserve(key, time.Minute, "", true, "after ReleaseAudio")
		e.reserve(key, time.Minute, "", false, "claimed again")
	}},
	{"KeysApart", func(e *env) {
		a, b := jobs.AudioKey("au_1", "", ""), jobs.AudioKey("au_1", "someone", "")
		c := jobs.AudioKey("au_2", "", "")
		e.reserve(a, time.Minute, "", true, "of a")
		tb := e.reserve(b, time.Minute, "", true, "of b while a is claimed")
		e.bind(a, "mp4_a", "mp4_a")
		e.reserve(c, time.Minute, "", true, "of c while a is bound")
		e.release(b, tb)
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
					existing, token, err := e.s.ReserveAudio(e.ctx, key, time.Minute)
					if err != nil || existing != "" {
						e.t.Errorf("ReserveAudio = %q, %v", existing, err)
					}
					if token != "" {
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
