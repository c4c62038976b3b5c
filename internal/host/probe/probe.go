// Package probe reads the host facts (host.Facts) that compiling a plan
// depends on, once, from the running system, and diagnoses the host for
// `cell doctor`. Compilation itself reads nothing from the host: the
// facts are a plain value, in the package host, which does no I/O.
package probe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/cgroup/cgroupfs"
	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/internal/ids"
	"github.com/cellsandbox/cell/internal/landlock/lsm"
)

// Host reads the facts of the running process and system.
func Host() (*host.Facts, error) {
	f := &host.Facts{
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
	if m, err := os.ReadFile("/proc/self/uid_map"); err == nil {
		f.NestedUserNS = strings.Join(strings.Fields(string(m)), " ") != "0 0 4294967295"
	} else {
		return nil, fmt.Errorf("probe host: %w", err)
	}
	if _, err := os.Stat("/proc/self/ns/time"); err == nil {
		f.TimeNamespace = true
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("probe host: %w", err)
	}
	return f, nil
}

// Network fills f.Nameservers and f.UserNetHelper, for the network
// modes bridge and user.
func Network(f *host.Facts) {
	f.Nameservers = nil
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		f.Nameservers = host.ParseNameservers(string(b))
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

// Landlock fills f.LandlockABI.
func Landlock(f *host.Facts) {
	f.LandlockABI, _ = lsm.ABI()
}

// Cgroup fills f.Cgroup.
func Cgroup(f *host.Facts) error {
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

// SubIDs fills f.SubIDs from /etc/subuid, /etc/subgid and PATH. A
// missing file means no allocation.
func SubIDs(f *host.Facts) error {
	s := &host.SubIDs{}
	for _, file := range []struct {
		name string
		id   uint32
		dst  *[]host.SubRange
	}{{host.SubUIDFile, f.UID, &s.UIDs}, {host.SubGIDFile, f.GID, &s.GIDs}} {
		b, err := os.ReadFile(file.name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("probe subordinate IDs: %w", err)
		}
		if *file.dst, err = host.ParseSubIDs(b, f.User, file.id); err != nil {
			return fmt.Errorf("%s: %w", file.name, err)
		}
	}
	s.NewUIDMap, s.NewGIDMap = helper("newuidmap"), helper("newgidmap")
	f.SubIDs = s
	return nil
}

// helper finds a setuid helper in PATH, or where distributions install it
// (a caller's PATH may be empty or minimal).
func helper(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// IDPool fills f.IDPool: the pool from CELL_ID_POOL, /etc/cell/id-pool
// or the default, and what the host's user database, subordinate ranges
// and login.defs give out.
func IDPool(f *host.Facts) error {
	p := &host.IDPool{Pool: ids.DefaultPool, From: "default"}
	if v, ok := f.LookupEnv(ids.PoolEnv); ok && v != "" {
		pool, err := ids.ParsePool(v)
		if err != nil {
			return fmt.Errorf("%s: %w", ids.PoolEnv, err)
		}
		p.Pool, p.From = pool, ids.PoolEnv
	} else if b, err := os.ReadFile(ids.PoolFile); err == nil {
		pool, err := ids.ParsePool(string(b))
		if err != nil {
			return fmt.Errorf("%s: %w", ids.PoolFile, err)
		}
		p.Pool, p.From = pool, ids.PoolFile
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("probe the ID pool: %w", err)
	}
	p.Taken = append(p.Taken, host.Taken{Start: 0, Count: 65536, What: "the IDs below 65536 (system and login users, nobody)"})
	for _, file := range []string{host.SubUIDFile, host.SubGIDFile} {
		b, err := os.ReadFile(file)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("probe the ID pool: %w", err)
		}
		p.Taken = append(p.Taken, allSubIDs(b, file)...)
	}
	defs := map[string]uint64{
		"UID_MIN": 1000, "UID_MAX": 60000, "GID_MIN": 1000, "GID_MAX": 60000,
		"SUB_UID_MIN": 100000, "SUB_UID_MAX": 600100000, "SUB_GID_MIN": 100000, "SUB_GID_MAX": 600100000,
	}
	if b, err := os.ReadFile(host.LoginDefs); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			if _, known := defs[f[0]]; known {
				if v, err := strconv.ParseUint(f[1], 0, 32); err == nil {
					defs[f[0]] = v
				}
			}
		}
	}
	for _, r := range [][3]string{{"UID_MIN", "UID_MAX", "login users"}, {"GID_MIN", "GID_MAX", "login groups"},
		{"SUB_UID_MIN", "SUB_UID_MAX", "subordinate UIDs useradd gives out"}, {"SUB_GID_MIN", "SUB_GID_MAX", "subordinate GIDs useradd gives out"}} {
		lo, hi := defs[r[0]], defs[r[1]]
		if hi >= lo {
			p.Taken = append(p.Taken, host.Taken{Start: uint32(lo), Count: uint32(hi - lo + 1), What: fmt.Sprintf("%s %s..%s (%s)", host.LoginDefs, r[0], r[1], r[2])})
		}
	}
	for _, file := range []string{"/etc/passwd", "/etc/group"} {
		b, _ := os.ReadFile(file)
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Split(sc.Text(), ":")
			if len(f) < 3 {
				continue
			}
			if id, err := strconv.ParseUint(f[2], 10, 32); err == nil && id >= 65536 {
				p.Taken = append(p.Taken, host.Taken{Start: uint32(id), Count: 1, What: fmt.Sprintf("%s entry %s", file, f[0])})
			}
		}
	}
	f.IDPool = p
	return nil
}

// allSubIDs returns every range of a subuid/subgid file, each named by
// its user; lines it cannot read are skipped (shadow-utils skips them too).
func allSubIDs(data []byte, file string) []host.Taken {
	var out []host.Taken
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) != 3 {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count > 1<<32-1 {
			continue
		}
		out = append(out, host.Taken{Start: uint32(start), Count: uint32(count), What: fmt.Sprintf("%s entry of %s", file, f[0])})
	}
	return out
}
func readTrim(p string) (string, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// Diagnose checks what sandboxes need of this host for the caller f
// (probed; host.SubIDs filled by Diagnose when nil).
func Diagnose(f *host.Facts) []host.Check {
	var out []host.Check
	add := func(c host.Check) { out = append(out, c) }

	var u unix.Utsname
	if unix.Uname(&u) == nil {
		add(host.Check{Name: "kernel", Status: host.OK, Detail: unix.ByteSliceToString(u.Release[:])})
	}
	add(userNamespaces(f))
	if v, ok := readTrim("/proc/self/status"); ok {
		for _, line := range strings.Split(v, "\n") {
			if val, ok := strings.CutPrefix(line, "NoNewPrivs:"); ok && strings.TrimSpace(val) == "1" {
				add(host.Check{Name: "no_new_privs", Status: host.Warn, Detail: "cell runs with no_new_privs already set, which stops the setuid newuidmap and newgidmap from working",
					Fix: "start cell from a process without no_new_privs (a sandbox or a systemd unit with NoNewPrivileges=yes sets it)"})
			}
		}
	}
	if f.SubIDs == nil {
		if err := SubIDs(f); err != nil {
			add(host.Check{Name: "subordinate IDs", Status: host.Fail, Detail: err.Error()})
		}
	}
	if s := f.SubIDs; s != nil && f.Rootless() {
		add(subIDCheck("newuidmap", s.NewUIDMap, host.SubUIDFile, s.UIDs, f.User))
		add(subIDCheck("newgidmap", s.NewGIDMap, host.SubGIDFile, s.GIDs, f.User))
	}
	add(cgroupCheck(f))
	if abi, err := lsm.ABI(); abi > 0 {
		add(host.Check{Name: "landlock", Status: host.OK, Detail: fmt.Sprintf("ABI %d", abi)})
	} else {
		add(host.Check{Name: "landlock", Status: host.Warn, Detail: fmt.Sprintf("not available (%v): profiles with landlock mode require fail, bestEffort runs without it", err),
			Fix: "boot a kernel with CONFIG_SECURITY_LANDLOCK=y and landlock in lsm="})
	}
	if f.TimeNamespace {
		add(host.Check{Name: "time namespace", Status: host.OK, Detail: "available"})
	} else {
		add(host.Check{Name: "time namespace", Status: host.Warn, Detail: "not available: profiles need namespaces.time: host", Fix: "Linux 5.6 or later"})
	}
	out = append(out, networkChecks(f)...)
	if v, ok := readTrim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); ok && v == "1" && f.Rootless() {
		add(host.Check{Name: "apparmor", Status: host.Warn, Detail: "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10 and later)",
			Fix: "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for cell with the userns rule"})
	}
	return out
}

// userNamespaces tries what cell does first: a child in a new user
// namespace with the caller mapped, and explains a refusal.
func userNamespaces(f *host.Facts) host.Check {
	c := host.Check{Name: "user namespaces"}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{"cell-doctor-probe"}
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: int(f.UID), HostID: int(f.UID), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: int(f.GID), HostID: int(f.GID), Size: 1}},
	}
	err := cmd.Start()
	if err == nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		c.Status, c.Detail = host.OK, "a new user namespace with the caller mapped works"
		return c
	}
	c.Status, c.Detail = host.Fail, "creating a user namespace failed: "+err.Error()
	switch {
	case sysctlIs("/proc/sys/kernel/unprivileged_userns_clone", "0") && f.Rootless():
		c.Fix = "sysctl -w kernel.unprivileged_userns_clone=1"
	case sysctlIs("/proc/sys/user/max_user_namespaces", "0"):
		c.Fix = "sysctl -w user.max_user_namespaces=15000"
	case sysctlIs("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1") && f.Rootless():
		c.Fix = "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
	case errors.Is(err, unix.EPERM):
		c.Fix = "inside a container, its seccomp profile or missing capabilities block unshare; run the container with --security-opt seccomp=unconfined or a profile that allows clone/unshare of user namespaces"
	}
	return c
}

func sysctlIs(p, v string) bool {
	got, ok := readTrim(p)
	return ok && got == v
}

func subIDCheck(helper, path, file string, ranges []host.SubRange, user string) host.Check {
	c := host.Check{Name: helper}
	if path == "" {
		c.Status, c.Detail, c.Fix = host.Fail, helper+" is not installed: only your own uid and gid can be mapped", "apt-get install uidmap"
		return c
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode()&os.ModeSetuid == 0 {
		c.Status, c.Detail, c.Fix = host.Fail, path+" is not setuid root", "chmod u+s "+path
		return c
	}
	if len(ranges) == 0 {
		c.Status, c.Detail = host.Warn, fmt.Sprintf("%s has no range for %s: profiles with outside: %s fail", file, user, strings.TrimPrefix(file, "/etc/"))
		flag := "--add-subuids"
		if file == host.SubGIDFile {
			flag = "--add-subgids"
		}
		c.Fix = fmt.Sprintf("usermod %s 100000-165535 %s (as root), or add the line %s:100000:65536 to %s", flag, user, user, file)
		return c
	}
	var parts []string
	for _, r := range ranges {
		parts = append(parts, strconv.FormatUint(uint64(r.Start), 10)+"+"+strconv.FormatUint(uint64(r.Count), 10))
	}
	c.Status, c.Detail = host.OK, fmt.Sprintf("%s, %s gives %s %s", path, file, user, strings.Join(parts, ", "))
	return c
}

func cgroupCheck(f *host.Facts) host.Check {
	c := host.Check{Name: "cgroups"}
	l, err := cgroupfs.Probe()
	if err != nil {
		c.Status, c.Detail = host.Fail, err.Error()
		return c
	}
	c.Detail = l.Version()
	switch {
	case l.Version() == "none":
		c.Status, c.Detail = host.Fail, "no cgroup hierarchy is mounted: profiles with resources fail"
		c.Fix = "mount -t cgroup2 none /sys/fs/cgroup"
	case f.Rootless() && l.Delegated == "":
		c.Status = host.Warn
		c.Detail += ": no cgroup is delegated to you (" + l.NoDelegation + "), so profiles with resources fail"
		c.Fix = "run cell in a delegated scope: systemd-run --user --scope -p Delegate=yes cell run ..."
	case f.Rootless():
		c.Status, c.Detail = host.OK, c.Detail+", delegated: "+l.Delegated
	default:
		c.Status = host.OK
		if len(l.V1) > 0 {
			c.Detail += fmt.Sprintf(" (v1 controllers: %d)", len(l.V1))
		}
		if len(l.HugePageSizes) > 0 {
			c.Detail += "; huge page sizes " + strings.Join(l.HugePageSizes, ", ")
		}
		// net_cls and net_prio exist only as v1 hierarchies, which many
		// hosts leave unmounted: say so before a profile is refused.
		if l.V1["net_cls"] == "" || l.V1["net_prio"] == "" {
			c.Detail += "; no v1 net_cls and net_prio hierarchies: profiles with resources.net are refused"
		}
	}
	return c
}

// networkChecks says what network.mode user and bridge need here.
func networkChecks(f *host.Facts) []host.Check {
	Network(f)
	var out []host.Check
	user := host.Check{Name: "network user", Status: host.OK, Detail: "slirp4netns at " + f.UserNetHelper + ", /dev/net/tun usable"}
	switch {
	case f.UserNetHelper == "":
		user = host.Check{Name: "network user", Status: host.Warn, Detail: "slirp4netns is not installed: profiles with network.mode user cannot run",
			Fix: "apt-get install slirp4netns (dnf install slirp4netns)"}
	case !f.TunAccess:
		user = host.Check{Name: "network user", Status: host.Warn, Detail: "this user may not open /dev/net/tun: profiles with network.mode user cannot run",
			Fix: "chmod 0666 /dev/net/tun (the default of most distributions; the device only makes interfaces in namespaces the opener controls)"}
	}
	out = append(out, user)
	if f.Rootless() {
		return out
	}
	if v, ok := readTrim("/proc/sys/net/ipv4/ip_forward"); ok && v != "1" {
		out = append(out, host.Check{Name: "network bridge", Status: host.Warn, Detail: "net.ipv4.ip_forward is " + v + ": bridged profiles with nat: true are refused (cell does not change it)",
			Fix: "sysctl -w net.ipv4.ip_forward=1"})
	} else {
		out = append(out, host.Check{Name: "network bridge", Status: host.OK, Detail: "net.ipv4.ip_forward is 1"})
	}
	return out
}
