package kiesim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// clock is a manual clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 2, 10, 12, 51, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// reply is a decoded API answer.
type reply struct {
	Status int
	Header http.Header
	Raw    []byte
	Code   int             `json:"code"`
	Msg    string          `json:"msg"`
	Data   json.RawMessage `json:"data"`
}

// harness is a simulator behind an httptest.Server.
type harness struct {
	t   *testing.T
	sim *Sim
	srv *httptest.Server
	key string
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	s := New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &harness{t: t, sim: s, srv: srv, key: cfg.APIKey}
}

// do sends an API call; body, if not nil, is sent as JSON (a []byte is sent as is).
func (h *harness) do(method, path string, body any) reply {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if h.key != "" {
		req.Header.Set("Authorization", "Bearer "+h.key)
	}
	return h.send(req)
}

func (h *harness) send(req *http.Request) reply {
	h.t.Helper()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	_ = json.Unmarshal(raw, &r) // HTML faults don't decode
	return r
}

// create posts a valid create for (musicTask, audio).
func (h *harness) create(musicTask, audio string) reply {
	h.t.Helper()
	return h.do("POST", PathGenerate, map[string]string{
		"taskId": musicTask, "audioId": audio, "callBackUrl": "https://hooks.example.org/kie/mp4",
	})
}

// mustCreate creates a task and returns its mp4 id.
func (h *harness) mustCreate(audio string) string {
	h.t.Helper()
	r := h.create("music-"+audio, audio)
	var d struct {
		TaskID string `json:"taskId"`
	}
	if r.Status != 200 || r.Code != 200 || json.Unmarshal(r.Data, &d) != nil || d.TaskID == "" {
		h.t.Fatalf("create %s: HTTP %d %s", audio, r.Status, r.Raw)
	}
	return d.TaskID
}

// record polls record-info and decodes the record.
func (h *harness) record(id string) (reply, map[string]any) {
	h.t.Helper()
	r := h.do("GET", PathRecordInfo+"?taskId="+id, nil)
	var m map[string]any
	_ = json.Unmarshal(r.Data, &m)
	return r, m
}

// get fetches url with optional extra headers and returns the response and what could be read.
func (h *harness) get(url string, hdr map[string]string) (*http.Response, []byte, error) {
	h.t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}
