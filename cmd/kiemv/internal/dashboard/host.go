package dashboard

import (
	"net"
	"net/http"
	"strings"
)

// hostCheck refuses requests whose Host header is not a loopback name, the listen address's
// host, or one of allowed. Without a password the dashboard trusts whoever reaches it; a web
// page that rebinds its own name to 127.0.0.1 reaches it too, as same-origin, and this is
// what stops it (DNS rebinding): its requests carry the page's name as Host.
func hostCheck(next http.Handler, listen string, allowed []string) http.Handler {
	ok := map[string]bool{"localhost": true}
	if host, _, err := net.SplitHostPort(listen); err == nil && host != "" {
		ok[strings.ToLower(host)] = true
	}
	for _, h := range allowed {
		ok[strings.ToLower(strings.TrimSpace(h))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.Trim(host, "[]"))
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || ok[host] {
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, "kiemv dashboard: Host "+r.Host+" is not allowed; use http://127.0.0.1, or start the dashboard with --allowed-host "+host+" (behind a proxy) or --basic-auth", http.StatusMisdirectedRequest)
	})
}
