package jobs

import (
	"os"
	"syscall"
)

// directSupported: Linux can switch O_DIRECT on and off on an open file (fcntl F_SETFL).
const directSupported = true

// errDirectRefused is what a file system that cannot write this way directly answers.
var errDirectRefused = syscall.EINVAL

// setDirect sets or clears O_DIRECT on f. A file system without direct I/O refuses to set it.
func setDirect(f *os.File, on bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		flags, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		if e != 0 {
			ferr = e
			return
		}
		if on {
			flags |= syscall.O_DIRECT
		} else {
			flags &^= syscall.O_DIRECT
		}
		if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFL, flags); e != 0 {
			ferr = e
		}
	}); err != nil {
		return err
	}
	if ferr != nil {
		return &os.PathError{Op: "fcntl O_DIRECT", Path: f.Name(), Err: ferr}
	}
	return nil
}
