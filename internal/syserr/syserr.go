// Package syserr formats failed system calls the one way cell reports
// them: the call, what it acted on, and the errno by name and meaning,
// "openat2 /usr: ENOENT (no such file or directory)".
package syserr

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Text prints an errno by name and meaning, "EPERM (operation not
// permitted)"; any other error as it is.
func Text(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return fmt.Sprintf("%s (%s)", name, errno.Error())
		}
	}
	return err.Error()
}

// Error is a failed system call: "prlimit RLIMIT_NOFILE soft=16 hard=16:
// EPERM (operation not permitted): ...".
type Error struct {
	Call, Object string
	Err          error
	// Why explains the errno in cell's terms, when there is more to say.
	Why string
}

func (e *Error) Error() string {
	s := e.Call
	if e.Object != "" {
		s += " " + e.Object
	}
	s += ": " + Text(e.Err)
	if e.Why != "" {
		s += ": " + e.Why
	}
	return s
}

// Unwrap returns the errno.
func (e *Error) Unwrap() error { return e.Err }
