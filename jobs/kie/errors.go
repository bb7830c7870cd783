package kie

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of New about the API key. They say what is wrong and nothing else: the program
// that read the key knows where it came from and adds how to set it.
var (
	// ErrNoAPIKey is returned by New when Config.APIKey is empty (or only spaces).
	ErrNoAPIKey = errors.New("no KIE API key")
	// ErrBadAPIKey is returned by New when Config.APIKey contains spaces or control
	// characters, which no KIE key has (a paste gone wrong). The key is never repeated.
	ErrBadAPIKey = errors.New("KIE API key contains spaces or control characters")
)

// ErrInvalidRequest is wrapped by the errors the client returns, before any HTTP call, for
// arguments KIE would reject (empty ids, author or domainName over MaxLabelLen characters).
var ErrInvalidRequest = errors.New("invalid KIE request")

// errTooLarge is the Err of an APIError whose reply exceeded Config.MaxBody.
var errTooLarge = errors.New("reply body over the size cap")

// APIError is a failed KIE call: a network error or timeout, an HTTP status that is not
// 2xx, a body code other than 200, or a reply that could not be decoded.
type APIError struct {
	Op             string        // "create", "record-info", "download-url", "credit", "jobs-create" or "jobs-record-info"
	TaskID         string        // the task the call was about, if any
	HTTPStatus     int           // 0 when no response arrived
	Code           int           // the body code, 0 when absent
	Msg            string        // the body msg, or a short description of the reply
	RetryAfter     time.Duration // from the Retry-After header, when given
	ExistingTaskID string        // for "Mp4 record already exists": data.taskId, if sent
	Err            error         // the underlying network, timeout or decode error, if any
}

// Error describes the failure, e.g. "kie record-info mp4_x: code 422: recordInfo is null
// (HTTP 200)". It never contains the API key: the client redacts it from Msg and Err.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("kie ")
	if e.Op == "" {
		b.WriteString("call")
	} else {
		b.WriteString(e.Op)
	}
	if e.TaskID != "" {
		b.WriteString(" " + e.TaskID)
	}
	b.WriteString(":")
	switch {
	case e.Code != 0:
		fmt.Fprintf(&b, " code %d", e.Code)
		if e.Msg != "" {
			b.WriteString(": " + e.Msg)
		}
		if e.HTTPStatus != 0 {
			fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
		}
	case e.HTTPStatus != 0:
		fmt.Fprintf(&b, " HTTP %d", e.HTTPStatus)
		if e.Msg != "" {
			b.WriteString(": " + e.Msg)
		}
	case e.Msg != "":
		b.WriteString(" " + e.Msg)
	}
	if e.Err != nil {
		if e.Code != 0 || e.HTTPStatus != 0 || e.Msg != "" {
			b.WriteString(":")
		}
		b.WriteString(" " + e.Err.Error())
	}
	if e.ExistingTaskID != "" {
		b.WriteString("; existing task " + e.ExistingTaskID)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the underlying error, so errors.Is(err, context.Canceled) and
// errors.Is(err, context.DeadlineExceeded) work.
func (e *APIError) Unwrap() error { return e.Err }

// code returns the code that classifies the error: the body code when it is present and not
// 200, else the HTTP status when it is not 2xx. fromBody tells which; 0 means neither.
func (e *APIError) code() (c int, fromBody bool) {
	if e.Code != 0 && e.Code != 200 {
		return e.Code, true
	}
	if e.HTTPStatus != 0 && (e.HTTPStatus < 200 || e.HTTPStatus > 299) {
		return e.HTTPStatus, false
	}
	return 0, false
}

// msgHas reports whether Msg contains any of words, ignoring case.
func (e *APIError) msgHas(words ...string) bool {
	m := strings.ToLower(e.Msg)
	for _, w := range words {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

// creditMsg reports a 429 that sister brands use for "not enough credits" (§7).
func (e *APIError) creditMsg() bool {
	return e.msgHas("credit", "balance", "insufficient") && !e.msgHas("rate", "frequen", "too many")
}

// RateLimited reports KIE saying "slow down": body code 405 or 430, or 429 (body code or
// HTTP status) unless its msg is about credits. An HTTP 405 without a body code is a real
// "method not allowed" and is not rate limiting.
func (e *APIError) RateLimited() bool {
	switch c, fromBody := e.code(); c {
	case 405:
		return fromBody
	case 430:
		return true
	case 429:
		return !e.creditMsg()
	}
	return false
}

// NotFound reports that KIE has no such task: record-info replied data:null, msg
// "recordInfo is null", or body code 404.
func (e *APIError) NotFound() bool {
	if e.msgHas("recordinfo is null") {
		return true
	}
	return (e.Op == opRecord || e.Op == opJobsRecord) && e.Code == 404
}

// InsufficientCredits reports KIE refusing a call for want of credits: body code (or HTTP
// status) 402, 433 (a key's or the account's credit cap), or a 429 whose msg is about
// credits (sister brands, §7). Creating again cannot help until the account is topped up:
// callers stop creating rather than retry.
func (e *APIError) InsufficientCredits() bool {
	switch c, _ := e.code(); c {
	case 402, 433:
		return true
	case 429:
		return e.creditMsg()
	}
	return false
}

// IsInsufficientCredits reports whether err is an *APIError for insufficient credits.
func IsInsufficientCredits(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.InsufficientCredits()
}

// Duplicate reports "Mp4 record already exists" (sent as 409 or 422). ExistingTaskID holds
// the existing video task when KIE named it.
func (e *APIError) Duplicate() bool { return e.msgHas("already exists") }

// Temporary reports whether the same call may succeed later (§7): network errors and
// timeouts, HTTP 5xx, non-JSON or undecodable 2xx replies (including replies over
// Config.MaxBody, which are taken for a glitch), and the body codes 405, 408, 429 (rate
// limit), 430, 433 (key cap; after its window), 455, 500 (unless msg says "required",
// "invalid", "allowed" or "range") and 531. A caller's cancellation, not-found, duplicates
// and every other code are permanent.
func (e *APIError) Temporary() bool {
	if errors.Is(e.Err, context.Canceled) || e.NotFound() || e.Duplicate() {
		return false
	}
	c, fromBody := e.code()
	switch {
	case c == 0: // no reply, or a 2xx whose body was unusable
		return true
	case c == 405:
		return fromBody
	case c == 429:
		return !e.creditMsg()
	case c == 408, c == 430, c == 433, c == 455, c == 531:
		return true
	case c == 500:
		return !e.msgHas("required", "invalid", "allowed", "range")
	case c >= 500 && c <= 599:
		return !fromBody // HTTP 5xx; body codes 501 and 505 are permanent
	}
	return false
}

// IsTemporary reports whether err is an *APIError that may go away on retry.
func IsTemporary(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Temporary()
}

// IsRateLimited reports whether err is an *APIError for KIE's rate limit.
func IsRateLimited(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.RateLimited()
}

// RetryAfterOf returns the Retry-After that KIE sent with err, or 0.
func RetryAfterOf(err error) time.Duration {
	var e *APIError
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// redactedError replaces the text of an error that contained the API key; Unwrap still
// reaches the original for errors.Is.
type redactedError struct {
	msg string
	err error
}

func (r *redactedError) Error() string { return r.msg }
func (r *redactedError) Unwrap() error { return r.err }
