package landlock

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
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
// [Rules.Check] does and enforces exactly what [Rules.Effective] prints
// for that ABI; with no Landlock and BestEffort mode it does nothing.
func Restrict(r *Rules) error {
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
	e := r.enforcement(abi)
	if e.fs == 0 && e.net == 0 && e.scope == 0 {
		return nil
	}
	attr := rulesetAttr{handledFS: e.fs, handledNet: e.net, scoped: e.scope}
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET,
		uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if errno != 0 {
		return &Error{Call: "landlock_create_ruleset", Object: AccessFS(e.fs), Err: errno}
	}
	ruleset := int(fd)
	defer unix.Close(ruleset)

	if e.fs != 0 {
		for _, l := range r.pathLists() {
			for _, p := range l.paths {
				if err := addPath(ruleset, l.word, p, l.grant&e.fs); err != nil {
					return err
				}
			}
		}
	}
	for _, l := range r.portLists() {
		if e.net&l.right == 0 {
			continue
		}
		for _, port := range l.ports {
			a := netPortAttr{allowed: l.right, port: uint64(port)}
			_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), ruleNetPort,
				uintptr(unsafe.Pointer(&a)), 0, 0, 0)
			if errno != 0 {
				return &Error{Call: "landlock_add_rule", Object: fmt.Sprintf("%s %d", l.word, port), Err: errno}
			}
		}
	}

	_, _, errno = unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ruleset), 0, 0)
	switch errno {
	case 0:
		return nil
	case unix.EPERM:
		return &Error{Call: "landlock_restrict_self", Err: errno,
			Why: "no_new_privs is not set on this thread and it lacks CAP_SYS_ADMIN"}
	case unix.E2BIG:
		return &Error{Call: "landlock_restrict_self", Err: errno,
			Why: "the thread already has the most stacked landlock domains the kernel allows (16)"}
	}
	return &Error{Call: "landlock_restrict_self", Err: errno}
}

// addPath adds a path-beneath rule granting allowed, narrowed to the rights
// of a file when the path is not a directory.
func addPath(ruleset int, word, path string, allowed uint64) error {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err == unix.ELOOP {
		return &Error{Call: "openat2", Object: word + " " + path, Err: err,
			Why: "a component is a symlink; list the path it points to"}
	}
	if err != nil {
		return &Error{Call: "openat2", Object: word + " " + path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &Error{Call: "fstat", Object: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		allowed &= fileRights
	}
	if allowed == 0 {
		return nil
	}
	a := unix.LandlockPathBeneathAttr{Allowed_access: allowed, Parent_fd: int32(fd)}
	_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), unix.LANDLOCK_RULE_PATH_BENEATH,
		uintptr(unsafe.Pointer(&a)), 0, 0, 0)
	if errno != 0 {
		return &Error{Call: "landlock_add_rule", Object: fmt.Sprintf("%s %s (%s)", word, path, AccessFS(allowed)), Err: errno}
	}
	return nil
}
