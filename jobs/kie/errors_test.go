package kie

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestClassifyBodyCodes covers every code of kie-api.md §7, sent as a body code on HTTP 200.
func TestClassifyBodyCodes(t *testing.T) {
	tests := []struct {
		code      int
		msg       string
		temporary bool
		rate      bool
	}{
		{400, "Invalid parameters", false, false},
		{401, "You do not have access permissions", false, false},
		{402, "The current credits are insufficient", false, false},
		{404, "Not found", false, false},
		{405, "rate limit exceeded", true, true},
		{408, "upstream timeout", true, false},
		{409, "Mp4 record already exists", false, false},
		{413, "prompt too long", false, false},
		{422, "Validation error", false, false},
		{422, "recordInfo is null", false, false},
		{429, "Rate limited, please try later", true, true},
		{429, "", true, true},
		{429, "The current credits are insufficient. Please top up.", false, false},
		{430, "Your call frequency is too high", true, true},
		{433, "Sub-key usage cap reached", true, false},
		{451, "Could not fetch the source file", false, false},
		{455, "Service under maintenance", true, false},
		{500, "Internal server error", true, false},
		{500, "audioId is required", false, false},
		{500, "invalid taskId", false, false},
		{500, "author not allowed", false, false},
		{500, "musicIndex out of range", false, false},
		{501, "Generation failed", false, false},
		{505, "Feature disabled", false, false},
		{531, "Generation failed, credits refunded", true, false},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("%d %s", tc.code, tc.msg)
		r := okReply(fmt.Sprintf(`{"code":%d,"msg":%q,"data":null}`, tc.code, tc.msg))
		_, e := r.check(opCreate, "t1")
		if e == nil {
			t.Fatalf("%s: no error", name)
		}
		if e.Temporary() != tc.temporary || e.RateLimited() != tc.rate {
			t.Errorf("%s: Temporary=%v RateLimited=%v; want %v %v", name, e.Temporary(), e.RateLimited(), tc.temporary, tc.rate)
		}
		if e.Code != tc.code || e.HTTPStatus != 200 {
			t.Errorf("%s: Code=%d HTTPStatus=%d", name, e.Code, e.HTTPStatus)
		}
	}
}

// TestClassifyHTTP covers HTTP statuses, with and without a JSON body, and bodies that are
// not JSON.
func TestClassifyHTTP(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		ctype     string
		body      string
		temporary bool
		rate      bool
		msg       string
	}{
		{"HTTP 429 JSON", 429, "application/json", `{"code":429,"msg":"Too many requests"}`, true, true, "Too many requests"},
		{"HTTP 429 no body", 429, "", ``, true, true, "empty reply"},
		{"HTTP 429 body 402", 429, "application/json", `{"code":402,"msg":"credits insufficient"}`, false, false, "credits insufficient"},
		{"HTTP 502 HTML", 502, "text/html; charset=utf-8", `<html><body>Bad gateway</body></html>`, true, false, "non-JSON reply (text/html)"},
		{"HTTP 503 plain", 503, "text/plain", "upstream\nconnect error", true, false, "non-JSON reply (text/plain): upstream connect error"},
		{"HTTP 500 JSON validation", 500, "application/json", `{"code":500,"msg":"taskId is required"}`, false, false, "taskId is required"},
		{"HTTP 200 HTML", 200, "text/html", `<!doctype html><p>hi</p>`, true, false, "non-JSON reply (text/html)"},
		{"HTTP 200 HTML no content type", 200, "", `<!DOCTYPE html><p>hi</p>`, true, false, "non-JSON reply (text/html)"},
		{"HTTP 200 truncated JSON", 200, "application/json", `{"code":200,"msg":"succ`, true, false, "malformed JSON reply"},
		{"HTTP 200 JSON array", 200, "application/json", `[1,2]`, true, false, "unexpected reply (JSON, but not an object)"},
		{"HTTP 200 empty", 200, "application/json", ``, true, false, "empty reply"},
		{"HTTP 200 doc placeholder", 200, "application/json", `{"code":0,"msg":"","data":{}}`, true, false, "reply without a success code"},
		{"HTTP 404 HTML", 404, "text/html", `<html>404</html>`, false, false, "non-JSON reply (text/html)"},
		{"HTTP 401 JSON", 401, "application/json", `{"code":401,"msg":"Unauthorized"}`, false, false, "Unauthorized"},
		{"HTTP 405 method", 405, "text/plain", `Method Not Allowed`, false, false, "non-JSON reply (text/plain): Method Not Allowed"},
		{"HTTP 408", 408, "", ``, true, false, "empty reply"},
	}
	for _, tc := range tests {
		r := reply{status: tc.status, header: http.Header{}, body: []byte(tc.body)}
		if tc.ctype != "" {
			r.header.Set("Content-Type", tc.ctype)
		}
		_, e := r.check(opRecord, "mp4_x")
		if e == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		if e.Temporary() != tc.temporary || e.RateLimited() != tc.rate || e.Msg != tc.msg {
			t.Errorf("%s: Temporary=%v RateLimited=%v Msg=%q; want %v %v %q", tc.name,
				e.Temporary(), e.RateLimited(), e.Msg, tc.temporary, tc.rate, tc.msg)
		}
	}
}

func TestClassifyErrors(t *testing.T) {
	tests := []struct {
		name                      string
		e                         *APIError
		temp, rate, notFound, dup bool
	}{
		{"network", &APIError{Op: opRecord, Err: io.ErrUnexpectedEOF}, true, false, false, false},
		{"timeout", &APIError{Op: opRecord, Err: fmt.Errorf("x: %w", context.DeadlineExceeded)}, true, false, false, false},
		{"canceled", &APIError{Op: opRecord, Err: context.Canceled}, false, false, false, false},
		{"too large 200", &APIError{Op: opRecord, HTTPStatus: 200, Err: errTooLarge}, true, false, false, false},
		{"data null", &APIError{Op: opRecord, HTTPStatus: 200, Code: 200, Msg: "recordInfo is null (data:null)"}, false, false, true, false},
		{"recordInfo is null 422", &APIError{Op: opRecord, HTTPStatus: 200, Code: 422, Msg: "recordInfo is null"}, false, false, true, false},
		{"body 404 on record-info", &APIError{Op: opRecord, HTTPStatus: 200, Code: 404, Msg: "Not found"}, false, false, true, false},
		{"body 404 on create", &APIError{Op: opCreate, HTTPStatus: 200, Code: 404, Msg: "Not found"}, false, false, false, false},
		{"HTTP 404 on record-info", &APIError{Op: opRecord, HTTPStatus: 404}, false, false, false, false},
		{"dup 409", &APIError{Op: opCreate, Code: 409, Msg: "Mp4 record already exists"}, false, false, false, true},
		{"dup 422", &APIError{Op: opCreate, Code: 422, Msg: "mp4 record already exists"}, false, false, false, true},
	}
	for _, tc := range tests {
		e := tc.e
		if e.Temporary() != tc.temp || e.RateLimited() != tc.rate || e.NotFound() != tc.notFound || e.Duplicate() != tc.dup {
			t.Errorf("%s: temp=%v rate=%v notFound=%v dup=%v", tc.name, e.Temporary(), e.RateLimited(), e.NotFound(), e.Duplicate())
		}
		wrapped := fmt.Errorf("poll: %w", e)
		if IsTemporary(wrapped) != tc.temp || IsRateLimited(wrapped) != tc.rate || isNotFound(wrapped) != tc.notFound || isDuplicate(wrapped) != tc.dup {
			t.Errorf("%s: helpers disagree with methods", tc.name)
		}
	}
	plain := errors.New("x")
	if IsTemporary(plain) || IsRateLimited(plain) || isNotFound(plain) || isDuplicate(plain) || RetryAfterOf(plain) != 0 {
		t.Error("helpers should be false for a non-APIError")
	}
	if RetryAfterOf(fmt.Errorf("w: %w", &APIError{RetryAfter: 3 * time.Second})) != 3*time.Second {
		t.Error("RetryAfterOf did not unwrap")
	}
}

func TestDuplicateExistingTaskID(t *testing.T) {
	for _, body := range []string{
		`{"code":409,"msg":"Mp4 record already exists","data":{"taskId":"mp4_old"}}`,
		`{"code":422,"msg":"Mp4 record already exists","data":{"task_id":"mp4_old"}}`,
		`{"code":409,"msg":"Mp4 record already exists","data":"mp4_old"}`,
	} {
		_, err := parseCreate(okReply(body))
		var e *APIError
		if !errors.As(err, &e) || !e.Duplicate() || e.ExistingTaskID != "mp4_old" || e.Temporary() {
			t.Errorf("%s: got %#v", body, err)
		}
	}
	_, err := parseCreate(okReply(`{"code":409,"msg":"Mp4 record already exists","data":null}`))
	if !isDuplicate(err) || err.(*APIError).ExistingTaskID != "" {
		t.Errorf("duplicate without data: %v", err)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    *APIError
		want string
	}{
		{&APIError{Op: "record-info", TaskID: "mp4_x", HTTPStatus: 200, Code: 422, Msg: "recordInfo is null"},
			"kie record-info mp4_x: code 422: recordInfo is null (HTTP 200)"},
		{&APIError{Op: "create", HTTPStatus: 502, Msg: "non-JSON reply (text/html)"},
			"kie create: HTTP 502: non-JSON reply (text/html)"},
		{&APIError{Op: "credit", Err: errors.New("dial tcp: refused")}, "kie credit: dial tcp: refused"},
		{&APIError{Op: "create", TaskID: "m1", HTTPStatus: 200, Code: 409, Msg: "Mp4 record already exists", ExistingTaskID: "mp4_old"},
			"kie create m1: code 409: Mp4 record already exists (HTTP 200); existing task mp4_old"},
		{&APIError{Op: "create", HTTPStatus: 429, Msg: "empty reply", RetryAfter: 5 * time.Second},
			"kie create: HTTP 429: empty reply; retry after 5s"},
		{&APIError{}, "kie call:"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q; want %q", got, tc.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"1.5", 1500 * time.Millisecond},
		{"0", 0},
		{"-3", 0},
		{"abc", 0},
		{"NaN", 0},
		{"Inf", 0},
		{"999999999999", 24 * time.Hour},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-30 * time.Second).Format(http.TimeFormat), 0},
		{now.Add(72 * time.Hour).Format(http.TimeFormat), 24 * time.Hour},
		{"Sun, 02 Mar 2025 10:00:10 GMT", 10 * time.Second},
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v; want %v", tc.in, got, tc.want)
		}
	}
}

func TestCleanMsg(t *testing.T) {
	long := strings.Repeat("é", 300)
	if got := cleanMsg(long, maxMsg); len([]rune(got)) != maxMsg+1 || !strings.HasSuffix(got, "…") {
		t.Errorf("cleanMsg did not trim: %d runes", len([]rune(got)))
	}
	if got := cleanMsg("a\n\tb\x00c \xff", 0); got != "a bc \uFFFD" {
		t.Errorf("cleanMsg = %q", got)
	}
}

// isNotFound and isDuplicate ask an error what jobs asks it: errors.As, then the method.
func isNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.NotFound()
}

func isDuplicate(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Duplicate()
}
