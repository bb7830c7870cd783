package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxRedirects is how many redirects a video URL may take.
const maxRedirects = 5

// NewHTTPClient returns the client downloads use: no overall timeout (files are large; an
// idle watchdog cuts stalled bodies instead), bounded dial/TLS/header waits, at most five
// redirects, and only to http or https. It connects to any address; NewPublicHTTPClient
// does not.
func NewHTTPClient() *http.Client { return newHTTPClient(nil) }

// NewPublicHTTPClient is NewHTTPClient refusing to connect to loopback, private, link-local
// (cloud metadata: 169.254.169.254), unspecified and multicast addresses. The check runs on
// the address actually dialled, after DNS resolution and on every redirect, so neither a
// redirect nor a name that resolves (or rebinds) to such an address gets through; the error
// wraps ErrPrivateAddress and fails the download for good.
func NewPublicHTTPClient() *http.Client { return newHTTPClient(refusePrivate) }

// ErrPrivateAddress is wrapped by the error of a download whose URL (or a redirect) leads to
// an address that is not on the public internet, with NewPublicHTTPClient.
var ErrPrivateAddress = errors.New("video URL leads to a loopback, private or link-local address")

// refusePrivate is a net.Dialer Control that refuses non-public addresses.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || cgnat.Contains(ip) {
		return &permanentError{fmt.Errorf("%w (%s)", ErrPrivateAddress, host)}
	}
	return nil
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598), not the public internet.
var cgnat = &net.IPNet{IP: net.IPv4(100, 64, 0, 0), Mask: net.CIDRMask(10, 32)}

func newHTTPClient(control func(network, address string, c syscall.RawConn) error) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a proxy would dial for us, out of the Control's sight
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: control}).DialContext
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
