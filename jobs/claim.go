package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// DefaultClaimTTL is the lifetime of an audio claim when Service.ClaimTTL is 0. A claim is
// renewed every third of it while its create waits and runs, so it only lapses when its
// holder dies (or cannot reach Redis) for that long.
const DefaultClaimTTL = 2 * time.Minute

// errClaimLost means the audio claim of a submit passed to someone else (it lapsed and was
// taken over, or a task was bound to the key) before its create reached KIE, or while KIE said
// the video exists without its id. The submit starts over and follows what the key holds.
var errClaimLost = errors.New("the audio claim passed to another submit")

// claimTTL is s.ClaimTTL, or DefaultClaimTTL when that is not positive.
func (s *Service) claimTTL() time.Duration {
	if s.ClaimTTL > 0 {
		return s.ClaimTTL
	}
	return DefaultClaimTTL
}

// awaitClaimUntil is awaitClaim giving up at deadline (if not zero) with ErrWaitTimeout.
func (s *Service) awaitClaimUntil(ctx context.Context, key, audioID string, ttl time.Duration, logged *bool, deadline time.Time) (existing, token string, err error) {
	if deadline.IsZero() {
		return s.awaitClaim(ctx, key, audioID, ttl, logged)
	}
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	existing, token, err = s.awaitClaim(wctx, key, audioID, ttl, logged)
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		return "", "", fmt.Errorf("submit of audio %s %w for another submit of it to create its video; nothing was created by this one", audioID, ErrWaitTimeout)
	}
	return existing, token, err
}

// awaitClaim returns the task bound to key, or the owner token of a new claim on it. While
// another submit holds a live claim it waits, however long: that claim is renewed while its
// holder lives and lapses within its ttl when it dies. It logs the wait once per *logged.
func (s *Service) awaitClaim(ctx context.Context, key, audioID string, ttl time.Duration, logged *bool) (existing, token string, err error) {
	pause := min(250*time.Millisecond, max(ttl/4, time.Millisecond))
	for {
		existing, token, err := s.Store.ReserveAudio(ctx, key, ttl)
		if err != nil {
			return "", "", fmt.Errorf("reserve audio %s: %w", audioID, err)
		}
		if existing != "" || token != "" {
			return existing, token, nil
		}
		if !*logged {
			*logged = true
			s.log().Info("waiting for another submit of this audio to create its video", "audio_id", audioID, "claim_ttl", ttl)
		}
		if err := Sleep(ctx, pause); err != nil {
			return "", "", fmt.Errorf("waiting for another submit of audio %s: %w", audioID, err)
		}
	}
}

// createClaimed creates the MP4 task of req under the claim token holds on key, renewing the
// claim meanwhile, and binds the task to key. It returns the task key is bound to: the one it
// created, or (existed true) one KIE or another submit had made. It returns errClaimLost when
// the claim passed to another submit before KIE was asked; a failed create releases the claim.
func (s *Service) createClaimed(ctx context.Context, req SubmitRequest, key, token string, ttl time.Duration, deadline time.Time) (id string, existed bool, err error) {
	c := s.keepClaim(ctx, key, token, req.AudioID, ttl)
	id, existed, err = s.create(ctx, req, c, deadline)
	c.stop()
	if err != nil {
		if !errors.Is(err, errClaimLost) {
			c.release(ctx)
		}
		return "", false, err
	}
	bound, err := s.Store.BindAudio(ctx, key, id)
	if err != nil {
		return "", false, fmt.Errorf("KIE created mp4 task %s but kiemv could not save it (%v); run `kiemv track %s`", id, err, id)
	}
	if bound != id {
		if !existed {
			s.log().Warn("another submit of this audio bound its task first; following that one. KIE made a second video: run `kiemv track "+id+"` to fetch it too",
				"audio_id", req.AudioID, "mp4_task_id", bound, "also_created", id)
		}
		return bound, true, nil
	}
	return id, existed, nil
}

// claim is one submit's live claim on an audio key. Until stop, a goroutine renews it every
// third of its ttl; if a renewal finds the claim gone, ctx ends and lost reports true.
type claim struct {
	store               Store
	log                 *slog.Logger
	key, token, audioID string
	ttl                 time.Duration
	ctx                 context.Context // ends when the claim is lost or stopped
	cancel              context.CancelFunc
	lostFlag            atomic.Bool
	done                chan struct{}
}

// keepClaim starts renewing the claim token holds on key.
func (s *Service) keepClaim(ctx context.Context, key, token, audioID string, ttl time.Duration) *claim {
	c := &claim{store: s.Store, log: s.log(), key: key, token: token, audioID: audioID, ttl: ttl, done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(ctx)
	go c.renew()
	return c
}

func (c *claim) renew() {
	defer close(c.done)
	t := time.NewTicker(max(c.ttl/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		ok, err := c.store.RenewAudio(c.ctx, c.key, c.token, c.ttl)
		switch {
		case c.ctx.Err() != nil:
			return
		case err != nil: // if this lasts a ttl, another submit may take over; then renewal fails
			c.log.Warn("audio claim not renewed; trying again", "audio_id", c.audioID, "error", err)
		case !ok:
			c.log.Info("audio claim passed to another submit; following it", "audio_id", c.audioID)
			c.lostFlag.Store(true)
			c.cancel()
			return
		}
	}
}

// lost reports whether a renewal found the claim gone.
func (c *claim) lost() bool { return c.lostFlag.Load() }

// held asks Redis whether the claim is still this submit's (renewing it); a Redis error
// counts as yes.
func (c *claim) held(ctx context.Context) bool {
	ok, err := c.store.RenewAudio(context.WithoutCancel(ctx), c.key, c.token, c.ttl)
	return ok || err != nil
}

// stop ends the renewals and waits for the renewing goroutine.
func (c *claim) stop() {
	c.cancel()
	<-c.done
}

// release drops the claim, so that a later submit may try again at once.
func (c *claim) release(ctx context.Context) {
	if err := c.store.ReleaseAudio(context.WithoutCancel(ctx), c.key, c.token); err != nil {
		c.log.Warn("audio claim not released; it lapses by itself", "audio_id", c.audioID, "after", c.ttl, "error", err)
	}
}
