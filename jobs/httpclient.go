package jobs

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxRedirects is how many redirects a video URL may take.
const maxRedirects = 5

// NewHTTPClient returns the client downloads use: no overall timeout (files are large; an
// idle watchdog cuts stalled bodies instead), bounded dial/TLS/header waits, at most five
// redirects, and only to http or https.
func NewHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = 30 * time.Second
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: tr, CheckRedirect: checkRedirect}
}

// defaultHTTPClient is the client of Downloaders that set none. It is shared so that its
// Transport reuses connections: a Transport per attempt would leave an idle keep-alive
// connection (and its goroutines) behind every download.
var defaultHTTPClient = sync.OnceValue(NewHTTPClient)

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects { // via holds one request per redirect followed so far, plus the first
		return permanent("video URL redirected more than %d times", maxRedirects)
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return permanent("video URL redirected to a %q URL; only http and https are fetched", s)
	}
	return nil
}

// checkURL refuses anything but an absolute http(s) URL.
func checkURL(raw string) error {
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		return permanent("video URL %.80q is not an http or https URL", raw)
	}
	return nil
}

// watchdog cancels the transfer when no byte arrives for idle.
type watchdog struct {
	r      io.Reader
	idle   time.Duration
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

func (w *watchdog) Read(p []byte) (int, error) {
	if w.idle > 0 {
		if w.timer == nil {
			w.timer = time.AfterFunc(w.idle, func() {
				w.cancel(fmt.Errorf("no bytes for %v (server stalled)", w.idle))
			})
		} else {
			w.timer.Reset(w.idle)
		}
	}
	n, err := w.r.Read(p)
	if err != nil && w.timer != nil {
		w.timer.Stop()
	}
	return n, err
}
