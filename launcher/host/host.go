// Package host gathers the facts about the running system that compiling
// a plan depends on, once, into one value. Compilation itself reads
// nothing from the host.
package host

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/cgroup"
	"github.com/cellsandbox/cell/launcher/cgroup/cgroupfs"
	"github.com/cellsandbox/cell/launcher/landlock/lsm"
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

// ProbeLandlock fills f.LandlockABI.
func (f *Facts) ProbeLandlock() {
	f.LandlockABI, _ = lsm.ABI()
}

// ProbeCgroup fills f.Cgroup.
func (f *Facts) ProbeCgroup() error {
	l, err := cgroupfs.Probe()
	if err != nil {
		return fmt.Errorf("probe cgroups: %w", err)
	}
	f.Cgroup = l
	return nil
}

// statDevice returns the device number of a block device file.
func statDevice(path string) (uint32, uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, 0, fmt.Errorf("%s is not a block device", path)
	}
	return unix.Major(st.Rdev), unix.Minor(st.Rdev), nil
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

// Probe reads the facts of the running process and system.
func Probe() (*Facts, error) {
	f := &Facts{
		UID:    uint32(os.Getuid()),
		GID:    uint32(os.Getgid()),
		EUID:   uint32(os.Geteuid()),
		Env:    os.Environ(),
		Device: statDevice,
	}
	var err error
	// The kernel's path, without the symlinks a shell's $PWD may hold
	// (os.Getwd prefers $PWD): binds under it resolve without following
	// symlinks, which a path through one would fail.
	if f.Cwd, err = syscall.Getwd(); err != nil {
		return nil, fmt.Errorf("probe host: working directory: %w", err)
	}
	// $USER and $HOME are what the caller means by "me" in a shell; the
	// password database is the fallback (e.g. under a service manager).
	f.User, _ = f.LookupEnv("USER")
	f.Home, _ = f.LookupEnv("HOME")
	if f.User == "" || f.Home == "" {
		if u, err := user.LookupId(strconv.Itoa(int(f.UID))); err == nil {
			if f.User == "" {
				f.User = u.Username
			}
			if f.Home == "" {
				f.Home = u.HomeDir
			}
		}
	}
	if f.User == "" {
		f.User = strconv.Itoa(int(f.UID))
	}
	if f.Home == "" {
		f.Home = "/"
	}
	if _, err := os.Stat("/proc/self/ns/time"); err == nil {
		f.TimeNamespace = true
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("probe host: %w", err)
	}
	return f, nil
}

// ProbeNetwork fills f.Nameservers and f.UserNetHelper, for the network
// modes bridge and user.
func (f *Facts) ProbeNetwork() {
	f.Nameservers = nil
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		f.Nameservers = ParseNameservers(string(b))
	}
	f.TunAccess = unix.Access("/dev/net/tun", unix.R_OK|unix.W_OK) == nil
	f.UserNetHelper = ""
	for _, dir := range []string{"/usr/bin", "/usr/local/bin", "/bin"} {
		p := dir + "/slirp4netns"
		if unix.Access(p, unix.X_OK) == nil {
			f.UserNetHelper = p
			break
		}
	}
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
