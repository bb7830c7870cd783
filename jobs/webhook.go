package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kiemv/kiemv/jobs/kie"
)

// Limits of the callback endpoint.
const (
	// MaxCallbackBytes is the largest callback body accepted; larger ones get 413.
	MaxCallbackBytes = 64 << 10
	// CallbackSkew is how far X-Webhook-Timestamp may be from now, either way (kie-api.md §4).
	CallbackSkew = 5 * time.Minute
	// ReplayTTL is how long a (task, timestamp) pair is remembered. It outlives the whole
	// window in which its timestamp is acceptable (2·CallbackSkew), so a replay can never
	// slip through once the mark has expired.
	ReplayTTL = 2*CallbackSkew + time.Minute
	// DefaultCallbackBudget bounds the Redis work of one callback, so that KIE (which waits
	// 15 s) always has its answer within a second.
	DefaultCallbackBudget = 800 * time.Millisecond
)

// The outcomes a Webhook reports to its ResultFunc, one per request.
const (
	CallbackWoken        = "woken"              // 200: verified, and the task's poll runs now
	CallbackReplay       = "replay"             // 200: seen before; nothing done
	CallbackBadSignature = "bad_signature"      // 401: signature or timestamp missing or wrong
	CallbackStale        = "stale"              // 401: timestamp more than CallbackSkew away
	CallbackTooLarge     = "too_large"          // 413
	CallbackMalformed    = "malformed"          // 400: not JSON, no task id, or a bad task id
	CallbackBadMethod    = "method_not_allowed" // 405
	CallbackUnavailable  = "unavailable"        // 200 all the same: Redis failed or was too slow; polling catches up
	CallbackUnknown      = "unknown"            // 200, nothing done: unsigned, for a task kiemv does not follow
)

// Waker makes the next poll of a followed MP4 task happen now (or starts following it).
// *Service implements it with Wake and Follows.
type Waker interface {
	Wake(ctx context.Context, id string) error
	// Follows reports whether kiemv follows MP4 task id: an unsigned callback (no Key) may
	// only wake such a task, never start following one.
	Follows(ctx context.Context, id string) (bool, error)
}

// ReplayGuard remembers the callbacks already acted on. store.ReplayGuard implements it.
type ReplayGuard interface {
	// FirstSeen marks (taskID, stamp) as seen for ttl and reports whether it was new.
	FirstSeen(ctx context.Context, taskID, stamp string, ttl time.Duration) (bool, error)
	// Forget removes the mark, so that a redelivery of a callback that could not be acted
	// on is not mistaken for a replay.
	Forget(ctx context.Context, taskID, stamp string) error
}

// Webhook is the http.Handler of KIE's MP4 callback (kie-api.md §3, §4). It never trusts the
// body beyond its task id: KIE signs only the task id and the timestamp, so a verified
// callback merely wakes the task's poll, and record-info stays the only source of truth.
// The video URL a callback carries is never fetched.
//
// Everything refused (wrong method, too large, malformed, unsigned, stale) is refused before
// Redis is touched. The reply always comes within Budget plus the time to read the body.
type Webhook struct {
	Waker  Waker
	Replay ReplayGuard
	// Key is the webhookHmacKey set in KIE's settings. Nil (or empty) turns verification off:
	// only for trusted networks, and then a callback only wakes a task kiemv already follows
	// (anyone could send one: it must not make kiemv follow, poll or store anything new).
	Key []byte
	// Budget bounds the replay check and the wake together (default DefaultCallbackBudget).
	Budget time.Duration
	// NowFunc is the clock the timestamp is checked against (default time.Now).
	NowFunc func() time.Time
	// ResultFunc, when set, is called once per request with its outcome (Callback* above),
	// e.g. to count callbacks in metrics.
	ResultFunc func(result string)
	Log        *slog.Logger
}

// delivery is one request to a Webhook, with the Webhook's defaults filled in once.
type delivery struct {
	*Webhook
	ambient
	budget time.Duration
}

// ServeHTTP implements http.Handler.
func (wh *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := &delivery{Webhook: wh, ambient: ambientOf(wh.Log, wh.NowFunc), budget: wh.Budget}
	if h.budget <= 0 {
		h.budget = DefaultCallbackBudget
	}
	status, result, id := h.handle(w, r)
	if h.ResultFunc != nil {
		h.ResultFunc(result)
	}
	attrs := []any{"result", result, "status", status, "remote", r.RemoteAddr}
	if id != "" {
		attrs = append(attrs, "task_id", id)
	}
	switch {
	case status == http.StatusOK:
		h.log.Info("KIE callback", attrs...)
	default:
		h.log.Warn("KIE callback refused", attrs...)
	}
	msg := http.StatusText(status)
	if status == http.StatusOK {
		msg = "success"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"code": status, "msg": msg}) // an int and a string cannot fail
	_, _ = w.Write(b)
}

// handle does the work of one request and returns the HTTP status, the outcome and the task
// id (once known).
func (h *delivery) handle(w http.ResponseWriter, r *http.Request) (int, string, string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return http.StatusMethodNotAllowed, CallbackBadMethod, ""
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxCallbackBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, CallbackTooLarge, ""
	case err != nil: // the client went away or was too slow
		return http.StatusBadRequest, CallbackMalformed, ""
	}
	cb, err := kie.ParseCallback(body)
	if err != nil {
		return http.StatusBadRequest, CallbackMalformed, ""
	}
	if ValidateID("task id", cb.TaskID) != nil {
		return http.StatusBadRequest, CallbackMalformed, ""
	}
	id := cb.TaskID
	stamp, status, result := h.check(r.Header, id, body)
	if status != http.StatusOK {
		return status, result, id
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.budget)
	defer cancel()
	done := make(chan string, 1)
	go func() { done <- h.act(ctx, id, stamp, cb.Code) }()
	select {
	case result = <-done:
	case <-ctx.Done(): // Redis is hanging: answer now; act finishes (or forgets) on its own
		result = CallbackUnavailable
	}
	// Issue 4: the answer is 200 within a second whatever happens downstream. A wake that
	// failed is logged and left to the poll schedule, the safety net; its replay mark is
	// removed, so a redelivery would still be acted on.
	return http.StatusOK, result, id
}

// check verifies the signature and the timestamp's age and returns the stamp the callback is
// deduplicated on. Without a key, a present timestamp must still be a fresh integer, and a
// callback without one is deduplicated on a hash of its body.
func (h *delivery) check(hdr http.Header, id string, body []byte) (stamp string, status int, result string) {
	ts := strings.TrimSpace(hdr.Get(kie.HeaderTimestamp))
	if len(h.Key) > 0 && !kie.VerifySignature(string(h.Key), id, ts, hdr.Get(kie.HeaderSignature)) {
		return "", http.StatusUnauthorized, CallbackBadSignature
	}
	if ts == "" { // only reachable without a key
		sum := sha256.Sum256(body)
		return "b" + hex.EncodeToString(sum[:16]), http.StatusOK, ""
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return "", http.StatusUnauthorized, CallbackBadSignature
	}
	if skew := h.now().Sub(time.Unix(sec, 0)).Abs(); skew > CallbackSkew {
		return "", http.StatusUnauthorized, CallbackStale
	}
	return strconv.FormatInt(sec, 10), http.StatusOK, ""
}

// act deduplicates the callback and wakes its task. A callback that could not be acted on is
// forgotten again, so that a redelivery of it is not taken for a replay.
func (h *delivery) act(ctx context.Context, id, stamp string, code int) string {
	if len(h.Key) == 0 { // unsigned: wake only what kiemv follows, before writing anything
		follows, err := h.Waker.Follows(ctx, id)
		if err != nil {
			h.log.Warn("callback: cannot tell whether the task is followed", "task_id", id, "error", err)
			return CallbackUnavailable
		}
		if !follows {
			return CallbackUnknown
		}
	}
	first, err := h.Replay.FirstSeen(ctx, id, stamp, ReplayTTL)
	if err != nil {
		h.log.Warn("callback replay check failed", "task_id", id, "error", err)
		return CallbackUnavailable
	}
	if !first {
		return CallbackReplay
	}
	if err := h.Waker.Wake(ctx, id); err != nil {
		h.log.Warn("callback could not wake the task's poll; its next scheduled poll will find the video", "task_id", id, "kie_code", code, "error", err)
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if ferr := h.Replay.Forget(fctx, id, stamp); ferr != nil {
			h.log.Warn("callback replay mark could not be removed", "task_id", id, "error", ferr)
		}
		return CallbackUnavailable
	}
	return CallbackWoken
}
