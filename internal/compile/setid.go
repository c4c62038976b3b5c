package compile

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/seccomp"
	"github.com/cellsandbox/cell/spec"
)

// setIDModeArgs are the syscalls that give a file its mode bits, with the
// index of the mode argument: chmod's family, and the ones that create a
// file with a mode (open's only with O_CREAT or O_TMPFILE; without them
// the mode is 0).
var setIDModeArgs = []struct {
	name string
	arg  int
}{
	{"chmod", 1}, {"fchmod", 1}, {"fchmodat", 2}, {"fchmodat2", 2},
	{"creat", 1}, {"open", 2}, {"openat", 3},
	{"mknod", 1}, {"mknodat", 2},
}

// setIDExposure names the host path through which the command could leave
// a set-user-ID or set-group-ID file that runs as somebody else on the
// host: a writable bind or a kept overlay upper layer, when the files the
// command makes there belong to a host ID other than an unprivileged
// caller's own (a root caller's, whose inside root is the host's root by
// default, or a subordinate range's). It returns "" when there is none.
//
// nosuid on the sandbox's mounts stops only execution inside the sandbox:
// the file stays on the host, where the host's own mount honours the bits.
//
// A profile that turns the guard off (security.setIDGuard: false, which
// an OCI bundle's translation says, since the runtime spec has no such
// guard) has no exposure cell acts on; cell lint reports it instead.
func (c *compiler) setIDExposure() string {
	if !c.p.Security.GuardsSetID() {
		return ""
	}
	where := ""
	for i := range c.p.Filesystem.Mounts {
		m := &c.p.Filesystem.Mounts[i]
		if m.Type == spec.MountBind && m.Writable {
			where = "the writable bind of " + m.Source
		} else if m.Type == spec.MountOverlay && c.keepUpper != "" {
			where = "the kept upper layer in " + c.keepUpper
		}
		if where != "" {
			break
		}
	}
	if where == "" || !c.host.Rootless() {
		return where
	}
	if c.ids == nil {
		return "" // an unprivileged caller in its own user namespace is itself
	}
	own := func(r []idRange, id uint32) bool {
		return len(r) == 1 && r[0].Count == 1 && !r[0].Picked && r[0].Outside == id
	}
	if own(c.ids.uid, c.host.UID) && own(c.ids.gid, c.host.GID) {
		return ""
	}
	return where
}

// addSetIDGuard adds the rules that refuse set-user-ID and set-group-ID
// mode bits (EPERM) to every syscall that sets a mode, and openat2 (whose
// mode seccomp cannot read) with ENOSYS, on which its callers fall back to
// openat. They come after the profile's rules, so they take precedence.
// The kernel already refuses device nodes to a user namespace.
func addSetIDGuard(pol *seccomp.Policy) error {
	for _, s := range setIDModeArgs {
		r := seccomp.Rule{Names: []string{s.name}, Action: seccomp.Errno(unix.EPERM),
			Args: []seccomp.Cond{seccomp.MaskedNe(s.arg, unix.S_ISUID|unix.S_ISGID, 0)}}
		if err := pol.Add(r); err != nil {
			return fmt.Errorf("set-ID guard: %w", err)
		}
	}
	return pol.Add(seccomp.Rule{Names: []string{"openat2"}, Action: seccomp.Errno(unix.ENOSYS)})
}

// hostOwner says whose the command's files are on the host, for errors.
func (c *compiler) hostOwner() string {
	if c.ids == nil || len(c.ids.uid) == 0 {
		return fmt.Sprintf("uid %d", c.host.EUID)
	}
	for _, r := range c.ids.uid {
		if r.Inside <= c.p.IDs.UID && uint64(c.p.IDs.UID) < uint64(r.Inside)+uint64(r.Count) {
			return fmt.Sprintf("uid %d", uint32(r.Outside)+c.p.IDs.UID-r.Inside)
		}
	}
	return "a host ID of the sandbox's map"
}

// checkSetIDCaps refuses, where the set-ID guard is needed, the
// capability that would get around it: CAP_SETFCAP lets the command give
// a file capabilities (security.capability, through setxattr, whose name
// seccomp cannot read), which the host honours for whoever runs it when
// the sandbox's root is the host's. The guard's other half, CAP_FSETID,
// only keeps bits a file already has, and CAP_MKNOD makes no device in a
// user namespace.
func (c *compiler) checkSetIDCaps() error {
	where := c.setIDExposure()
	if where == "" {
		return nil
	}
	if slices.Contains(capNumbers(c.p.Security.Capabilities.Bounding), uint32(unix.CAP_SETFCAP)) {
		return c.errorf("security.capabilities", "CAP_SETFCAP lets the command give files in %s capabilities that the host honours for %s; drop it, or make the bind read-only", where, c.hostOwner())
	}
	return nil
}
