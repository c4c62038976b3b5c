package cgroup

import (
	"errors"
	"fmt"
	"path"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/syserr"
)

// Error is a failed operation on a cgroup file or directory. It prints as
// `write "64M" to /sys/fs/cgroup/cell/x/memory.max: EINVAL (invalid
// argument)`, with a hint after the errno where one is known.
type Error struct {
	// Op is "mkdir", "rmdir", "open", "read" or "write".
	Op   string
	Path string
	// Value is what a write wrote.
	Value string
	Err   error
}

func (e *Error) Error() string {
	obj := e.Path
	if e.Op == "write" {
		obj = fmt.Sprintf("%q to %s", e.Value, e.Path)
	}
	return fmt.Sprintf("%s %s: %s%s", e.Op, obj, syserr.Text(e.Err), e.hint())
}

// Unwrap returns the errno.
func (e *Error) Unwrap() error { return e.Err }

// hint explains the errors whose cause is not obvious from the errno.
func (e *Error) hint() string {
	file := path.Base(e.Path)
	switch {
	case e.Op == "write" && file == "cgroup.subtree_control" && errors.Is(e.Err, unix.EBUSY):
		return `: the cgroup holds processes, and cgroup v2 gives controllers only to cgroups without processes of their own ("no internal processes")`
	case e.Op == "write" && errors.Is(e.Err, unix.ENOENT):
		return ": the kernel has no such file here (its controller is not enabled for this cgroup, or the kernel lacks the feature)"
	case e.Op == "write" && file == "net_prio.ifpriomap" && errors.Is(e.Err, unix.ENODEV):
		return ": the kernel looks the interface up in the host's initial network namespace (not the sandbox's), and no interface there has that name"
	case e.Op == "mkdir" && errors.Is(e.Err, unix.EEXIST):
		return ": a sandbox of that name exists already (or an earlier one was not removed)"
	case e.Op == "rmdir" && errors.Is(e.Err, unix.EBUSY):
		return ": processes are still in it (Kill first)"
	}
	return ""
}
