package kie

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// stall waits until the client gives up (or 5 s), after optionally sending headers.
func stall(headersFirst bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
		if headersFirst {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			io.WriteString(w, `{"code":200,`)
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
}

func TestTimeout(t *testing.T) {
	for _, headersFirst := range []bool{false, true} {
		c, _ := serve(t, stall(headersFirst), func(cfg *Config) { cfg.Timeout = 200 * time.Millisecond })
		start := time.Now()
		_, err := c.VideoDetails(context.Background(), "mp4_slow")
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("took %v", took)
		}
		var e *APIError
		if !errors.As(err, &e) || !errors.Is(err, context.DeadlineExceeded) || !e.Temporary() || e.Op != opRecord {
			t.Errorf("headersFirst=%v: %#v", headersFirst, err)
		}
		if !strings.Contains(err.Error(), "no reply within 200ms") {
			t.Errorf("message: %v", err)
		}
	}
}

func TestCallerCancel(t *testing.T) {
	c, hits := serve(t, stall(false))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Credits(ctx); !errors.Is(err, context.Canceled) || IsTemporary(err) {
		t.Errorf("pre-canceled: %v", err)
	}
	if hits.Load() != 0 {
		t.Error("a canceled call reached the server")
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := c.VideoDetails(ctx, "mp4_x"); !errors.Is(err, context.Canceled) || IsTemporary(err) {
		t.Errorf("canceled mid-call: %v", err)
	}
}

func TestBodyCap(t *testing.T) {
	pad := strings.Repeat("x", 4096)
	body := `{"code":200,"msg":"success","data":"` + pad + `"}`
	c, _ := serve(t, replyJSON(200, body), func(cfg *Config) { cfg.MaxBody = int64(len(body)) - 1 })
	_, err := c.DownloadURL(context.Background(), "u")
	var e *APIError
	if !errors.As(err, &e) || !errors.Is(err, errTooLarge) || !e.Temporary() || e.HTTPStatus != 200 {
		t.Errorf("over cap: %#v", err)
	}
	c, _ = serve(t, replyJSON(200, body), func(cfg *Config) { cfg.MaxBody = int64(len(body)) })
	if u, err := c.DownloadURL(context.Background(), "u"); err != nil || u != pad {
		t.Errorf("at cap: %v", err)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	c, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		replyJSON(429, `{"code":429,"msg":"Too many requests"}`)(w, r)
	})
	_, err := c.CreateVideo(context.Background(), CreateRequest{TaskID: "t", AudioID: "a"})
	if !IsRateLimited(err) || !IsTemporary(err) || RetryAfterOf(err) != 7*time.Second {
		t.Errorf("429: %v (retry after %v)", err, RetryAfterOf(err))
	}
	c, _ = serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", time.Now().Add(time.Minute).UTC().Format(http.TimeFormat))
		w.WriteHeader(503)
	})
	_, err = c.Credits(context.Background())
	if d := RetryAfterOf(err); !IsTemporary(err) || d < 58*time.Second || d > time.Minute {
		t.Errorf("503 with date: %v (retry after %v)", err, d)
	}
}

func TestNetworkError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, _ := New(Config{BaseURL: "http://" + addr, APIKey: testKey})
	_, err = c.VideoDetails(context.Background(), "mp4_x")
	var e *APIError
	if !errors.As(err, &e) || !e.Temporary() || e.HTTPStatus != 0 || e.Err == nil {
		t.Errorf("refused: %#v", err)
	}
}

// leakyTransport fails with an error that quotes the request's Authorization header.
type leakyTransport struct{}

func (leakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("proxy said no to %q: %w", r.Header.Get("Authorization"), io.ErrUnexpectedEOF)
}

func TestNoKeyInErrors(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case PathCreate:
			replyJSON(200, `{"code":401,"msg":"Invalid key `+testKey+` for this endpoint"}`)(w, r)
		case PathRecordInfo:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(500)
			// The key straddles the 200-character cut of APIError.Msg.
			io.WriteString(w, strings.Repeat("x ", 70)+"auth header was "+r.Header.Get("Authorization"))
		case PathDownloadURL:
			replyJSON(409, `{"code":409,"msg":"Mp4 record already exists","data":{"taskId":"`+testKey+`"}}`)(w, r)
		default:
			replyJSON(200, `{"code":200,"msg":"success","data":"`+r.Header.Get("Authorization")+`"}`)(w, r)
		}
	}
	slow, _ := serve(t, stall(false), func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond })
	echoing, _ := serve(t, echo)
	leaky, _ := serve(t, echo, func(cfg *Config) { cfg.HTTPClient = &http.Client{Transport: leakyTransport{}} })
	ctx := context.Background()
	for name, c := range map[string]*Client{"slow": slow, "echo": echoing, "leaky": leaky} {
		var errs []error
		_, err := c.CreateVideo(ctx, CreateRequest{TaskID: "t", AudioID: "a"})
		errs = append(errs, err)
		_, err = c.VideoDetails(ctx, "mp4_x")
		errs = append(errs, err)
		_, err = c.DownloadURL(ctx, "u")
		errs = append(errs, err)
		_, err = c.Credits(ctx)
		errs = append(errs, err)
		for i, err := range errs {
			if err == nil {
				t.Errorf("%s #%d: no error", name, i)
				continue
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err)} {
				if strings.Contains(s, "sk-SEC") { // even a cut-off part of the key
					t.Errorf("%s #%d leaks the key: %s", name, i, s)
				}
			}
		}
		if name == "leaky" && !errors.Is(errs[0], io.ErrUnexpectedEOF) {
			t.Errorf("redaction broke errors.Is: %v", errs[0])
		}
	}
}

func TestConnectionReuse(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(replyJSON(200, `{"code":422,"msg":"recordInfo is null","data":null}`))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := c.VideoDetails(context.Background(), "mp4_x"); !isNotFound(err) {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 sequential calls; want 1", n)
	}
}
