package compile

import (
	"path"
	"strings"

	"github.com/cellsandbox/cell/spec"
)

// landlockNoExec reports whether a writable mount at target must be
// mounted noexec because the profile's landlock rules make it
// non-executable.
//
// Landlock checks execute at execve only: a file the command wrote there
// still runs as "/lib64/ld-linux-x86-64.so.2 ./file", which maps it with
// mmap(PROT_EXEC), which landlock does not mediate. MOUNT_ATTR_NOEXEC
// refuses that mmap (EPERM) as well as execve, so the mount keeps the
// profile's word. A mount is left executable when a readExec path lies at,
// above or below its target (making it noexec would break what the
// profile allows there): there landlock alone decides, at execve.
//
// Only writable mounts matter: what the command cannot write is code the
// profile put there (read-only binds of the host keep their exec bit for
// the same reason a readOnly path of landlock can be mapped).
func (c *compiler) landlockNoExec(target string) bool {
	l := &c.p.Security.Landlock
	if l.Mode == spec.LandlockOff || len(l.ReadOnly)+len(l.ReadWrite)+len(l.ReadExec) == 0 {
		return false // landlock does not restrict execution
	}
	target = path.Clean(target)
	for _, p := range l.ReadExec {
		p = path.Clean(p)
		if p == "/" || target == "/" || p == target ||
			strings.HasPrefix(target, p+"/") || strings.HasPrefix(p, target+"/") {
			return false
		}
	}
	return true
}

// writable reports whether the command can write into the mount m (an
// overlay always; a tmpfs always; a bind when it says so).
func writable(m *spec.Mount) bool {
	switch m.Type {
	case spec.MountBind:
		return m.Writable
	case spec.MountTmpfs, spec.MountOverlay:
		return true
	case spec.MountInvalid, spec.MountProc, spec.MountDev, spec.MountDir, spec.MountFile, spec.MountSymlink, spec.MountSysfs, spec.MountMqueue, spec.MountCgroup:
	}
	return false
}

// noExec reports whether the mount m gets MOUNT_ATTR_NOEXEC: when the
// profile asks, or when landlock makes its writable target non-executable.
func (c *compiler) noExec(m *spec.Mount) bool {
	return m.NoExec || writable(m) && c.landlockNoExec(m.Target)
}
