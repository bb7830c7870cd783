package jobs

import (
	"errors"
	"testing"
)

func TestRefusePrivate(t *testing.T) {
	for addr, refused := range map[string]bool{
		"8.8.8.8:443": false, "[2606:4700::1111]:443": false, "93.184.216.34:80": false,
		"127.0.0.1:80": true, "[::1]:80": true, "10.1.2.3:443": true, "172.16.0.9:443": true,
		"192.168.1.1:80": true, "169.254.169.254:80": true, "[fe80::1]:80": true, "[fd00:ec2::254]:80": true,
		"100.64.3.4:80": true, "0.0.0.0:80": true, "[::]:80": true, "224.0.0.1:80": true,
	} {
		err := refusePrivate("tcp", addr, nil)
		if got := errors.Is(err, ErrPrivateAddress); got != refused {
			t.Errorf("%s: refused %v (%v); want %v", addr, got, err, refused)
		}
	}
}
