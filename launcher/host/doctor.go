package host

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/cgroup/cgroupfs"
	"github.com/cellsandbox/cell/launcher/landlock/lsm"
)

// Status is the outcome of one check.
type Status string

// The outcomes: the feature works, does not (and what needs it fails), or
// works with a limitation.
const (
	OK   Status = "ok"
	Fail Status = "fail"
	Warn Status = "warn"
)

// Check is one thing `cell doctor` looks at.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	// Fix is the exact change that would make it work, when there is one.
	Fix string `json:"fix,omitempty"`
}

func readTrim(p string) (string, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// Diagnose checks what sandboxes need of this host for the caller f
// (probed; SubIDs filled by Diagnose when nil).
func Diagnose(f *Facts) []Check {
	var out []Check
	add := func(c Check) { out = append(out, c) }

	var u unix.Utsname
	if unix.Uname(&u) == nil {
		add(Check{Name: "kernel", Status: OK, Detail: unix.ByteSliceToString(u.Release[:])})
	}
	add(userNamespaces(f))
	if v, ok := readTrim("/proc/self/status"); ok {
		for _, line := range strings.Split(v, "\n") {
			if val, ok := strings.CutPrefix(line, "NoNewPrivs:"); ok && strings.TrimSpace(val) == "1" {
				add(Check{Name: "no_new_privs", Status: Warn, Detail: "cell runs with no_new_privs already set, which stops the setuid newuidmap and newgidmap from working",
					Fix: "start cell from a process without no_new_privs (a sandbox or a systemd unit with NoNewPrivileges=yes sets it)"})
			}
		}
	}
	if f.SubIDs == nil {
		if err := f.ProbeSubIDs(); err != nil {
			add(Check{Name: "subordinate IDs", Status: Fail, Detail: err.Error()})
		}
	}
	if s := f.SubIDs; s != nil && f.Rootless() {
		add(subIDCheck("newuidmap", s.NewUIDMap, SubUIDFile, s.UIDs, f.User))
		add(subIDCheck("newgidmap", s.NewGIDMap, SubGIDFile, s.GIDs, f.User))
	}
	add(cgroupCheck(f))
	if abi, err := lsm.ABI(); abi > 0 {
		add(Check{Name: "landlock", Status: OK, Detail: fmt.Sprintf("ABI %d", abi)})
	} else {
		add(Check{Name: "landlock", Status: Warn, Detail: fmt.Sprintf("not available (%v): profiles with landlock mode require fail, bestEffort runs without it", err),
			Fix: "boot a kernel with CONFIG_SECURITY_LANDLOCK=y and landlock in lsm="})
	}
	if f.TimeNamespace {
		add(Check{Name: "time namespace", Status: OK, Detail: "available"})
	} else {
		add(Check{Name: "time namespace", Status: Warn, Detail: "not available: profiles need namespaces.time: host", Fix: "Linux 5.6 or later"})
	}
	out = append(out, networkChecks(f)...)
	if v, ok := readTrim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); ok && v == "1" && f.Rootless() {
		add(Check{Name: "apparmor", Status: Warn, Detail: "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10 and later)",
			Fix: "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for cell with the userns rule"})
	}
	return out
}

// userNamespaces tries what cell does first: a child in a new user
// namespace with the caller mapped, and explains a refusal.
func userNamespaces(f *Facts) Check {
	c := Check{Name: "user namespaces"}
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
		c.Status, c.Detail = OK, "a new user namespace with the caller mapped works"
		return c
	}
	c.Status, c.Detail = Fail, "creating a user namespace failed: "+err.Error()
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

func subIDCheck(helper, path, file string, ranges []SubRange, user string) Check {
	c := Check{Name: helper}
	if path == "" {
		c.Status, c.Detail, c.Fix = Fail, helper+" is not installed: only your own uid and gid can be mapped", "apt-get install uidmap"
		return c
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode()&os.ModeSetuid == 0 {
		c.Status, c.Detail, c.Fix = Fail, path+" is not setuid root", "chmod u+s "+path
		return c
	}
	if len(ranges) == 0 {
		c.Status, c.Detail = Warn, fmt.Sprintf("%s has no range for %s: profiles with outside: %s fail", file, user, strings.TrimPrefix(file, "/etc/"))
		flag := "--add-subuids"
		if file == SubGIDFile {
			flag = "--add-subgids"
		}
		c.Fix = fmt.Sprintf("usermod %s 100000-165535 %s (as root), or add the line %s:100000:65536 to %s", flag, user, user, file)
		return c
	}
	var parts []string
	for _, r := range ranges {
		parts = append(parts, strconv.FormatUint(uint64(r.Start), 10)+"+"+strconv.FormatUint(uint64(r.Count), 10))
	}
	c.Status, c.Detail = OK, fmt.Sprintf("%s, %s gives %s %s", path, file, user, strings.Join(parts, ", "))
	return c
}

func cgroupCheck(f *Facts) Check {
	c := Check{Name: "cgroups"}
	l, err := cgroupfs.Probe()
	if err != nil {
		c.Status, c.Detail = Fail, err.Error()
		return c
	}
	c.Detail = l.Version()
	switch {
	case l.Version() == "none":
		c.Status, c.Detail = Fail, "no cgroup hierarchy is mounted: profiles with resources fail"
		c.Fix = "mount -t cgroup2 none /sys/fs/cgroup"
	case f.Rootless() && l.Delegated == "":
		c.Status = Warn
		c.Detail += ": no cgroup is delegated to you (" + l.NoDelegation + "), so profiles with resources fail"
		c.Fix = "run cell in a delegated scope: systemd-run --user --scope -p Delegate=yes cell run ..."
	case f.Rootless():
		c.Status, c.Detail = OK, c.Detail+", delegated: "+l.Delegated
	default:
		c.Status = OK
		if len(l.V1) > 0 {
			c.Detail += fmt.Sprintf(" (v1 controllers: %d)", len(l.V1))
		}
	}
	return c
}

// networkChecks says what network.mode user and bridge need here.
func networkChecks(f *Facts) []Check {
	f.ProbeNetwork()
	var out []Check
	user := Check{Name: "network user", Status: OK, Detail: "slirp4netns at " + f.UserNetHelper + ", /dev/net/tun usable"}
	switch {
	case f.UserNetHelper == "":
		user = Check{Name: "network user", Status: Warn, Detail: "slirp4netns is not installed: profiles with network.mode user cannot run",
			Fix: "apt-get install slirp4netns (dnf install slirp4netns)"}
	case !f.TunAccess:
		user = Check{Name: "network user", Status: Warn, Detail: "this user may not open /dev/net/tun: profiles with network.mode user cannot run",
			Fix: "chmod 0666 /dev/net/tun (the default of most distributions; the device only makes interfaces in namespaces the opener controls)"}
	}
	out = append(out, user)
	if f.Rootless() {
		return out
	}
	if v, ok := readTrim("/proc/sys/net/ipv4/ip_forward"); ok && v != "1" {
		out = append(out, Check{Name: "network bridge", Status: Warn, Detail: "net.ipv4.ip_forward is " + v + ": bridged profiles with nat: true are refused (cell does not change it)",
			Fix: "sysctl -w net.ipv4.ip_forward=1"})
	} else {
		out = append(out, Check{Name: "network bridge", Status: OK, Detail: "net.ipv4.ip_forward is 1"})
	}
	return out
}
