package dashboard

import (
	"net"
	"testing"
)

func TestListenFallback(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ln, err := ListenFallback(busy.Addr().String())
	if err != nil {
		t.Fatalf("ListenFallback on a busy port: %v", err)
	}
	defer ln.Close()
	if ln.Addr().String() == busy.Addr().String() || !IsLoopback(ln.Addr().String()) {
		t.Errorf("fell back to %s", ln.Addr())
	}
}
