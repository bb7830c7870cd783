package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/store/storetest"
)

func TestConnectErrorsHidePasswords(t *testing.T) {
	ctx := context.Background()
	_, err := Connect(ctx, "redis://:s3cret@127.0.0.1:notaport/0")
	var ce *ConfigError
	if !errors.As(err, &ce) || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "--redis-url") {
		t.Errorf("malformed URL: %v (%T); want a ConfigError naming --redis-url without the password", err, err)
	}
	_, err = Connect(ctx, "redis://:s3cret@127.0.0.1:1/0")
	if err == nil || errors.As(err, &ce) || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable Redis: %v; want a plain error naming the address without the password", err)
	}
}

func TestKIEClientErrors(t *testing.T) {
	if _, err := (Config{KIEBaseURL: "http://127.0.0.1:1"}).KIEClient(); !errors.Is(err, kie.ErrNoAPIKey) {
		t.Errorf("no key: %v; want kie.ErrNoAPIKey", err)
	}
	var ce *ConfigError
	if _, err := (Config{KIEBaseURL: "http://127.0.0.1:1", APIKey: "a b"}).KIEClient(); !errors.As(err, &ce) || !errors.Is(err, kie.ErrBadAPIKey) {
		t.Errorf("key with a space: %v; want a ConfigError wrapping kie.ErrBadAPIKey", err)
	}
}

func TestConnectServiceWiresTasks(t *testing.T) {
	_, url := storetest.Redis(t)
	cfg := Config{RedisURL: url, Namespace: storetest.Namespace(t), CreateLimit: 18, RecordLimit: 10}
	conn, svc, err := cfg.ConnectService(context.Background(), ServiceOptions{FirstPoll: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if svc.Tasks == nil || svc.Store == nil || svc.Limiter == nil || svc.KIE != nil || svc.FirstPoll != 3*time.Second {
		t.Errorf("service %+v: want Tasks, Store and Limiter wired, no KIE client, FirstPoll 3s", svc)
	}
}

func TestJoinHooksCallsBoth(t *testing.T) {
	var got []string
	a := &jobs.Hooks{PollFunc: func(o string) { got = append(got, "a:"+o) }}
	b := &jobs.Hooks{PollFunc: func(o string) { got = append(got, "b:"+o) },
		DownloadFunc: func(n int64, _ time.Duration, _ error) { got = append(got, "b:dl") }}
	h := joinHooks(a, b)
	h.PollFunc("ready")
	h.DownloadFunc(1, 0, nil)
	h.StateFunc("x", jobs.StateReady) // neither has one: no panic
	if strings.Join(got, ",") != "a:ready,b:ready,b:dl" {
		t.Errorf("calls %v", got)
	}
	if joinHooks(a, nil) != a || joinHooks(nil, b) != b {
		t.Error("joining with nil should return the other")
	}
}

func TestCallbackReceiverRoutes(t *testing.T) {
	h := Config{}.CallbackReceiver(&Conn{}, &jobs.Service{}, "/kie/mp4", nil)
	for _, c := range []struct {
		method, path string
		want         int
	}{{"GET", HealthzPath, 200}, {"HEAD", HealthzPath, 200}, {"POST", HealthzPath, 405}, {"GET", "/other", 404}} {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest(c.method, c.path, nil))
		if rr.Code != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, rr.Code, c.want)
		}
	}
	if s := CallbackServer(http.NotFoundHandler()); s.ReadTimeout <= 0 || s.ReadHeaderTimeout <= 0 {
		t.Errorf("callback server without timeouts: %+v", s)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:pw@host:6379/0":                   "redis://:xxxxx@host:6379/0",
		"redis://user:pw@host:6379/0":               "redis://user:xxxxx@host:6379/0",
		"redis://host:6379/0":                       "redis://host:6379/0",
		`parse "redis://:pw@h:x/0": invalid port`:   `parse "redis://:xxxxx@h:x/0": invalid port`,
		"redis://u:p@ss@h:bad/0":                    "redis://u:xxxxx@h:bad/0",
		"redis-sentinel://:pw@h1:26379,h2:26379/0?": "redis-sentinel://:xxxxx@h1:26379,h2:26379/0?",
		`--prometheus-url "prom:pw@9090" is bad`:    `--prometheus-url "prom:xxxxx@9090" is bad`,
		"at 12:30 mail me@example.org":              "at 12:30 mail me@example.org",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHintHooksNameTheFlag(t *testing.T) {
	var buf strings.Builder
	h := hintHooks(slog.New(slog.NewTextHandler(&buf, nil)), 1000)
	h.DownloadFunc(0, time.Second, fmt.Errorf("download: %w", &jobs.TooLargeError{ID: "mp4_big", Size: 5000, Limit: 1000}))
	h.DownloadFunc(0, time.Second, errors.New("connection reset"))
	if out := buf.String(); strings.Count(out, "\n") != 1 || !strings.Contains(out, "--max-video-bytes") || !strings.Contains(out, "mp4_big") {
		t.Errorf("log %q: want one line naming mp4_big and --max-video-bytes", out)
	}
}

func TestVideoClientRefusesPrivateHostsUnlessKIEIsLocal(t *testing.T) {
	for raw, local := range map[string]bool{"https://api.kie.ai": false, "http://127.0.0.1:8090": true,
		"http://localhost:8090": true, "http://10.0.0.5": true, "http://[::1]:80": true, "http://kie.example.org": false} {
		if localURL(raw) != local {
			t.Errorf("localURL(%q) = %v", raw, !local)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	get := func(c *http.Client) error {
		resp, err := c.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(videoClient(Config{KIEBaseURL: "https://api.kie.ai"}, WorkerConfig{})); !errors.Is(err, jobs.ErrPrivateAddress) {
		t.Errorf("real KIE, loopback video host: %v; want ErrPrivateAddress", err)
	}
	if err := get(videoClient(Config{KIEBaseURL: "https://api.kie.ai"}, WorkerConfig{AllowPrivateVideoHosts: true})); err != nil {
		t.Errorf("with --allow-private-video-hosts: %v", err)
	}
	if err := get(videoClient(Config{KIEBaseURL: srv.URL}, WorkerConfig{})); err != nil {
		t.Errorf("KIE on loopback (a simulator): %v", err)
	}
	var buf strings.Builder
	hintHooks(slog.New(slog.NewTextHandler(&buf, nil)), 1).DownloadFunc(0, 0, fmt.Errorf("x: %w", jobs.ErrPrivateAddress))
	if !strings.Contains(buf.String(), "--allow-private-video-hosts") {
		t.Errorf("hint %q does not name the flag", buf.String())
	}
}
