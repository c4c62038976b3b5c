// Package lsm makes the Landlock system calls: the ABI version, and
// restricting the calling thread to a landlock.Rules. It is the kernel
// side of the landlock concern; the rules, their checks and what they
// come to at an ABI version (landlock.Rules.Ruleset) are in landlock,
// which a plan carries without code that touches the kernel.
package lsm

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/landlock"
	"github.com/cellsandbox/cell/internal/syserr"
)

// rulesetAttr is struct landlock_ruleset_attr up to scoped (ABI 6).
// Older kernels accept the longer struct because the fields they do not
// know are zero whenever they do not support them.
type rulesetAttr struct {
	handledFS  uint64
	handledNet uint64
	scoped     uint64
}

// netPortAttr is struct landlock_net_port_attr.
type netPortAttr struct {
	allowed uint64
	port    uint64
}

// ruleNetPort is LANDLOCK_RULE_NET_PORT, which x/sys/unix lacks.
const ruleNetPort = 2

// Restrict enforces the rules on the calling thread with
// landlock_restrict_self; the processes it forks afterwards inherit the
// restriction, and it cannot be undone. Other threads of the process are
// not restricted.
//
// It must run on a locked OS thread (runtime.LockOSThread) that is never
// unlocked afterwards, after no_new_privs has been set on it (or while it
// holds CAP_SYS_ADMIN): Restrict does not set it, the plan does. Paths are
// resolved where the thread is, that is inside the sandbox's root, without
// following symlinks. It checks the rules against the kernel's ABI as
// [landlock.Rules.Check] does and enforces exactly what
// [landlock.Rules.Effective] prints
// for that ABI; with no Landlock and BestEffort mode it does nothing.
func Restrict(r *landlock.Rules) error {
	if r.Empty() {
		return nil
	}
	abi, abiErr := ABI()
	if err := r.Check(abi); err != nil {
		if abiErr != nil {
			return fmt.Errorf("%w (%v)", err, abiErr)
		}
		return err
	}
	rs := r.Ruleset(abi)
	if rs.HandledFS == 0 && rs.HandledNet == 0 && rs.Scoped == 0 {
		return nil
	}
	attr := rulesetAttr{handledFS: rs.HandledFS, handledNet: rs.HandledNet, scoped: rs.Scoped}
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET,
		uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if errno != 0 {
		return &syserr.Error{Call: "landlock_create_ruleset", Object: landlock.AccessFS(rs.HandledFS), Err: errno}
	}
	ruleset := int(fd)
	defer unix.Close(ruleset)

	for _, p := range rs.Paths {
		if err := addPath(ruleset, p.Word, p.Path, p.Allowed); err != nil {
			return err
		}
	}
	for _, p := range rs.Ports {
		a := netPortAttr{allowed: p.Allowed, port: uint64(p.Port)}
		_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), ruleNetPort,
			uintptr(unsafe.Pointer(&a)), 0, 0, 0)
		if errno != 0 {
			return &syserr.Error{Call: "landlock_add_rule", Object: fmt.Sprintf("%s %d", p.Word, p.Port), Err: errno}
		}
	}

	_, _, errno = unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ruleset), 0, 0)
	switch errno {
	case 0:
		return nil
	case unix.EPERM:
		return &syserr.Error{Call: "landlock_restrict_self", Err: errno,
			Why: "no_new_privs is not set on this thread and it lacks CAP_SYS_ADMIN"}
	case unix.E2BIG:
		return &syserr.Error{Call: "landlock_restrict_self", Err: errno,
			Why: "the thread already has the most stacked landlock domains the kernel allows (16)"}
	}
	return &syserr.Error{Call: "landlock_restrict_self", Err: errno}
}

// addPath adds a path-beneath rule granting allowed, narrowed to the rights
// of a file when the path is not a directory.
func addPath(ruleset int, word, path string, allowed uint64) error {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err == unix.ELOOP {
		return &syserr.Error{Call: "openat2", Object: word + " " + path, Err: err,
			Why: "a component is a symlink; list the path it points to"}
	}
	if err != nil {
		return &syserr.Error{Call: "openat2", Object: word + " " + path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &syserr.Error{Call: "fstat", Object: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		allowed &= landlock.FileRights
	}
	if allowed == 0 {
		return nil
	}
	a := unix.LandlockPathBeneathAttr{Allowed_access: allowed, Parent_fd: int32(fd)}
	_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), unix.LANDLOCK_RULE_PATH_BENEATH,
		uintptr(unsafe.Pointer(&a)), 0, 0, 0)
	if errno != 0 {
		return &syserr.Error{Call: "landlock_add_rule", Object: fmt.Sprintf("%s %s (%s)", word, path, landlock.AccessFS(allowed)), Err: errno}
	}
	return nil
}

// ABI returns the kernel's Landlock ABI version. It is 0 when the kernel
// has no Landlock, and then the error says why: not built in (or hidden
// by a seccomp filter), or built in but not enabled at boot.
func ABI() (int, error) {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	return abiOf(v, errno)
}

// abiOf interprets the result of landlock_create_ruleset(NULL, 0,
// LANDLOCK_CREATE_RULESET_VERSION).
func abiOf(v uintptr, errno unix.Errno) (int, error) {
	switch errno {
	case 0:
		return int(v), nil
	case unix.ENOSYS:
		return 0, &syserr.Error{Call: "landlock_create_ruleset", Object: "version", Err: errno,
			Why: "landlock is not built into this kernel (CONFIG_SECURITY_LANDLOCK), or a seccomp filter hides it"}
	case unix.EOPNOTSUPP:
		return 0, &syserr.Error{Call: "landlock_create_ruleset", Object: "version", Err: errno,
			Why: "landlock is built into this kernel but disabled at boot (add it to the lsm= kernel parameter)"}
	}
	return 0, &syserr.Error{Call: "landlock_create_ruleset", Object: "version", Err: errno}
}
