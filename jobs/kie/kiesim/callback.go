package kiesim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultCallbackRetryDelays are the waits before KIE's retries of a callback that did not
// get HTTP 200 (kie-api.md §3: 3 retries, 1/5/15 minutes apart). A non-nil empty
// Config.CallbackRetryDelays means no retries.
var DefaultCallbackRetryDelays = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}

// callbackTimeout is how long KIE waits for the answer to a callback.
const callbackTimeout = 15 * time.Second

// Callback headers, as kie.HeaderTimestamp and kie.HeaderSignature (kiesim stays stdlib-only).
const (
	headerTimestamp = "X-Webhook-Timestamp"
	headerSignature = "X-Webhook-Signature"
)

// callbacks is the state of the simulator's callback deliveries, guarded by Sim.mu.
type callbacks struct {
	closed  bool
	ctx     context.Context // canceled by Close: aborts the POSTs in flight
	cancel  context.CancelFunc
	client  *http.Client
	planned map[string]plannedCallback // by task id: where and what to POST
	timers  map[string]*time.Timer     // the next delivery of each task
	last    map[string]delivery        // the last delivery sent, for SendReplay
}

// plannedCallback is the callback a task will get when it leaves PENDING.
type plannedCallback struct {
	url  string
	body []byte
}

// delivery is one POST exactly as sent.
type delivery struct {
	url, ts, sig string
	body         []byte
}

// callbackBody is the JSON KIE POSTs (kie-api.md §3): snake_case keys, video_url null on failure.
type callbackBody struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
	Data struct {
		TaskID   string  `json:"task_id"`
		VideoURL *string `json:"video_url"`
	} `json:"data"`
}

// callbackState returns the callback state, making it on first use. The caller holds s.mu.
func (s *Sim) callbackState() *callbacks {
	if s.cb == nil {
		ctx, cancel := context.WithCancel(context.Background())
		client := s.cfg.CallbackClient
		if client == nil {
			client = &http.Client{Timeout: callbackTimeout}
		}
		s.cb = &callbacks{ctx: ctx, cancel: cancel, client: client, planned: map[string]plannedCallback{},
			timers: map[string]*time.Timer{}, last: map[string]delivery{}}
	}
	return s.cb
}

// scheduleCallback arranges the MP4 callback of a new task: a POST to its callBackUrl when it
// leaves PENDING (plus Config.CallbackDelay), retried while the answer isn't HTTP 200. Tasks
// that never finish, and placeholder URLs (see callbackWanted), get none. base is the
// simulator's scheme://host, for the video URL. The caller holds s.mu.
func (s *Sim) scheduleCallback(t *task, base string) {
	if t.readyAt.IsZero() || !callbackWanted(t.callbackURL) {
		return
	}
	cb := s.callbackState()
	if cb.closed {
		return
	}
	cb.planned[t.id] = plannedCallback{url: t.callbackURL, body: t.callbackJSON(base)}
	id := t.id
	delay := max(t.readyAt.Sub(s.now()), 0) + max(s.cfg.CallbackDelay, 0)
	cb.timers[id] = time.AfterFunc(delay, func() { s.deliver(id, 0) })
}

// callbackJSON renders the callback of t as it is once t has left PENDING.
func (t *task) callbackJSON(base string) []byte {
	rec := t.record(t.readyAt, base)
	var b callbackBody
	b.Code, b.Msg, b.Data.TaskID = 200, "MP4 generated successfully.", t.id
	switch {
	case rec.Response != nil:
		u := rec.Response.VideoURL
		b.Data.VideoURL = &u
	case rec.ErrorCode != nil:
		b.Code, b.Msg = *rec.ErrorCode, *rec.ErrorMessage
	}
	j, _ := json.Marshal(b) // plain strings and ints cannot fail to marshal
	return j
}

// callbackWanted reports whether raw is an http(s) URL worth calling: not a placeholder on a
// reserved domain (*.invalid, *.example, example.com/.net/.org, as kie.PlaceholderCallbackURL).
func callbackWanted(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return false
	}
	h := "." + strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	for _, reserved := range []string{".invalid", ".example", ".example.com", ".example.net", ".example.org"} {
		if strings.HasSuffix(h, reserved) {
			return false
		}
	}
	return true
}

// deliver POSTs the planned callback of id (attempt 0 is the first try) and, unless it got
// HTTP 200, schedules the next retry. s.mu is not held while POSTing.
func (s *Sim) deliver(id string, attempt int) {
	s.mu.Lock()
	cb := s.callbackState()
	delete(cb.timers, id)
	p, ok := cb.planned[id]
	if cb.closed || !ok {
		s.mu.Unlock()
		return
	}
	d := s.signed(id, p, s.now())
	cb.last[id] = d
	s.stats.Callbacks[id]++
	s.mu.Unlock()

	if status, _ := s.post(cb, d); status == http.StatusOK {
		return
	}
	delays := s.cfg.CallbackRetryDelays
	if delays == nil {
		delays = DefaultCallbackRetryDelays
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if attempt < len(delays) && !cb.closed {
		cb.timers[id] = time.AfterFunc(delays[attempt], func() { s.deliver(id, attempt+1) })
	}
}

// signed is the delivery of p stamped with time at, signed when Config.HMACKey is set.
func (s *Sim) signed(id string, p plannedCallback, at time.Time) delivery {
	d := delivery{url: p.url, body: p.body, ts: strconv.FormatInt(at.Unix(), 10)}
	if s.cfg.HMACKey != "" {
		d.sig = sign(s.cfg.HMACKey, id, d.ts)
	}
	return d
}

// sign is base64(HMAC-SHA256(key, taskID + "." + ts)) (kie-api.md §4).
func sign(key, taskID, ts string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(taskID + "." + ts))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// post sends d and returns the HTTP status of the answer (0 on a network error).
func (s *Sim) post(cb *callbacks, d delivery) (int, error) {
	req, err := http.NewRequestWithContext(cb.ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(headerTimestamp, d.ts)
	if d.sig != "" {
		req.Header.Set(headerSignature, d.sig)
	}
	resp, err := cb.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// plannedFor returns the callback planned for taskID and the state. The caller holds s.mu.
func (s *Sim) plannedFor(taskID string) (plannedCallback, *callbacks, error) {
	cb := s.callbackState()
	p, ok := cb.planned[taskID]
	switch {
	case cb.closed:
		return p, cb, errors.New("kiesim: the simulator is closed")
	case !ok:
		return p, cb, fmt.Errorf("kiesim: task %q has no callback (unknown, never finishes, or a placeholder callBackUrl)", taskID)
	}
	return p, cb, nil
}

// SendForged POSTs to taskID's callBackUrl, now, what an attacker would: a success callback
// whose video_url points elsewhere, signed with the wrong key (or unsigned when Config.HMACKey
// is empty). It returns the HTTP status of the answer.
func (s *Sim) SendForged(taskID string) (int, error) {
	s.mu.Lock()
	p, cb, err := s.plannedFor(taskID)
	if err != nil {
		s.mu.Unlock()
		return 0, err
	}
	var b callbackBody
	evil := "https://attacker.example.net/" + taskID + ".mp4"
	b.Code, b.Msg, b.Data.TaskID, b.Data.VideoURL = 200, "MP4 generated successfully.", taskID, &evil
	body, _ := json.Marshal(b)
	d := s.signed(taskID, plannedCallback{url: p.url, body: body}, s.now())
	if d.sig != "" {
		d.sig = sign("forged:"+s.cfg.HMACKey, taskID, d.ts)
	}
	s.mu.Unlock()
	return s.post(cb, d)
}

// SendReplay POSTs again, verbatim (body, timestamp and signature), the last callback
// delivered for taskID, as an attacker who captured it would. It returns the HTTP status.
func (s *Sim) SendReplay(taskID string) (int, error) {
	s.mu.Lock()
	_, cb, err := s.plannedFor(taskID)
	d, ok := cb.last[taskID]
	s.mu.Unlock()
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return 0, fmt.Errorf("kiesim: no callback of task %q was delivered yet", taskID)
	}
	return s.post(cb, d)
}

// SendStale POSTs taskID's genuine callback, correctly signed, but with a timestamp age in the
// past (a negative age is in the future). It returns the HTTP status of the answer.
func (s *Sim) SendStale(taskID string, age time.Duration) (int, error) {
	s.mu.Lock()
	p, cb, err := s.plannedFor(taskID)
	if err != nil {
		s.mu.Unlock()
		return 0, err
	}
	d := s.signed(taskID, p, s.now().Add(-age))
	s.mu.Unlock()
	return s.post(cb, d)
}

// Close stops the simulator's callbacks: pending deliveries and retries are dropped and POSTs
// in flight are aborted. The API keeps working. Close is idempotent.
func (s *Sim) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb := s.callbackState()
	cb.closed = true
	for id, t := range cb.timers {
		t.Stop()
		delete(cb.timers, id)
	}
	cb.cancel()
}
