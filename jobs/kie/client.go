package kie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults used by New for zero Config fields.
const (
	DefaultBaseURL   = "https://api.kie.ai"
	DefaultTimeout   = 20 * time.Second
	DefaultMaxBody   = 1 << 20
	DefaultUserAgent = "kiemv"
)

// PlaceholderCallbackURL is sent as callBackUrl when CreateRequest.CallBackURL is empty:
// KIE requires the field, and kiemv polls instead.
const PlaceholderCallbackURL = "https://example.invalid/kiemv/no-callback"

// MaxLabelLen is the most characters (runes, not bytes) KIE accepts in author and domainName.
const MaxLabelLen = 50

// LabelFits reports whether s is short enough for author or domainName: at most MaxLabelLen
// characters. It is the one statement of that rule; jobs.SubmitRequest.Validate uses it too.
func LabelFits(s string) bool { return utf8.RuneCountInString(s) <= MaxLabelLen }

// The endpoints, relative to Config.BaseURL.
const (
	PathCreate      = "/api/v1/mp4/generate"
	PathRecordInfo  = "/api/v1/mp4/record-info"
	PathDownloadURL = "/api/v1/common/download-url"
	PathCredit      = "/api/v1/chat/credit"
)

// Config configures a Client. Zero fields take the defaults above.
type Config struct {
	BaseURL    string        // default DefaultBaseURL; an http(s) URL, may carry a path prefix
	APIKey     string        // required; New returns ErrNoAPIKey when empty
	Timeout    time.Duration // per request, including reading the body; default 20 s
	MaxBody    int64         // cap on a response body; default 1 MiB
	HTTPClient *http.Client  // default: keep-alive Transport with MaxIdleConnsPerHost 64
	UserAgent  string        // default "kiemv"
}

// Client calls KIE's MP4 endpoints. It is safe for concurrent use.
type Client struct {
	base    string
	key     string
	timeout time.Duration
	maxBody int64
	hc      *http.Client
	ua      string
}

var _ API = (*Client)(nil)

// New checks cfg and returns a Client. It fails with ErrNoAPIKey when there is no key, and
// when BaseURL is not an absolute http or https URL.
func New(cfg Config) (*Client, error) {
	key := strings.TrimSpace(cfg.APIKey)
	if key == "" {
		return nil, ErrNoAPIKey
	}
	if strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, ErrBadAPIKey
	}
	base := strings.TrimSpace(cfg.BaseURL)
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("KIE base URL %q: want an absolute http:// or https:// URL", base)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("KIE base URL %q: must not have a query or fragment", base)
	}
	c := &Client{
		base:    strings.TrimRight(u.String(), "/"),
		key:     key,
		timeout: cfg.Timeout,
		maxBody: cfg.MaxBody,
		hc:      cfg.HTTPClient,
		ua:      cfg.UserAgent,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBody
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: newTransport()}
	}
	if c.ua == "" {
		c.ua = DefaultUserAgent
	}
	return c, nil
}

// newTransport is the default Transport: keep-alive with a deep idle pool, since many
// workers poll the same host.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// CreateVideo starts an MP4 task for a music track and returns the new MP4 task id. An empty
// CallBackURL is sent as PlaceholderCallbackURL. A repeat for the same audio fails with an
// *APIError whose Duplicate() is true and whose ExistingTaskID names the video, if KIE did.
func (c *Client) CreateVideo(ctx context.Context, req CreateRequest) (string, error) {
	if err := req.validate(); err != nil {
		return "", err
	}
	cb := req.CallBackURL
	if cb == "" {
		cb = PlaceholderCallbackURL
	}
	body := marshal(struct {
		TaskID      string `json:"taskId"`
		AudioID     string `json:"audioId"`
		CallBackURL string `json:"callBackUrl"`
		Author      string `json:"author,omitempty"`
		DomainName  string `json:"domainName,omitempty"`
	}{req.TaskID, req.AudioID, cb, req.Author, req.DomainName})
	r, err := c.send(ctx, opCreate, req.TaskID, http.MethodPost, PathCreate, body)
	if err != nil {
		return "", err
	}
	id, err := parseCreate(r)
	if e, ok := err.(*APIError); ok {
		e.TaskID = req.TaskID
	}
	return id, c.seal(err)
}

// validate is the client's own cheap guard against a request KIE would reject, so that no
// call (and no credit) is spent on it. Callers validate their input first with their own
// rules (kiemv: jobs.SubmitRequest.Validate); this only keeps the client safe on its own.
func (req CreateRequest) validate() error {
	switch {
	case strings.TrimSpace(req.TaskID) == "":
		return fmt.Errorf("%w: the music task id is empty", ErrInvalidRequest)
	case strings.TrimSpace(req.AudioID) == "":
		return fmt.Errorf("%w: the audio id of music task %s is empty", ErrInvalidRequest, req.TaskID)
	case !LabelFits(req.Author):
		return fmt.Errorf("%w: author is %d characters; KIE allows at most %d",
			ErrInvalidRequest, utf8.RuneCountInString(req.Author), MaxLabelLen)
	case !LabelFits(req.DomainName):
		return fmt.Errorf("%w: domain name is %d characters; KIE allows at most %d",
			ErrInvalidRequest, utf8.RuneCountInString(req.DomainName), MaxLabelLen)
	}
	return nil
}

// VideoDetails fetches the MP4 task's record. A task KIE does not know fails with an
// *APIError whose NotFound() is true.
func (c *Client) VideoDetails(ctx context.Context, taskID string) (*VideoRecord, error) {
	if strings.TrimSpace(taskID) == "" {
		return nil, fmt.Errorf("%w: the MP4 task id is empty", ErrInvalidRequest)
	}
	path := PathRecordInfo + "?" + url.Values{"taskId": {taskID}}.Encode()
	r, err := c.send(ctx, opRecord, taskID, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	rec, err := parseRecordInfo(taskID, r)
	return rec, c.seal(err)
}

// DownloadURL asks KIE for a fresh, signed download link (valid about 20 minutes) for a
// file URL that KIE generated.
func (c *Client) DownloadURL(ctx context.Context, fileURL string) (string, error) {
	if strings.TrimSpace(fileURL) == "" {
		return "", fmt.Errorf("%w: the file URL is empty", ErrInvalidRequest)
	}
	body := marshal(struct {
		URL string `json:"url"`
	}{fileURL})
	r, err := c.send(ctx, opDownload, "", http.MethodPost, PathDownloadURL, body)
	if err != nil {
		return "", err
	}
	u, err := parseDownloadURL(r)
	return u, c.seal(err)
}

// Credits returns the account's remaining credits.
func (c *Client) Credits(ctx context.Context) (float64, error) {
	r, err := c.send(ctx, opCredit, "", http.MethodGet, PathCredit, nil)
	if err != nil {
		return 0, err
	}
	f, err := parseCredits(r)
	return f, c.seal(err)
}

// send makes one request under the per-request timeout and reads the reply, up to MaxBody.
// Its errors are *APIError values: a caller's cancellation wraps ctx.Err(), the client's own
// timeout wraps context.DeadlineExceeded.
func (c *Client) send(ctx context.Context, op, taskID, method, path string, body []byte) (reply, error) {
	fail := func(status int, h http.Header, err error) (reply, error) {
		e := &APIError{Op: op, TaskID: taskID, HTTPStatus: status}
		if h != nil {
			e.RetryAfter = parseRetryAfter(h.Get("Retry-After"), time.Now())
		}
		switch {
		case ctx.Err() != nil:
			e.Err = ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			e.Err = fmt.Errorf("no reply within %s: %w", c.timeout, context.DeadlineExceeded)
		default:
			e.Err = err
		}
		return reply{}, c.seal(e)
	}
	if ctx.Err() != nil {
		return fail(0, nil, ctx.Err())
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(rctx, method, c.base+path, rd)
	if err != nil {
		return fail(0, nil, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fail(0, nil, err)
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10) // let the connection be reused
		_ = resp.Body.Close()
	}()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return fail(resp.StatusCode, resp.Header, err)
	}
	if int64(len(data)) > c.maxBody {
		return fail(resp.StatusCode, resp.Header, fmt.Errorf("%w (%d bytes)", errTooLarge, c.maxBody))
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// seal redacts the API key from an *APIError's Msg and Err and trims Msg. Other errors
// pass through.
func (c *Client) seal(err error) error {
	e, ok := err.(*APIError)
	if !ok || e == nil {
		return err
	}
	const mark = "[redacted]"
	e.Msg = cleanMsg(strings.ReplaceAll(cleanMsg(e.Msg, 0), c.key, mark), maxMsg)
	e.ExistingTaskID = strings.ReplaceAll(e.ExistingTaskID, c.key, mark)
	if e.Err != nil && strings.Contains(e.Err.Error(), c.key) {
		e.Err = &redactedError{msg: strings.ReplaceAll(e.Err.Error(), c.key, mark), err: e.Err}
	}
	return e
}
