// Package host holds the facts about the running system that compiling a
// plan depends on, in one value. It does no I/O: the subpackage probe
// gathers the facts, once, and compilation itself reads nothing from the
// host.
package host

import (
	"net/netip"
	"strings"

	"github.com/cellsandbox/cell/internal/cgroup"
)

// Facts are the properties of the host and the caller that a plan depends
// on.
type Facts struct {
	// UID and GID are the caller's real IDs; EUID its effective UID.
	UID, GID, EUID uint32
	// User and Home are the caller's login name and home directory.
	User, Home string
	// Cwd is the caller's working directory, as the kernel has it (no
	// symlinks).
	Cwd string
	// TimeNamespace reports whether the kernel has time namespaces.
	TimeNamespace bool
	// NestedUserNS reports that cell runs in a user namespace other than
	// the initial one (its uid_map is not the identity of every ID), as
	// rootless podman runs its runtime: no process there can make a
	// device node, which takes CAP_MKNOD in the initial one.
	NestedUserNS bool
	// Env is the caller's environment, for passEnv and ${env:NAME}.
	Env []string
	// Cgroup is the host's cgroup layout; nil when it was not probed
	// (a profile without limits does not need it).
	Cgroup *cgroup.Layout
	// Device returns the major and minor number of a block device file.
	Device func(path string) (major, minor uint32, err error)
	// LandlockABI is the kernel's Landlock ABI version, 0 without
	// Landlock; probed only for profiles that use it.
	LandlockABI int
	// SubIDs are the caller's subordinate ID ranges; nil when not probed
	// (only profiles that map more than the caller's own IDs need them).
	SubIDs *SubIDs
	// IDPool is the pool that `outside: pick` leases from, and what the
	// host gives out besides; nil when not probed (only a privileged
	// caller's profiles with pick need it).
	IDPool *IDPool
	// Nameservers are the host's name servers (/etc/resolv.conf), for a
	// sandbox on a bridge; UserNetHelper is the path of slirp4netns, ""
	// when it is not installed. Probed for those network modes only.
	Nameservers   []string
	UserNetHelper string
	// TunAccess reports whether the caller may open /dev/net/tun, which
	// the user-mode helper needs (some hosts make it root's only).
	TunAccess bool
}

// Rootless reports whether the caller is an unprivileged user.
func (f *Facts) Rootless() bool { return f.EUID != 0 }

// LookupEnv finds name in f.Env.
func (f *Facts) LookupEnv(name string) (string, bool) {
	for i := len(f.Env) - 1; i >= 0; i-- {
		kv := f.Env[i]
		if len(kv) > len(name) && kv[len(name)] == '=' && kv[:len(name)] == name {
			return kv[len(name)+1:], true
		}
	}
	return "", false
}

// ParseNameservers returns the addresses of resolv.conf's nameserver
// lines, in order.
func ParseNameservers(conf string) []string {
	var out []string
	for _, line := range strings.Split(conf, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil {
				out = append(out, a.String())
			}
		}
	}
	return out
}
