//go:build !linux

package jobs

import (
	"errors"
	"os"
)

// directSupported: direct writes are used on Linux only; elsewhere every write goes through
// the page cache (and the background syncs still spread the write-back).
const directSupported = false

// errDirectRefused is never returned where direct writes are not used.
var errDirectRefused = errors.ErrUnsupported

// setDirect is never called with on where direct writes are not used.
func setDirect(f *os.File, on bool) error {
	if on {
		return errors.ErrUnsupported
	}
	return nil
}
