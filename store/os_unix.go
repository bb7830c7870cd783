//go:build unix

package store

import (
	"os"
	"syscall"
)

// noFollow makes an open fail on a symbolic link instead of following it.
const noFollow = syscall.O_NOFOLLOW

// lockFile takes an exclusive advisory lock on f without waiting. The kernel drops it when f
// is closed or the process dies, so a killed worker never leaves a file locked.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
