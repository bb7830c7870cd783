package kie

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

const testKey = "sk-SECRET-test"

// serve starts a server running h and returns a Client for it plus a hit counter.
func serve(t *testing.T, h http.HandlerFunc, mod ...func(*Config)) (*Client, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := Config{BaseURL: srv.URL + "/", APIKey: testKey}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, &hits
}

// reply writes a JSON body with the given HTTP status.
func replyJSON(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func TestNew(t *testing.T) {
	for _, key := range []string{"", "   "} {
		if _, err := New(Config{APIKey: key}); !errors.Is(err, ErrNoAPIKey) {
			t.Errorf("New(key %q) = %v; want ErrNoAPIKey", key, err)
		}
	}
	if _, err := New(Config{APIKey: "sk-SECRET test"}); !errors.Is(err, ErrBadAPIKey) || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("key with a space: %v", err)
	}
	for _, err := range []error{ErrNoAPIKey, ErrBadAPIKey} {
		if strings.Contains(err.Error(), "--") || strings.Contains(err.Error(), "KIE_API_KEY") {
			t.Errorf("%q names a flag or an env var; the CLI adds those", err)
		}
	}
	for _, base := range []string{"ftp://api.kie.ai", "api.kie.ai", "http://", "https://x/?a=1", "://x"} {
		if _, err := New(Config{APIKey: testKey, BaseURL: base}); err == nil {
			t.Errorf("New(BaseURL %q) accepted", base)
		}
	}
	c, err := New(Config{APIKey: " " + testKey + "\n"})
	if err != nil {
		t.Fatal(err)
	}
	if c.base != DefaultBaseURL || c.timeout != DefaultTimeout || c.maxBody != DefaultMaxBody ||
		c.ua != DefaultUserAgent || c.key != testKey || c.hc == nil {
		t.Errorf("defaults not applied: %+v", c)
	}
	if tr, ok := c.hc.Transport.(*http.Transport); !ok || tr.MaxIdleConnsPerHost != 64 {
		t.Errorf("default transport: %#v", c.hc.Transport)
	}
}

func TestCreateVideo(t *testing.T) {
	var got map[string]any
	var hdr http.Header
	c, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/kie"+PathCreate {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		hdr = r.Header.Clone()
		got = nil
		_ = json.NewDecoder(r.Body).Decode(&got)
		replyJSON(200, `{"code":200,"msg":"success","data":{"taskId":"mp4_9f21c0d4"}}`)(w, r)
	}, func(cfg *Config) { cfg.BaseURL += "kie/"; cfg.UserAgent = "kiemv-test" })

	id, err := c.CreateVideo(context.Background(), CreateRequest{TaskID: "5c79aa01be8e", AudioID: "e2310f3a"})
	if err != nil || id != "mp4_9f21c0d4" {
		t.Fatalf("CreateVideo = %q, %v", id, err)
	}
	want := map[string]any{"taskId": "5c79aa01be8e", "audioId": "e2310f3a", "callBackUrl": PlaceholderCallbackURL}
	if len(got) != len(want) || got["callBackUrl"] != want["callBackUrl"] || got["taskId"] != want["taskId"] || got["audioId"] != want["audioId"] {
		t.Errorf("body = %v; want %v", got, want)
	}
	if hdr.Get("Authorization") != "Bearer "+testKey || hdr.Get("Content-Type") != "application/json" ||
		hdr.Get("Accept") != "application/json" || hdr.Get("User-Agent") != "kiemv-test" {
		t.Errorf("headers = %v", hdr)
	}

	req := CreateRequest{TaskID: "t", AudioID: "a", CallBackURL: "https://hooks.example.org/kie/mp4",
		Author: strings.Repeat("é", 50), DomainName: "novalane.example"}
	if _, err := c.CreateVideo(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got["callBackUrl"] != req.CallBackURL || got["author"] != req.Author || got["domainName"] != req.DomainName {
		t.Errorf("body = %v", got)
	}
}

func TestCreateVideoValidation(t *testing.T) {
	c, hits := serve(t, replyJSON(200, `{"code":200,"msg":"success","data":{"taskId":"x"}}`))
	long := strings.Repeat("a", 51)
	for _, req := range []CreateRequest{
		{TaskID: "", AudioID: "a"},
		{TaskID: "t", AudioID: " "},
		{TaskID: "t", AudioID: "a", Author: long},
		{TaskID: "t", AudioID: "a", DomainName: long},
	} {
		_, err := c.CreateVideo(context.Background(), req)
		var e *APIError
		if !errors.Is(err, ErrInvalidRequest) || errors.As(err, &e) {
			t.Errorf("%+v: err = %v", req, err)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("server was called %d times", hits.Load())
	}
	if _, err := c.VideoDetails(context.Background(), ""); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("VideoDetails(\"\") = %v", err)
	}
	if _, err := c.DownloadURL(context.Background(), ""); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("DownloadURL(\"\") = %v", err)
	}
}

func TestCreateVideoDuplicate(t *testing.T) {
	for _, status := range []int{200, 409} {
		c, _ := serve(t, replyJSON(status, `{"code":409,"msg":"Mp4 record already exists","data":{"taskId":"mp4_old"}}`))
		_, err := c.CreateVideo(context.Background(), CreateRequest{TaskID: "m1", AudioID: "a1"})
		var e *APIError
		if !errors.As(err, &e) || !e.Duplicate() || e.ExistingTaskID != "mp4_old" || e.TaskID != "m1" || e.Temporary() {
			t.Errorf("HTTP %d: %#v", status, err)
		}
	}
}

func TestVideoDetails(t *testing.T) {
	c, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != PathRecordInfo || r.Header.Get("Content-Type") != "" {
			t.Errorf("%s %s ct=%q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		switch r.URL.Query().Get("taskId") {
		case "mp4_9f21c0d4":
			replyJSON(200, docRecord)(w, r)
		case "null":
			replyJSON(200, `{"code":200,"msg":"success","data":null}`)(w, r)
		case "422":
			replyJSON(200, `{"code":422,"msg":"recordInfo is null","data":null}`)(w, r)
		case "404":
			replyJSON(200, `{"code":404,"msg":"Not found"}`)(w, r)
		case "html":
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>oops</html>")
		default:
			t.Errorf("query %q", r.URL.RawQuery)
		}
	})
	rec, err := c.VideoDetails(context.Background(), "mp4_9f21c0d4")
	if err != nil || !rec.Ready() || rec.VideoURL != "https://tempfile.example/v/ab12.mp4" {
		t.Fatalf("VideoDetails = %+v, %v", rec, err)
	}
	for _, id := range []string{"null", "422", "404"} {
		_, err := c.VideoDetails(context.Background(), id)
		if !isNotFound(err) || IsTemporary(err) || !strings.Contains(err.Error(), "record-info "+id) {
			t.Errorf("%s: %v", id, err)
		}
	}
	_, err = c.VideoDetails(context.Background(), "html")
	if !IsTemporary(err) || isNotFound(err) || err.Error() != "kie record-info html: HTTP 200: non-JSON reply (text/html)" {
		t.Errorf("html: %v", err)
	}
}

func TestDownloadURL(t *testing.T) {
	c, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		var in struct{ URL string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		if r.Method != http.MethodPost || r.URL.Path != PathDownloadURL {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		switch in.URL {
		case "https://tempfile.example/v/ab12.mp4":
			replyJSON(200, `{"code":200,"msg":"success","data":"https://signed.example/x?sig=1"}`)(w, r)
		case "obj":
			replyJSON(200, `{"code":200,"msg":"success","data":{"url":"https://signed.example/y"}}`)(w, r)
		case "none":
			replyJSON(200, `{"code":200,"msg":"success","data":null}`)(w, r)
		default:
			replyJSON(200, `{"code":422,"msg":"Only KIE generated URLs are supported"}`)(w, r)
		}
	})
	ctx := context.Background()
	if u, err := c.DownloadURL(ctx, "https://tempfile.example/v/ab12.mp4"); err != nil || u != "https://signed.example/x?sig=1" {
		t.Errorf("DownloadURL = %q, %v", u, err)
	}
	if u, err := c.DownloadURL(ctx, "obj"); err != nil || u != "https://signed.example/y" {
		t.Errorf("object data: %q, %v", u, err)
	}
	if _, err := c.DownloadURL(ctx, "none"); !IsTemporary(err) {
		t.Errorf("null data: %v", err)
	}
	if _, err := c.DownloadURL(ctx, "https://elsewhere.example/f.mp4"); err == nil || IsTemporary(err) {
		t.Errorf("non-KIE URL: %v", err)
	}
}

func TestCredits(t *testing.T) {
	tests := map[string]struct {
		want float64
		ok   bool
	}{
		`100`: {100, true}, `35.95`: {35.95, true}, `"12.5"`: {12.5, true}, `0`: {0, true},
		`"abc"`: {0, false}, `null`: {0, false}, `{}`: {0, false},
	}
	for data, tc := range tests {
		c, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || r.URL.Path != PathCredit {
				t.Errorf("%s %s", r.Method, r.URL.Path)
			}
			replyJSON(200, `{"code":200,"msg":"success","data":`+data+`}`)(w, r)
		})
		got, err := c.Credits(context.Background())
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("data %s: %v, %v", data, got, err)
		}
	}
}
