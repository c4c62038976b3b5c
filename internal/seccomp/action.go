package seccomp

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Action is what the filter does with a syscall: its value is the
// SECCOMP_RET_* word the filter returns. The zero Action is not valid
// (it would be SECCOMP_RET_KILL_THREAD, which leaves the rest of a
// multithreaded process running in an unknown state); use Kill.
type Action uint32

const (
	// Allow lets the syscall run.
	Allow Action = unix.SECCOMP_RET_ALLOW
	// Kill kills the whole process, as if by an uncatchable SIGSYS
	// (SECCOMP_RET_KILL_PROCESS).
	Kill Action = unix.SECCOMP_RET_KILL_PROCESS
	// Log lets the syscall run and logs it to the audit log.
	Log Action = unix.SECCOMP_RET_LOG
	// Trap sends the thread a SIGSYS it may handle.
	Trap Action = unix.SECCOMP_RET_TRAP
)

// maxErrno is the highest errno a filter can return (the kernel's
// MAX_ERRNO; it clamps larger values to it).
const maxErrno = 4095

// Errno returns the action that fails the syscall with e without running
// it. e must be 1 to 4095; another value gives an action that Validate
// rejects.
func Errno(e unix.Errno) Action {
	if e > unix.SECCOMP_RET_DATA {
		e = unix.SECCOMP_RET_DATA
	}
	return Action(unix.SECCOMP_RET_ERRNO | uint32(e))
}

// Errno returns the errno a and true if a is an Errno action.
func (a Action) Errno() (unix.Errno, bool) {
	if uint32(a)&unix.SECCOMP_RET_ACTION_FULL != unix.SECCOMP_RET_ERRNO {
		return 0, false
	}
	return unix.Errno(uint32(a) & unix.SECCOMP_RET_DATA), true
}

// Validate returns an error unless a is Allow, Kill, Log, Trap or Errno(n)
// with n from 1 to 4095.
func (a Action) Validate() error {
	switch a {
	case x32Action:
	case Allow, Kill, Log, Trap:
		return nil
	}
	if e, ok := a.Errno(); ok {
		if e == 0 || e > maxErrno {
			return fmt.Errorf("action errno %d: must be 1 to %d", uint32(e), maxErrno)
		}
		return nil
	}
	if a == 0 {
		return fmt.Errorf("no action")
	}
	return fmt.Errorf("action %#x: not allow, kill, log, trap or an errno", uint32(a))
}

// String returns "allow", "kill", "log", "trap", or for Errno the name of
// the errno ("EPERM", or "errno 4000" for a number without a name).
// ParseAction reads each of these back.
func (a Action) String() string {
	switch a {
	case x32Action:
	case Allow:
		return "allow"
	case Kill:
		return "kill"
	case Log:
		return "log"
	case Trap:
		return "trap"
	}
	if e, ok := a.Errno(); ok {
		if name := unix.ErrnoName(e); name != "" {
			return name
		}
		return "errno " + strconv.Itoa(int(e))
	}
	return fmt.Sprintf("action(%#x)", uint32(a))
}

// ParseAction returns the action that String prints as s: "allow",
// "kill", "log", "trap", an errno name such as "EPERM", or "errno N".
func ParseAction(s string) (Action, error) {
	switch s {
	case "allow":
		return Allow, nil
	case "kill":
		return Kill, nil
	case "log":
		return Log, nil
	case "trap":
		return Trap, nil
	}
	if n, ok := strings.CutPrefix(s, "errno "); ok {
		e, err := strconv.ParseUint(n, 10, 16)
		if err != nil || e == 0 || e > maxErrno {
			return 0, fmt.Errorf("action %q: errno must be 1 to %d", s, maxErrno)
		}
		return Errno(unix.Errno(e)), nil
	}
	if strings.HasPrefix(s, "E") {
		for e := unix.Errno(1); e <= maxErrno; e++ {
			if unix.ErrnoName(e) == s {
				return Errno(e), nil
			}
		}
	}
	return 0, fmt.Errorf("unknown action %q (want allow, kill, log, trap, an errno name such as EPERM, or \"errno N\")", s)
}

// MarshalText returns String.
func (a Action) MarshalText() ([]byte, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return []byte(a.String()), nil
}

// UnmarshalText sets a from the text String prints.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
