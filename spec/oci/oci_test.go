package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cellsandbox/cell/spec"
)

// runcSpec is what `runc spec` writes (runc 1.1), tab-indented, less the
// mounts and masked path cell refuses (mqueue, sysfs, /sys/firmware) and
// the ambient set, which holds capabilities that are not inheritable.
const runcSpec = `{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": true,
		"user": {
			"uid": 0,
			"gid": 0
		},
		"args": [
			"sh"
		],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
		},
		"rlimits": [
			{
				"type": "RLIMIT_NOFILE",
				"hard": 1024,
				"soft": 1024
			}
		],
		"noNewPrivileges": true
	},
	"root": {
		"path": "rootfs",
		"readonly": true
	},
	"hostname": "runc",
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
		{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
		{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}
	],
	"linux": {
		"resources": {
			"devices": [{"allow": false, "access": "rwm"}]
		},
		"namespaces": [
			{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
			{"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
		],
		"maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi"],
		"readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
	},
	"annotations": {"ignored": "yes"},
	"someFutureKey": [1, 2, 3]
}
`

func TestParseRuncSpec(t *testing.T) {
	p, err := Parse("/b/config.json", []byte(runcSpec), "/b")
	if err != nil {
		t.Fatal(err)
	}
	if p.Filesystem.Root.Path != "/b/rootfs" || !p.Filesystem.Root.ReadOnly {
		t.Errorf("root = %+v, want /b/rootfs read-only", p.Filesystem.Root)
	}
	if p.Hostname != "runc" || p.Name != "b" {
		t.Errorf("hostname, name = %q, %q", p.Hostname, p.Name)
	}
	ns := p.Namespaces
	if ns.User != spec.Host || ns.Time != spec.Host || ns.PID != spec.New || ns.Net != spec.New || p.Network.Mode != spec.NetNone {
		t.Errorf("namespaces = %+v, network %s: want user and time host, the rest new, network none", ns, p.Network.Mode)
	}
	var mounts []string
	for _, m := range p.Filesystem.Mounts {
		mounts = append(mounts, m.Type.String()+":"+m.Target+":"+m.Size.String())
	}
	if d := cmp.Diff([]string{"proc:/proc:0", "dev:/dev:0", "tmpfs:/dev/shm:64Mi"}, mounts); d != "" {
		t.Errorf("mounts (-want +got):\n%s", d)
	}
	if p.Filesystem.Mounts[0].Unmasked {
		t.Error("proc is unmasked although maskedPaths asks for the masks")
	}
	if d := cmp.Diff(map[string]string{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "xterm"}, p.Process.Env); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	caps := p.Security.Capabilities
	if d := cmp.Diff([]spec.Capability{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}, caps.Bounding); d != "" || len(caps.Ambient) != 0 {
		t.Errorf("bounding (-want +got):\n%s; ambient %v", d, caps.Ambient)
	}
	if r := p.Security.Rlimits["nofile"]; r.Soft.Value != 1024 || r.Hard.Value != 1024 {
		t.Errorf("nofile = %+v", r)
	}
	if !p.Security.NoNewPrivs() || p.Security.Seccomp.Mode != spec.SeccompUnconfined {
		t.Errorf("noNewPrivs %v, seccomp %s: want true, unconfined (no seccomp object)", p.Security.NoNewPrivs(), p.Security.Seccomp.Mode)
	}
	if got := p.At("hostname"); got != (spec.Pos{File: "/b/config.json", Line: 35, Col: 14}) {
		t.Errorf("At(hostname) = %s, want /b/config.json:35:14", got)
	}
	if got := p.At("filesystem.mounts[2].size"); got.Line != 40 {
		t.Errorf("At(filesystem.mounts[2].size) = %s, want line 40", got)
	}
}

// TestParseMapping checks single translations against what the runtime
// spec means.
func TestParseMapping(t *testing.T) {
	const base = `{"ociVersion": "1.0.2", "root": {"path": "/r"}, %s}`
	for _, tc := range []struct {
		name, json string
		check      func(p *spec.Profile) string
	}{
		{"defaults differ from cell's", `"process": {"args": ["true"]}, "linux": {"namespaces": [{"type": "mount"}]}`, func(p *spec.Profile) string {
			if p.Security.NoNewPrivs() || p.Security.GuardsSetID() || p.Namespaces.PID != spec.Host || p.Namespaces.User != spec.Host || p.Network.Mode != spec.NetHost {
				return "want no_new_privs and the set-ID guard off, every namespace but mount the host's, network host"
			}
			return ""
		}},
		{"user and maps", `"process": {"user": {"uid": 1000, "gid": 100, "additionalGids": [5], "umask": 63}}, "linux": {"namespaces": [{"type": "user"}, {"type": "mount"}, {"type": "network"}], "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}, {"containerID": 1000, "hostID": 300000, "size": 1}], "gidMappings": [{"containerID": 0, "hostID": 100, "size": 1}, {"containerID": 100, "hostID": 300000, "size": 1}, {"containerID": 5, "hostID": 300005, "size": 1}]}`, func(p *spec.Profile) string {
			ids := p.IDs
			if ids.UID != 1000 || ids.GID != 100 || len(ids.Groups) != 1 || len(ids.UIDMap) != 2 || ids.UIDMap[1].Outside != 300000 || *p.Process.Umask != 0o077 {
				return "got " + p.Name
			}
			return ""
		}},
		{"resources", `"linux": {"resources": {"memory": {"limit": 1073741824, "swap": 2147483648}, "pids": {"limit": 100}, "cpu": {"quota": 150000, "period": 500000, "shares": 1000, "cpus": "0-1"}, "blockIO": {"weight": 500}}, "namespaces": [{"type": "mount"}]}`, func(p *spec.Profile) string {
			r := p.Resources
			switch {
			case r.Memory.Max.Value != 1<<30 || r.Memory.Swap.Value != 1<<30:
				return "memory: max " + r.Memory.Max.String() + " swap " + r.Memory.Swap.String() + ", want 1Gi, 1Gi (swap is memory+swap in the runtime spec)"
			case r.Pids.Max.Value != 100 || r.CPU.Max.String() != "0.3" || r.CPU.Period != 500000 || r.CPU.Cpus != "0-1":
				return "pids " + r.Pids.Max.String() + " cpu " + r.CPU.Max.String() + " per " + strconv.FormatUint(r.CPU.Period, 10) + " µs"
			case r.CPU.Shares != 1000 || r.CPU.Weight != 0:
				return "cpu shares: exactly as given (v1's), not a weight"
			case r.IO.Weight != 4950:
				return "io weight, converted as runc does"
			}
			return ""
		}},
		{"huge pages and network", `"linux": {"namespaces": [{"type": "mount"}], "resources": {"hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}, {"pageSize": "1GB", "limit": 18446744073709551615}], "network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 10}, {"name": "eth0", "priority": 30}]}}}`, func(p *spec.Profile) string {
			r := p.Resources
			switch {
			case len(r.HugeTLB) != 2 || r.HugeTLB["2MB"] != (spec.Limit{Value: 200 << 20}) || !r.HugeTLB["1GB"].Max:
				return fmt.Sprintf("hugetlb %v, want 2MB 200Mi and 1GB max (a limit beyond the kernel's counter)", r.HugeTLB)
			case r.Net.ClassID != 1048577 || len(r.Net.Priorities) != 2 || r.Net.Priorities["lo"] != 10 || r.Net.Priorities["eth0"] != 30:
				return fmt.Sprintf("net %+v", r.Net)
			}
			return ""
		}},
		{"sysctl and propagation", `"mounts": [{"destination": "/t", "type": "tmpfs", "options": ["rshared", "size=1k"]}, {"destination": "/e", "source": "/etc", "options": ["bind", "unbindable", "mode=755", "size=1k"]}], "linux": {"namespaces": [{"type": "mount"}, {"type": "network"}], "sysctl": {"net.ipv4.ip_forward": "1"}, "rootfsPropagation": "slave"}`, func(p *spec.Profile) string {
			m := p.Filesystem.Mounts
			switch {
			case p.Sysctl["net.ipv4.ip_forward"] != "1":
				return fmt.Sprintf("sysctl %v", p.Sysctl)
			case p.Filesystem.Root.Propagation != spec.PropagationSlave:
				return "root propagation " + p.Filesystem.Root.Propagation.String()
			case m[0].Propagation != spec.PropagationRShared || m[0].Size != 1024:
				return "tmpfs " + m[0].Propagation.String()
			case m[1].Propagation != spec.PropagationUnbindable:
				return "bind " + m[1].Propagation.String() + " (size and mode, which mount(2) ignores on a bind, dropped)"
			}
			return ""
		}},
		{"cgroup mount", `"mounts": [{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}], "linux": {"namespaces": [{"type": "mount"}]}`, func(p *spec.Profile) string {
			if m := p.Filesystem.Mounts; len(m) != 1 || m[0].Type != spec.MountCgroup || m[0].Target != "/sys/fs/cgroup" {
				return fmt.Sprintf("mounts %+v, want one cgroup mount at /sys/fs/cgroup", m)
			}
			return ""
		}},
		{"devices", `"mounts": [{"destination": "/dev", "type": "tmpfs"}], "linux": {"namespaces": [{"type": "mount"}], "devices": [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3}, {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 384, "uid": 1}, {"path": "/dev/p", "type": "p"}], "resources": {"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}, {"allow": true, "type": "b", "major": 8, "access": "r"}]}}`, func(p *spec.Profile) string {
			d := p.Filesystem.Mounts[0].Devices
			r := p.Resources.Devices
			switch {
			case len(d) != 2 || d[0].Path != "/dev/fuse" || d[0].Type != spec.DeviceChar || d[0].Major != 10 || d[0].Minor != 229 || *d[0].Mode != 0o600 || d[0].UID != 1 || d[1].Type != spec.DeviceFIFO:
				return fmt.Sprintf("nodes %+v (/dev/null, which cell's /dev has, left out)", d)
			case len(r) != 2 || r[0].Type != spec.DeviceChar || *r[0].Major != 10 || *r[0].Minor != 229 || r[0].Access != "rw" || r[1].Type != spec.DeviceBlock || r[1].Minor != nil:
				return fmt.Sprintf("rules %+v (the leading deny of all is cell's default)", r)
			}
			return ""
		}},
		{"joined namespaces", `"linux": {"namespaces": [{"type": "mount", "path": "/proc/7/ns/mnt"}, {"type": "network", "path": "/run/netns/x"}, {"type": "pid"}]}`, func(p *spec.Profile) string {
			ns := p.Namespaces
			if ns.Join.Mount != "/proc/7/ns/mnt" || ns.Join.Net != "/run/netns/x" || ns.Join.PID != "" || ns.Mount != spec.New || ns.Net != spec.New || ns.UTS != spec.Host {
				return fmt.Sprintf("namespaces %+v", ns)
			}
			return ""
		}},
		{"bind options", `"mounts": [{"destination": "/data", "type": "bind", "source": "data", "options": ["bind", "ro", "noexec"]}, {"destination": "/w", "source": "/srv", "options": ["rbind", "rw"]}], "linux": {"namespaces": [{"type": "mount"}]}`, func(p *spec.Profile) string {
			a, b := p.Filesystem.Mounts[0], p.Filesystem.Mounts[1]
			if a.Source != "/bundle/data" || a.Writable || !a.NoExec || a.IsRecursive() || !b.Writable || !b.IsRecursive() {
				return "got " + a.Source
			}
			return ""
		}},
		{"seccomp filter of its own", `"linux": {"namespaces": [{"type": "mount"}], "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}, {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]}, {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}}`, func(p *spec.Profile) string {
			sc := p.Security.Seccomp
			switch {
			case sc.Mode != spec.SeccompRules || sc.DefaultAction != "errno" || sc.DefaultErrno != "ENOSYS" || len(sc.Rules) != 3:
				return "got mode " + sc.Mode.String() + " default " + sc.DefaultAction + " " + sc.DefaultErrno
			case sc.Rules[1].Args[0] != (spec.SeccompArg{Index: 0, Op: "maskedEq", Mask: 255, Value: 8}):
				return "masked comparison: the runtime spec's value is the mask, valueTwo the value"
			case sc.Rules[2].Action != "errno" || sc.Rules[2].Errno != "EPERM":
				return "errnoRet 1 is EPERM"
			}
			return ""
		}},
		{"sysfs, mqueue, sources, cgroupsPath", `"mounts": [{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro", "nosuid"]}, {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"}, {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"}], "linux": {"namespaces": [{"type": "mount"}, {"type": "ipc"}], "cgroupsPath": "/pods/box", "resources": {"pids": {"limit": 10}}}`, func(p *spec.Profile) string {
			m := p.Filesystem.Mounts
			switch {
			case m[0].Type != spec.MountSysfs || m[1].Type != spec.MountMqueue || m[2].Device != "shm" || m[0].Device != "":
				return "mounts " + m[0].Type.String() + " " + m[1].Type.String() + " device " + m[2].Device
			case p.Resources.Parent != "/pods" || CgroupName("/pods/box") != "box":
				return "cgroupsPath: parent " + p.Resources.Parent
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("config.json", []byte(strings.Replace(base, "%s", tc.json, 1)), "/bundle")
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(p); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// TestParseErrors checks that what cell cannot apply, and invalid values,
// are errors at their JSON position, all at once.
func TestParseErrors(t *testing.T) {
	const data = `{
	"ociVersion": "2.0.0",
	"process": {"args": ["sh"], "env": ["X"], "apparmorProfile": "p", "user": {"uid": -1}},
	"root": {"path": ""},
	"hooks": {"prestart": [{"path": "/bin/true"}]},
	"mounts": [
		{"destination": "/sys", "type": "sysfs"},
		{"destination": "/m", "type": "mqueue"},
		{"destination": "/c", "type": "cgroup"},
		{"destination": "/b", "type": "bind", "source": "/x", "options": ["rbind", "suid"]},
		{"destination": "/t", "type": "tmpfs", "options": ["size=lots"]},
		{"destination": "/pts", "type": "devpts"}
	],
	"linux": {
		"namespaces": [{"type": "time", "path": "/run/netns/x"}, {"type": "bogus"}, {"type": "mount"}],
		"sysctl": {"a": "1"},
		"seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_LOG"]},
		"devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}],
		"maskedPaths": ["/sys/firmware"],
		"resources": {"devices": [{"allow": true, "access": "rwm"}, {"allow": false}], "memory": {"reservation": 1}, "cpu": {"quota": 33333, "period": 100000}, "blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}]}, "hugepageLimits": [{"pageSize": "3MB", "limit": 1}], "network": {"priorities": [{"name": "lo", "priority": 1}, {"name": "lo", "priority": 2}]}},
		"rootfsPropagation": "sharing"
	}
}`
	_, err := Parse("config.json", []byte(data), "/b")
	var el spec.ErrorList
	if !errors.As(err, &el) {
		t.Fatalf("err = %v, want an ErrorList", err)
	}
	var got []string
	for _, e := range el {
		got = append(got, e.Pos.String()+" "+e.Path)
	}
	want := []string{
		"config.json:2:16 ociVersion",
		"config.json:3:38 process.env[0]",
		"config.json:3:63 process.apparmorProfile",
		"config.json:3:84 process.user.uid",
		"config.json:4:19 root.path",
		"config.json:5:11 hooks",
		"config.json:7:3 mounts[0].options",
		"config.json:8:3 mounts[1] (cell filesystem.mounts[1].type)",
		"config.json:9:3 mounts[2].options",
		"config.json:10:78 mounts[3].options[1]",
		"config.json:11:54 mounts[4].options[0]",
		"config.json:12:19 mounts[5].destination",
		"config.json:15:43 linux.namespaces[0].path",
		"config.json:15:69 linux.namespaces[1].type",
		"config.json:16:19 linux.sysctl.a (cell sysctl.a)",
		"config.json:17:59 linux.seccomp.flags",
		"config.json:18:15 linux.devices[0]",
		"config.json:19:19 linux.maskedPaths[0]",
		"config.json:20:73 linux.resources.devices[1].allow",
		"config.json:20:108 linux.resources.memory.reservation",
		"config.json:20:129 linux.resources.cpu.quota",
		"config.json:20:192 linux.resources.blockIO.throttleReadBpsDevice",
		"config.json:20:264 linux.resources.hugepageLimits[0].pageSize",
		"config.json:20:352 linux.resources.network.priorities[1].name",
		"config.json:21:24 linux.rootfsPropagation",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("errors (-want +got):\n%s\n%s", d, strings.Join(got, "\n"))
	}
}

// TestParseCellValidation checks that errors cell's own validation finds
// are placed in the JSON too.
func TestParseCellValidation(t *testing.T) {
	const data = `{"ociVersion": "1.0.2", "root": {"path": "/"},
  "hostname": "h",
  "process": {"capabilities": {"bounding": ["CAP_NOPE"]}}}`
	_, err := Parse("config.json", []byte(data), "/b")
	var el spec.ErrorList
	if !errors.As(err, &el) {
		t.Fatalf("err = %v, want an ErrorList", err)
	}
	var got []string
	for _, e := range el {
		got = append(got, e.Error())
	}
	want := []string{
		`config.json:1:42: root.path (cell filesystem.root.path): needs a directory other than "/" with namespaces.mount: host (the command would be chrooted into the host's root, and cell's mounts made over the host's)`,
		"config.json:2:15: hostname: needs namespaces.uts: new",
		`config.json:3:31: process.capabilities (cell security.capabilities): bounding: unknown capability "CAP_NOPE"`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
}

func TestLoadBundle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "My Bundle")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigName), []byte(runcSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, ok := Bundle(dir); !ok || f != filepath.Join(dir, ConfigName) {
		t.Errorf("Bundle(dir) = %q, %v", f, ok)
	}
	if _, ok := Bundle(filepath.Dir(dir)); ok {
		t.Error("a directory without config.json is a bundle")
	}
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "my-bundle" || p.Filesystem.Root.Path != filepath.Join(dir, "rootfs") {
		t.Errorf("name %q root %q", p.Name, p.Filesystem.Root.Path)
	}
}

func TestParseNotJSON(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"", "config.json:1:1: invalid JSON: unexpected end of JSON input"},
		{"a: b\n", "config.json:1:1: invalid JSON: invalid character 'a' looking for beginning of value"},
		{"[1]", "config.json:1:1: invalid JSON: must be a JSON object"},
		{"{\n\"a\": [\n}", "config.json:3:1: invalid JSON: invalid character '}' looking for beginning of value"},
		{"{\"a\": 1}\n{}", "config.json:2:1: invalid JSON: invalid character '{' after top-level value"},
		{"{a: 1}", "config.json:1:2: invalid JSON: invalid character 'a' looking for beginning of object key string"},
	} {
		_, err := Parse("config.json", []byte(tc.data), "/b")
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) = %v, want %s", tc.data, err, tc.want)
		}
	}
}

// TestDeviceRules checks that containerd's default device rules (deny
// all, then allow each default device) and other allow rules are
// accepted (they become the sandbox's device cgroup), and that what a
// device cgroup cannot say is refused at its position.
func TestDeviceRules(t *testing.T) {
	const head = `{"ociVersion": "1.0.2", "root": {"path": "r"}, "process": {"args": ["sh"], "cwd": "/"},
  "linux": {"namespaces": [{"type": "mount"}], "resources": {"devices": [
    {"allow": false, "access": "rwm"},
`
	const containerd = `    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
    {"allow": true, "type": "c", "major": 136, "access": "rwm"},
    {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"}`
	if _, err := Parse("config.json", []byte(head+containerd+"]}}}"), "/b"); err != nil {
		t.Errorf("containerd's default device rules: %v", err)
	}
	// Every allow rule becomes a rule of the sandbox's device cgroup;
	// what a device cgroup cannot say is refused where it is written.
	for _, tc := range []struct{ rule, want string }{
		{`{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}, {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}`, "config.json:4:86 linux.resources.devices[2].allow"},
		{`{"allow": true, "type": "x", "access": "rwm"}`, "config.json:4:29 linux.resources.devices[1].type"},
		{`{"allow": true, "type": "a", "major": 1, "access": "rwm"}`, "config.json:4:43 linux.resources.devices[1].major"},
		{`{"allow": true, "type": "c", "major": 1}`, "config.json:4:5 linux.resources.devices[1].access"},
	} {
		_, err := Parse("config.json", []byte(head+"    "+tc.rule+"]}}}"), "/b")
		var el spec.ErrorList
		if !errors.As(err, &el) || len(el) != 1 || el[0].Pos.String()+" "+el[0].Path != tc.want {
			t.Errorf("%s: err = %v, want one error at %s", tc.rule, err, tc.want)
		}
	}
	for _, rule := range []string{
		`{"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}`,
		`{"allow": true, "type": "b", "major": 8, "access": "r"}`,
	} {
		if _, err := Parse("config.json", []byte(head+"    "+rule+"]}}}"), "/b"); err != nil {
			t.Errorf("%s: %v", rule, err)
		}
	}
}

// TestEscapedSolidus checks that JSON's "\/" (Slurm writes every "/" so)
// reads as "/", and that the positions after it are still the JSON's.
func TestEscapedSolidus(t *testing.T) {
	const data = `{"ociVersion": "1.0.2", "root": {"path": "\/r"}, "linux": {"namespaces": [{"type": "mount"}]}, "process": {"args": ["\/bin\/sh"], "cwd": "\/", "env": ["A=\\\/"], "user": {"uid": -1}}}`
	_, err := Parse("config.json", []byte(data), "/b")
	var el spec.ErrorList
	if !errors.As(err, &el) || len(el) != 1 {
		t.Fatalf("err = %v, want one error", err)
	}
	want := fmt.Sprintf("config.json:1:%d process.user.uid", strings.Index(data, "-1")+1)
	if got := el[0].Pos.String() + " " + el[0].Path; got != want {
		t.Errorf("error at %s, want %s", got, want)
	}
	p, err := Parse("config.json", []byte(strings.Replace(data, "-1", "0", 1)), "/b")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Process.Args; len(got) != 1 || got[0] != "/bin/sh" {
		t.Errorf("process.args = %q, want [/bin/sh]", got)
	}
	if got := p.Filesystem.Root.Path; got != "/r" {
		t.Errorf("root.path = %q, want /r", got)
	}
}

// TestMasksUnderBinds: a runtime masks paths below a bind by what its
// source holds on the host (runc spec --rootless binds the host's /sys
// and masks /sys/firmware), skips read-only paths below a read-only
// bind, and refuses paths below a mount whose content it cannot read.
func TestMasksUnderBinds(t *testing.T) {
	host := t.TempDir()
	for _, d := range []string{"d", "d2"} {
		if err := os.Mkdir(filepath.Join(host, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(host, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bundle := t.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(masked, readOnly string) {
		cfg := fmt.Sprintf(`{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
"mounts": [{"destination": "/h", "type": "bind", "source": %q, "options": ["rbind", "rw"]},
  {"destination": "/r", "type": "bind", "source": %q, "options": ["rbind", "ro"]},
  {"destination": "/t", "type": "tmpfs", "source": "tmpfs"}],
"linux": {"namespaces": [{"type": "mount"}], "maskedPaths": [%s], "readonlyPaths": [%s]}}`, host, host, masked, readOnly)
		if err := os.WriteFile(filepath.Join(bundle, ConfigName), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`"/h/d", "/h/f", "/t/x"`, `"/h/d2", "/r/d2"`)
	_, _, err := LoadRuntime(bundle)
	if err == nil || !strings.Contains(err.Error(), "linux.maskedPaths[2]: /t/x is under the tmpfs mount at /t") || strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("want only /t/x refused, got %v", err)
	}
	write(`"/h/d", "/h/f"`, `"/h/d2", "/r/d2"`)
	p, _, err := LoadRuntime(bundle)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range p.Filesystem.Mounts {
		got[m.Target] = m.Type.String() + " " + m.Source
	}
	want := map[string]string{"/h": "bind " + host, "/r": "bind " + host, "/t": "tmpfs ",
		"/h/d": "tmpfs ", "/h/f": "bind /dev/null", "/h/d2": "bind " + filepath.Join(host, "d2")}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("mounts (-want +got):\n%s", d)
	}
}

// TestRuntimeRootfs: a runtime refuses a root.path that is a symbolic
// link (init would follow it from its staging root, runc on the host:
// neither is the directory the config names), missing, or a file.
func TestRuntimeRootfs(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(string) error
		want string
	}{
		{"symlink", func(p string) error { return os.Symlink("/", p) }, "rootfs is a symbolic link: name the directory itself"},
		{"missing", func(string) error { return nil }, "no such file or directory"},
		{"file", func(p string) error { return os.WriteFile(p, nil, 0o644) }, "rootfs is not a directory"},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := t.TempDir()
			if err := tc.make(filepath.Join(b, "rootfs")); err != nil {
				t.Fatal(err)
			}
			cfg := `{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "linux": {"namespaces": [{"type": "mount"}]}}`
			if err := os.WriteFile(filepath.Join(b, ConfigName), []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadRuntime(b)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), "config.json:1:42: root.path: ") || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want %q at root.path", err, tc.want)
			}
		})
	}
}

// TestCoveredMounts: a mount that a later one on the same destination
// hides whole is left out with a positioned warning (containerd's CRI
// plugin binds the pod's /dev/shm over the default spec's tmpfs); one
// that a mount between the two reaches under is still refused.
func TestCoveredMounts(t *testing.T) {
	shm := t.TempDir()
	for _, tc := range []struct {
		name, mounts string
		want         map[string]string
		warn, err    string
	}{
		{"covered", fmt.Sprintf(`{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "size=65536k"]},
  {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
  {"destination": "/dev/shm", "type": "bind", "source": %q, "options": ["rbind", "ro"]}`, shm),
			map[string]string{"/dev/shm": "bind " + shm, "/sys": "sysfs "}, "config.json:2:3: mounts[0]: mounts[2] mounts on the same destination after it, so it is hidden: not mounted", ""},
		{"reached under", fmt.Sprintf(`{"destination": "/a", "type": "tmpfs", "source": "tmpfs"},
  {"destination": "/a/b", "type": "tmpfs", "source": "tmpfs"},
  {"destination": "/a", "type": "bind", "source": %q, "options": ["rbind"]}`, shm), nil, "", "has the same target as mounts[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := t.TempDir()
			if err := os.Mkdir(filepath.Join(b, "rootfs"), 0o755); err != nil {
				t.Fatal(err)
			}
			cfg := `{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "mounts": [
  ` + tc.mounts + `],
"linux": {"namespaces": [{"type": "mount"}]}}`
			if err := os.WriteFile(filepath.Join(b, ConfigName), []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			p, warnings, err := LoadRuntime(b)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, m := range p.Filesystem.Mounts {
				got[m.Target] = m.Type.String() + " " + m.Source
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("mounts (-want +got):\n%s", d)
			}
			if len(warnings) != 1 || !strings.HasSuffix(warnings[0], tc.warn) {
				t.Errorf("warnings %q, want one ending %q", warnings, tc.warn)
			}
		})
	}
}

// TestJoinOwnNamespace: a runtime's config that joins the namespace the
// runtime is in (containerd's CRI plugin gives a host-network pod's
// containers the path of the node's network and uts namespaces) shares
// the host's; another namespace's path is still joined, and so is the
// runtime's own mount namespace (which cell's setns step refuses).
func TestJoinOwnNamespace(t *testing.T) {
	b := t.TempDir()
	if err := os.Mkdir(filepath.Join(b, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
"linux": {"namespaces": [{"type": "mount", "path": "/proc/self/ns/mnt"}, {"type": "network", "path": "/proc/%d/ns/net"}, {"type": "uts", "path": "/proc/self/ns/uts"}, {"type": "ipc", "path": "/run/netns/elsewhere"}]}}`, os.Getpid())
	if err := os.WriteFile(filepath.Join(b, ConfigName), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p, _, err := LoadRuntime(b)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("net %s, uts %s, ipc %s, network.mode %s, join %+v", p.Namespaces.Net, p.Namespaces.UTS, p.Namespaces.IPC, p.Network.Mode, p.Namespaces.Join)
	want := "net host, uts host, ipc new, network.mode host, join {Mount:/proc/self/ns/mnt PID: Net: UTS: IPC:/run/netns/elsewhere Cgroup:}"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
