// Package filter loads a seccomp filter, compiled from a seccomp.Policy,
// into the kernel. It is the kernel side of the seccomp concern, apart
// from the policy and its compiler so that compiling a plan makes no
// syscall.
package filter

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/seccomp"
	"github.com/cellsandbox/cell/internal/syserr"
)

// Install loads prog (from seccomp.Policy.Compile) as a seccomp filter of
// the calling thread, with seccomp(SECCOMP_SET_MODE_FILTER) and no flags.
//
// It must run on a locked OS thread (runtime.LockOSThread), and the
// thread must have set no_new_privs (prctl PR_SET_NO_NEW_PRIVS) or hold
// CAP_SYS_ADMIN. The filter applies to that thread only (there is no
// SECCOMP_FILTER_FLAG_TSYNC): the process's other threads are unaffected.
// It stays for the thread's life and passes to the processes and threads
// the thread creates afterwards, through fork and execve. (The Go runtime
// starts its own new threads from a template thread when the creating
// goroutine is locked, so they do not inherit it.) Filters stack: one
// installed later can only restrict further.
//
// The filter's architecture check accepts x86_64 only, so Install refuses
// to run on another architecture. Errors name the syscall and the errno
// (a *syserr.Error).
func Install(prog []unix.SockFilter) error {
	if runtime.GOARCH != "amd64" {
		return fmt.Errorf("seccomp: the filter is for x86_64, this is %s", runtime.GOARCH)
	}
	if len(prog) == 0 || len(prog) > seccomp.MaxInstructions {
		return fmt.Errorf("seccomp: a filter has 1 to %d instructions, not %d", seccomp.MaxInstructions, len(prog))
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno == 0 {
		return nil
	}
	err := &syserr.Error{Call: "seccomp", Object: "SECCOMP_SET_MODE_FILTER", Err: errno}
	switch {
	case errors.Is(errno, unix.EACCES):
		err.Why = "set no_new_privs first, or hold CAP_SYS_ADMIN"
	case errors.Is(errno, unix.EINVAL):
		err.Why = "the kernel rejected the filter, or has no seccomp filters"
	}
	return err
}
