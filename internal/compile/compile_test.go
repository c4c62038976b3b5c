package compile_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/internal/compile"
	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/internal/ids"
	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/profiles"
	"github.com/cellsandbox/cell/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Fixed facts, so that golden plans do not depend on who runs the tests.
var (
	rootFacts = host.Facts{UID: 0, GID: 0, EUID: 0, User: "root", Home: "/root", Cwd: "/home/dev/project",
		TimeNamespace: true, UserNetHelper: "/usr/bin/slirp4netns", TunAccess: true, Nameservers: []string{"192.0.2.53"}, Env: []string{"TERM=xterm-256color", "LANG=C.UTF-8", "SECRET=hunter2"},
		IDPool: &host.IDPool{Pool: ids.DefaultPool, From: "default", Taken: []host.Taken{{Start: 0, Count: 65536, What: "low IDs"}, {Start: 100000, Count: 65536, What: "/etc/subuid entry of dev"}}}}
	userFacts = host.Facts{UID: 1000, GID: 1000, EUID: 1000, User: "dev", Home: "/home/dev", Cwd: "/home/dev/project",
		TimeNamespace: true, UserNetHelper: "/usr/bin/slirp4netns", TunAccess: true, Nameservers: []string{"192.0.2.53"}, Env: []string{"TERM=xterm-256color"},
		SubIDs: &host.SubIDs{UIDs: []host.SubRange{{Start: 100000, Count: 65536}}, GIDs: []host.SubRange{{Start: 100000, Count: 65536}},
			NewUIDMap: "/usr/bin/newuidmap", NewGIDMap: "/usr/bin/newgidmap"}}
)

func parse(t *testing.T, file string, data []byte, f *host.Facts, sets ...string) *spec.Profile {
	t.Helper()
	p, err := spec.Parse(file, data, spec.Options{
		Vars: spec.Vars{Home: f.Home, User: f.User, PWD: f.Cwd, UID: f.UID, GID: f.GID, LookupEnv: f.LookupEnv},
		Sets: sets,
		Load: func(name, _ string) (string, []byte, error) {
			data, err := profiles.Get(name)
			return "builtin:" + name, data, err
		},
	})
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	return p
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/compile -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is stale (-want +got); if the change is intended, run make golden:\n%s", path, diff)
	}
}

// rootOnly are the built-in profiles that only a privileged caller can
// run (none now: build-worker's outside: pick is the caller and its
// subordinate range for an unprivileged caller).
var rootOnly = map[string]bool{}

// TestGolden pins the plan of every built-in profile, for root and for an
// unprivileged caller: a change in what cell executes shows up as a diff.
func TestGolden(t *testing.T) {
	for _, name := range profiles.Names() {
		for _, who := range []struct {
			suffix string
			facts  *host.Facts
		}{{"root", &rootFacts}, {"user", &userFacts}} {
			t.Run(name+"/"+who.suffix, func(t *testing.T) {
				data, err := profiles.Get(name)
				if err != nil {
					t.Fatal(err)
				}
				f := *who.facts
				f.LandlockABI = 6
				p := parse(t, "builtin:"+name, data, &f)
				inv := compile.Invocation{}
				if p.Resources.Any() {
					f.Cgroup = layout(t, "v2vm", true)
					inv.Name = name + "-1"
				}
				pl, err := compile.Profile(p, &f, inv)
				if err != nil && who.suffix == "user" && rootOnly[name] {
					// The golden file pins why it cannot run.
					golden(t, name+".user.plan", []byte("error: "+err.Error()+"\n"))
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				golden(t, name+"."+who.suffix+".plan", []byte(pl.String()))
				js, err := json.MarshalIndent(pl, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				golden(t, name+"."+who.suffix+".json", append(js, '\n'))
			})
		}
	}
}

func TestDeterministic(t *testing.T) {
	data, _ := profiles.Get(profiles.Default)
	first := ""
	for i := range 20 {
		p := parse(t, "d.yaml", data, &rootFacts)
		pl, err := compile.Profile(p, &rootFacts, compile.Invocation{Args: []string{"env"}})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = pl.String()
		} else if s := pl.String(); s != first {
			t.Fatalf("run %d compiled a different plan:\n%s", i, cmp.Diff(first, s))
		}
	}
}

const minimal = `apiVersion: cell/v1
name: t
`

func compileErr(t *testing.T, f *host.Facts, doc string, inv compile.Invocation, sets ...string) error {
	t.Helper()
	p := parse(t, "t.yaml", []byte(doc), f, sets...)
	_, err := compile.Profile(p, f, inv)
	return err
}

func TestErrors(t *testing.T) {
	noTime := rootFacts
	noTime.TimeNamespace = false
	abi5 := rootFacts
	abi5.LandlockABI = 5
	v2Facts := rootFacts
	v2Facts.Cgroup = layout(t, "v2vm", true)
	noCgroupFacts := rootFacts
	noCgroupFacts.Cgroup = &cgroup.Layout{}
	tests := []struct {
		name  string
		facts *host.Facts
		doc   string
		args  []string
		want  string
	}{
		{"no command", &rootFacts, minimal, nil, "t.yaml:1:1: process.args: no command: give one after -- or set process.args"},
		{"no time namespace", &noTime, minimal, []string{"true"}, "t.yaml:1:1: namespaces.time: this kernel has no time namespaces"},
		{"rootless subordinate root", &userFacts, minimal + "ids:\n  uidMap: [{inside: 0, outside: 100000, count: 65536}]\n", []string{"true"},
			"t.yaml:4:11: ids.uidMap: an unprivileged caller mapping subordinate IDs must map its own uid 1000 to inside 0"},
		{"rootless range outside the allocation", &userFacts, minimal + "ids:\n  uidMap: [{inside: 0, outside: 1000, count: 1}, {inside: 1, outside: 300000, count: 10}]\n", []string{"true"},
			"t.yaml:4:71: ids.uidMap[1].outside: 300000-300009 is neither your own ID 1000 nor in your subordinate range (/etc/subuid gives user dev 100000-165535)"},
		{"subordinate range too small", &userFacts, minimal + "ids:\n  uidMap: [{inside: 0, outside: 1000, count: 1}, {inside: 1, outside: subuid, count: 70000}]\n", []string{"true"},
			"t.yaml:4:71: ids.uidMap[1].outside: needs 70000 subordinate IDs in one piece; /etc/subuid gives user dev 100000-165535"},
		{"landlock scope beyond the kernel", &abi5, minimal + "security:\n  landlock:\n    mode: require\n    readOnly: [/usr]\n    scope: [abstractUnixSocket, signal]\n", []string{"true"},
			"t.yaml:7:12: security.landlock.scope: landlock is required, but this kernel's ABI is 5: scope abstract-unix-socket, signal needs ABI 6; have 5; set mode: bestEffort"},
		{"landlock TCP rules without seccomp", &rootFacts, minimal + "security:\n  seccomp: {mode: unconfined}\n  landlock: {mode: bestEffort, connectTcp: [443]}\n", []string{"true"},
			"t.yaml:4:19: security.seccomp.mode: unconfined with landlock TCP port rules (security.landlock.connectTcp, bindTcp): landlock mediates only TCP, and without the filter MPTCP and SCTP sockets reach any port"},
		{"sysctl of the whole host", &rootFacts, minimal + "sysctl: {vm.overcommit_memory: \"1\"}\n", []string{"true"},
			"t.yaml:3:32: sysctl.vm.overcommit_memory: is a parameter of the whole host, not of a namespace: cell sets only network, IPC and UTS ones"},
		{"sysctl of the host's network", &rootFacts, minimal + "namespaces: {net: host}\nnetwork: {mode: host}\nsysctl: {net.ipv4.ip_forward: \"1\"}\n", []string{"true"},
			"t.yaml:5:31: sysctl.net.ipv4.ip_forward: is a parameter of the net namespace, which the sandbox shares with the host (namespaces.net: host): setting it would change the host's"},
		{"device node in a user namespace", &userFacts, minimal + "filesystem:\n  mounts:\n    - {type: dev, target: /dev, devices: [{path: /dev/fuse, type: c, major: 10, minor: 229}]}\n", []string{"true"},
			"t.yaml:5:67: filesystem.mounts[0].devices[0].type: cell cannot make a device node in a user namespace of the sandbox's own"},
		{"device rules without cgroups", &noCgroupFacts, minimal + "resources: {devices: [{type: c, major: 10, minor: 229, access: rwm}]}\n", []string{"true"},
			"t.yaml:3:22: resources.devices: cannot be enforced here: device rules need cgroup v1's devices controller or cgroup v2"},
		{"mknod without cgroups", &noCgroupFacts, minimal + "namespaces: {user: host}\nsecurity: {capabilities: [CAP_MKNOD]}\n", []string{"true"},
			"t.yaml:4:26: security.capabilities: CAP_MKNOD without a user namespace of the sandbox's own lets the command make a node of any device"},
		{"join from a user namespace", &rootFacts, minimal + "namespaces: {join: {net: /run/netns/x}}\n", []string{"true"},
			"t.yaml:3:26: namespaces.join.net: cannot be joined from a user namespace of the sandbox's own"},
		{"join, sysctl and device errors at once", &rootFacts, minimal + "namespaces: {join: {net: /run/netns/x}}\nsysctl: {vm.overcommit_memory: \"1\"}\n", []string{"true"},
			"t.yaml:3:26: namespaces.join.net: cannot be joined from a user namespace of the sandbox's own, which would have no privilege over it: set namespaces.user: host\n" +
				"t.yaml:4:32: sysctl.vm.overcommit_memory: is a parameter of the whole host"},
		{"join rootless", &userFacts, minimal + "namespaces: {user: host, join: {uts: /proc/1/ns/uts}}\nids: {uid: 1000, gid: 1000}\n", []string{"true"},
			"t.yaml:3:38: namespaces.join.uts: joining a namespace needs root"},
		{"rootless groups", &userFacts, minimal + "ids:\n  gidMap: [{inside: 0, outside: 1000, count: 1}]\n  groups: [0]\n", []string{"true"},
			"t.yaml:5:11: ids.groups: an unprivileged caller that maps only its own IDs cannot set supplementary groups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := compileErr(t, tt.facts, tt.doc, compile.Invocation{Args: tt.args, Name: "t-1"})
			var ce *compile.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *compile.Error", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got  %q\nwant %q...", err, tt.want)
			}
		})
	}
}

// TestSteps checks what particular profile fields turn into.
func TestSteps(t *testing.T) {
	compileOK := func(t *testing.T, f *host.Facts, doc string, args ...string) *plan.Plan {
		t.Helper()
		p := parse(t, "t.yaml", []byte(doc), f)
		pl, err := compile.Profile(p, f, compile.Invocation{Args: args})
		if err != nil {
			t.Fatal(err)
		}
		return pl
	}
	t.Run("shared namespaces are not cloned", func(t *testing.T) {
		pl := compileOK(t, &rootFacts, minimal+"namespaces: {net: host, pid: host, time: host}\nnetwork: {mode: host}\n", "true")
		got := find[*plan.Clone](pl)[0].Flags.String()
		if want := "CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWCGROUP"; got != want {
			t.Errorf("clone flags %s, want %s", got, want)
		}
		if len(find[*plan.LinkUp](pl)) != 0 || find[*plan.Clone](pl)[0].Flags&unix.CLONE_NEWTIME != 0 {
			t.Error("host net/time still brings up lo or unshares time")
		}
		if len(find[*plan.Subreaper](pl)) != 1 {
			t.Error("a shared pid namespace needs init to be a subreaper")
		}
	})
	t.Run("default id maps", func(t *testing.T) {
		pl := compileOK(t, &userFacts, minimal+"ids: {uid: 1000, gid: 1000}\n", "true")
		var got []string
		for _, s := range find[*plan.WriteIDMap](pl) {
			got = append(got, s.File+"="+s.Data)
		}
		want := []string{"uid_map=1000 1000 1\n", "setgroups=deny", "gid_map=1000 1000 1\n"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("id maps (-want +got):\n%s", diff)
		}
		if len(find[*plan.Setgroups](pl)) != 0 {
			t.Error("rootless plan calls setgroups, which the kernel denies")
		}
	})
	t.Run("env", func(t *testing.T) {
		pl := compileOK(t, &rootFacts, minimal+"process:\n  env: {B: b, TERM: dumb}\n  passEnv: [TERM, LANG, NOPE]\n", "true")
		got := find[*plan.Exec](pl)[0].Env
		// SECRET is not passed; env wins over passEnv; sorted.
		if diff := cmp.Diff([]string{"B=b", "LANG=C.UTF-8", "TERM=dumb"}, got); diff != "" {
			t.Errorf("env (-want +got):\n%s", diff)
		}
	})
	t.Run("bind attributes", func(t *testing.T) {
		pl := compileOK(t, &rootFacts, minimal+`filesystem:
  mounts:
    - {type: bind, source: /usr, target: /usr}
    - {type: bind, source: /srv, target: /srv, writable: true, recursive: false, noexec: true}
`, "true")
		b := find[*plan.Bind](pl)
		if got := b[0].Attr.String(); got != "MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV" || !b[0].Recursive {
			t.Errorf("read-only bind: %s recursive=%v", got, b[0].Recursive)
		}
		if got := b[1].Attr.String(); got != "MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV|MOUNT_ATTR_NOEXEC" || b[1].Recursive {
			t.Errorf("writable bind: %s recursive=%v", got, b[1].Recursive)
		}
		pos := steps[*plan.Bind](pl)
		if pos[0].Pos.Line != 5 || pos[1].Pos.Line != 6 {
			t.Errorf("positions %v %v, want lines 5 and 6", pos[0].Pos, pos[1].Pos)
		}
	})
	t.Run("inherited fds move the socket", func(t *testing.T) {
		pl := compileOK(t, &rootFacts, minimal+"process: {inheritFds: [4, 3]}\n", "true")
		if got := find[*plan.ExecInit](pl)[0].Args; !cmp.Equal(got, []string{compile.InitArg0, "5"}) {
			t.Errorf("exec-init args %q", got)
		}
		// cell marks the rest before the clone, init before the command.
		closes := steps[*plan.CloseFDs](pl)
		if len(closes) != 2 || closes[0].Side != plan.Parent || closes[1].Side != plan.Init {
			t.Fatalf("close-fds steps %v, want one in the parent and one in init", closes)
		}
		for _, s := range closes {
			if keep := s.Do.(*plan.CloseFDs).Keep; !cmp.Equal(keep, []uint32{3, 4}) {
				t.Errorf("%s keeps fds %v, want [3 4]", s.Side, keep)
			}
		}
		if pl.Steps[0].Op() != plan.OpCloseFDs || pl.Steps[1].Op() != plan.OpClone {
			t.Errorf("the parent's close-fds is not right before the clone")
		}
	})
}

// layout reads one of the cgroup package's host fixtures and adds what
// Probe would find on such a host.
func layout(t *testing.T, name string, v2 bool) *cgroup.Layout {
	t.Helper()
	mi, err := os.ReadFile(filepath.Join("..", "cgroup", "testdata", name+".mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	cg, err := os.ReadFile(filepath.Join("..", "cgroup", "testdata", name+".cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := cgroup.ParseLayout(mi, cg)
	if err != nil {
		t.Fatal(err)
	}
	if v2 {
		l.Controllers = []string{"cpuset", "cpu", "io", "memory", "pids"}
	}
	l.Swap = true
	return l
}

const limitsProfile = `apiVersion: cell/v1
name: limits
resources:
  memory: {max: 512Mi, swap: 0}
  cpu: {max: 1.5}
  pids: {max: 256}
`

const kernelProfile = `apiVersion: cell/v1
name: kernel
sysctl: {net.ipv4.ip_forward: "1", kernel.shmmax: "65536"}
filesystem:
  root: {propagation: rshared}
  mounts:
    - {type: dev, target: /dev, devices: [{path: /dev/fuse, type: c, major: 10, minor: 229, mode: "0600"}, {path: /dev/fifo, type: p, uid: 5, gid: 6}]}
    - {type: tmpfs, target: /tmp, propagation: slave}
    - {type: bind, source: /etc, target: /etc, propagation: runbindable}
resources:
  cpu: {max: 0.1, period: 500000, shares: 2048}
  devices: [{type: c, major: 10, minor: 229, access: rwm}, {type: b, major: 8, access: r}]
namespaces: {user: host, join: {net: /run/netns/ci, pid: /proc/7/ns/pid}}
`

// TestGoldenKernel pins the steps of sysctls, propagation types, device
// nodes, device rules and v1-exact CPU values on a hybrid host.
func TestGoldenKernel(t *testing.T) {
	f := rootFacts
	f.Cgroup = layout(t, "hybrid", false)
	p := parse(t, "kernel.yaml", []byte(kernelProfile), &f)
	pl, err := compile.Profile(p, &f, compile.Invocation{Args: []string{"true"}, Name: "kernel-1"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "kernel.hybrid.plan", []byte(pl.String()))
}

// TestGoldenKernelV2 pins the same profile's device rules on a cgroup v2
// host: a device program attached to the sandbox's cgroup instead of the
// v1 devices controller's files.
func TestGoldenKernelV2(t *testing.T) {
	f := rootFacts
	f.Cgroup = layout(t, "v2vm", true)
	p := parse(t, "kernel.yaml", []byte(kernelProfile), &f)
	pl, err := compile.Profile(p, &f, compile.Invocation{Args: []string{"true"}, Name: "kernel-1"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "kernel.v2.plan", []byte(pl.String()))
}

const mknodProfile = `apiVersion: cell/v1
name: mknod
filesystem:
  mounts:
    - {type: dev, target: /dev}
namespaces: {user: host}
security: {capabilities: [CAP_MKNOD]}
`

// TestGoldenMknod pins the device cgroup that a sandbox keeping
// CAP_MKNOD without a user namespace gets although its profile has no
// device rules: it allows only the nodes of its /dev, on a hybrid host
// (v1 devices controller) and on cgroup v2 (a device program). With a
// user namespace, without CAP_MKNOD, or with cell itself in a nested user
// namespace, there is no cgroup.
func TestGoldenMknod(t *testing.T) {
	for _, tc := range []struct{ name, layout string }{{"hybrid", "hybrid"}, {"v2", "v2vm"}} {
		t.Run(tc.name, func(t *testing.T) {
			f := rootFacts
			f.Cgroup = layout(t, tc.layout, tc.layout == "v2vm")
			p := parse(t, "mknod.yaml", []byte(mknodProfile), &f)
			pl, err := compile.Profile(p, &f, compile.Invocation{Args: []string{"true"}, Name: "mknod-1"})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "mknod."+tc.name+".plan", []byte(pl.String()))
			for _, doc := range []string{
				strings.Replace(mknodProfile, "namespaces: {user: host}\n", "", 1),
				strings.Replace(mknodProfile, "[CAP_MKNOD]", "[CAP_CHOWN]", 1),
			} {
				p := parse(t, "mknod.yaml", []byte(doc), &f)
				pl, err := compile.Profile(p, &f, compile.Invocation{Args: []string{"true"}, Name: "mknod-1"})
				if err != nil {
					t.Fatal(err)
				}
				if pl.Cgroup != nil {
					t.Errorf("%s: a cgroup %+v, want none", doc, pl.Cgroup)
				}
			}
			// Nor when cell runs in a user namespace of its own (rootless
			// podman's), where no device node can be made.
			nested := f
			nested.NestedUserNS = true
			pl, err = compile.Profile(p, &nested, compile.Invocation{Args: []string{"true"}, Name: "mknod-1"})
			if err != nil {
				t.Fatal(err)
			}
			if pl.Cgroup != nil {
				t.Errorf("in a nested user namespace: a cgroup %+v, want none", pl.Cgroup)
			}
		})
	}
}

// TestGoldenLimits pins the cgroup steps of a profile with limits on a
// pure cgroup v2 host and on a v1/v2 hybrid like the development VMs.
func TestGoldenLimits(t *testing.T) {
	for _, host := range []struct {
		name, fixture string
		v2            bool
	}{{"v2", "v2vm", true}, {"hybrid", "hybrid", false}} {
		t.Run(host.name, func(t *testing.T) {
			f := rootFacts
			f.Cgroup = layout(t, host.fixture, host.v2)
			p := parse(t, "limits.yaml", []byte(limitsProfile), &f)
			pl, err := compile.Profile(p, &f, compile.Invocation{Args: []string{"make"}, Name: "limits-1"})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "limits."+host.name+".plan", []byte(pl.String()))
		})
	}
	t.Run("not probed", func(t *testing.T) {
		p := parse(t, "limits.yaml", []byte(limitsProfile), &rootFacts)
		if _, err := compile.Profile(p, &rootFacts, compile.Invocation{Args: []string{"make"}, Name: "x"}); err == nil {
			t.Error("limits compiled without a cgroup layout")
		}
	})
	t.Run("unenforceable", func(t *testing.T) {
		f := rootFacts
		f.Cgroup = layout(t, "hybrid", false)
		p := parse(t, "limits.yaml", []byte(limitsProfile+"  io: {weight: 500}\n"), &f)
		_, err := compile.Profile(p, &f, compile.Invocation{Args: []string{"make"}, Name: "x"})
		if err == nil || !strings.Contains(err.Error(), "limits.yaml:7:16: resources.io.weight: cannot be enforced here") {
			t.Errorf("io.weight without a weight file: %v", err)
		}
	})
}

const hugetlbNetProfile = `apiVersion: cell/v1
name: hugenet
resources:
  pids: {max: 64}
  hugetlb: {1GB: max, 2MB: 64Mi}
  net: {classID: 0x100001, priorities: {lo: 5, eth0: 1}}
`

// TestGoldenHugetlbNet pins the steps of huge page limits, a traffic
// class and priorities on a hybrid host whose free controllers are
// mounted as v1 hierarchies outside /sys/fs/cgroup (as the tests and the
// runtime-tools harness mount them), each write placed at its key, and
// checks that a pure v2 host refuses the class and priorities, and a
// page size the kernel lacks, at their keys.
func TestGoldenHugetlbNet(t *testing.T) {
	f := rootFacts
	f.Cgroup = layout(t, "hybrid", false)
	f.Cgroup.V1["hugetlb"] = "/run/cell-test/hugetlb"
	f.Cgroup.V1["net_cls"] = "/run/cell-test/net"
	f.Cgroup.V1["net_prio"] = "/run/cell-test/net"
	f.Cgroup.HugePageSizes = []string{"2MB", "1GB"}
	p := parse(t, "hugenet.yaml", []byte(hugetlbNetProfile), &f)
	pl, err := compile.Profile(p, &f, compile.Invocation{Args: []string{"make"}, Name: "hugenet-1"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "hugetlb-net.hybrid.plan", []byte(pl.String()))

	v2 := rootFacts
	v2.Cgroup = layout(t, "v2vm", true)
	v2.Cgroup.Controllers = append(v2.Cgroup.Controllers, "hugetlb")
	v2.Cgroup.HugePageSizes = []string{"2MB"}
	p = parse(t, "hugenet.yaml", []byte(hugetlbNetProfile), &v2)
	_, err = compile.Profile(p, &v2, compile.Invocation{Args: []string{"make"}, Name: "hugenet-1"})
	for _, want := range []string{
		"hugenet.yaml:6:18: resources.net.classID: cannot be enforced here: the net_cls controller exists only in cgroup v1",
		"hugenet.yaml:6:40: resources.net.priorities: cannot be enforced here: the net_prio controller exists only in cgroup v1",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("on v2: %v\nwant %q", err, want)
		}
	}
	p = parse(t, "hugenet.yaml", []byte("apiVersion: cell/v1\nname: h\nresources:\n  hugetlb: {2MB: 4Mi, 1GB: max}\n"), &v2)
	_, err = compile.Profile(p, &v2, compile.Invocation{Args: []string{"make"}, Name: "h-1"})
	if want := "hugenet.yaml:4:28: resources.hugetlb.1GB: cannot be enforced here: the kernel has no 1GB huge pages; it offers 2MB"; err == nil || err.Error() != want {
		t.Errorf("a page size the kernel lacks: %v\nwant %s", err, want)
	}
}

// TestRootlessHelpers checks the plan of an unprivileged caller that maps
// a subordinate range: init waits unmapped, the setuid helpers map it,
// init executes itself again and re-arms its parent-death signal.
func TestRootlessHelpers(t *testing.T) {
	doc := minimal + `ids:
  uid: 0
  gid: 0
  groups: [5]
  uidMap: [{inside: 0, outside: "${UID}", count: 1}, {inside: 1, outside: subuid, count: 65536}]
  gidMap: [{inside: 0, outside: "${GID}", count: 1}, {inside: 1, outside: subgid, count: 65536}]
`
	p := parse(t, "t.yaml", []byte(doc), &userFacts)
	pl, err := compile.Profile(p, &userFacts, compile.Invocation{Args: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range pl.Steps[:9] {
		got = append(got, s.Side.String()+" "+s.Call())
	}
	want := []string{
		"parent close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) in cell; init closes every other descriptor it did not get from the plan",
		"parent clone3(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWNET|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWCGROUP|CLONE_NEWTIME, exit_signal=SIGCHLD) = INIT",
		"init setsid()",
		"init prctl(PR_SET_PDEATHSIG, SIGKILL)",
		`init execve("/proc/self/exe", ["cell-init", "3", "wait-for-maps"])`,
		`parent execve("/usr/bin/newuidmap", ["/usr/bin/newuidmap", "INIT", "0", "1000", "1", "1", "100000", "65536"])`,
		`parent execve("/usr/bin/newgidmap", ["/usr/bin/newgidmap", "INIT", "0", "1000", "1", "1", "100000", "65536"])`,
		`init execve("/proc/self/exe", ["cell-init", "3"])`,
		"init prctl(PR_SET_PDEATHSIG, SIGKILL)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	// setgroups is allowed through the helpers, so the groups are set.
	found := false
	for _, s := range find[*plan.Setgroups](pl) {
		found = found || cmp.Equal(s.GIDs, []uint32{5})
	}
	if !found {
		t.Error("no setgroups([5]) step")
	}
}

func TestIDMappedBind(t *testing.T) {
	doc := minimal + `ids:
  uidMap: [{inside: 0, outside: 200000, count: 1000}, {inside: 1000, outside: 300000, count: 10}]
  gidMap: [{inside: 0, outside: 200000, count: 65536}]
filesystem:
  mounts:
    - {type: bind, source: /srv, target: /srv, idmap: {uid: [{inside: 998, outside: 1000, count: 4}], gid: [{inside: 0, outside: 1000, count: 1}]}}
`
	p := parse(t, "t.yaml", []byte(doc), &rootFacts)
	pl, err := compile.Profile(p, &rootFacts, compile.Invocation{Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	// Inside 998-1001 spans two ranges of the sandbox's map: split there.
	if s, ok := pl.Steps[0].Do.(*plan.IDMappedTree); !ok || s.UIDMap != "1000 200998 2\n1002 300000 2\n" || s.GIDMap != "1000 200000 1\n" || s.FD != 4 {
		t.Errorf("first step %s", pl.Steps[0].Call())
	}
	rootless := minimal + `filesystem:
  mounts:
    - {type: bind, source: /srv, target: /srv, idmap: {uid: [{inside: 0, outside: 1000, count: 1}], gid: [{inside: 0, outside: 1000, count: 1}]}}
`
	if u := parse(t, "t.yaml", []byte(rootless), &userFacts); true {
		_, err := compile.Profile(u, &userFacts, compile.Invocation{Args: []string{"true"}})
		if err == nil || !strings.Contains(err.Error(), "ID-mapped mounts of the host's file systems need root") {
			t.Errorf("rootless ID-mapped bind: %v", err)
		}
	}
}

func TestSetGroupsPolicy(t *testing.T) {
	count := func(pl *plan.Plan, op plan.Op) (n int) {
		for _, s := range pl.Steps {
			if s.Op() == op {
				n++
			}
		}
		return n
	}
	p := parse(t, "t.yaml", []byte(minimal+"ids: {setgroups: deny}\n"), &rootFacts)
	pl, err := compile.Profile(p, &rootFacts, compile.Invocation{Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pl.String(), `write("/proc/INIT/setgroups", "deny")`) || count(pl, plan.OpSetgroups) != 0 {
		t.Errorf("root with setgroups deny:\n%s", pl)
	}
	p = parse(t, "t.yaml", []byte(minimal+"ids: {setgroups: allow}\n"), &userFacts)
	if _, err := compile.Profile(p, &userFacts, compile.Invocation{Args: []string{"true"}}); err == nil || !strings.Contains(err.Error(), "ids.setgroups: an unprivileged caller that maps only its own IDs must deny setgroups") {
		t.Errorf("rootless allow: %v", err)
	}
	if _, err := spec.Parse("t.yaml", []byte(minimal+"ids: {setgroups: deny, groups: [1], gidMap: [{inside: 0, outside: 0, count: 10}]}\n"), spec.Options{}); err == nil || !strings.Contains(err.Error(), "ids.groups: needs ids.setgroups: allow") {
		t.Errorf("groups with deny: %v", err)
	}
}

func TestCapabilitySetsDerived(t *testing.T) {
	doc := minimal + "security: {capabilities: {bounding: [CAP_NET_RAW, CAP_CHOWN], permitted: [CAP_NET_RAW]}}\n"
	p := parse(t, "t.yaml", []byte(doc), &rootFacts)
	_, err := compile.Profile(p, &rootFacts, compile.Invocation{Args: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "permitted [CAP_NET_RAW] cannot be had: after execve the kernel gives a command with uid 0 its bounding set") {
		t.Errorf("permitted narrower than bounding for root: %v", err)
	}
	doc = minimal + "security: {capabilities: {bounding: [CAP_NET_RAW], permitted: [CAP_NET_RAW], effective: [CAP_NET_RAW]}}\n"
	p = parse(t, "t.yaml", []byte(doc), &rootFacts)
	pl, err := compile.Profile(p, &rootFacts, compile.Invocation{Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pl.String(), "every capability but CAP_NET_RAW") || strings.Contains(pl.String(), "PR_CAP_AMBIENT_RAISE, CAP_NET_RAW") {
		t.Errorf("root keeps NET_RAW through the bounding set only:\n%s", pl)
	}
}

func TestOverlaySteps(t *testing.T) {
	doc := minimal + "filesystem:\n  mounts: [{type: overlay, target: /w, lower: [/a, /b], size: 1Mi}]\n"
	p := parse(t, "t.yaml", []byte(doc), &userFacts)
	pl, err := compile.Profile(p, &userFacts, compile.Invocation{Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	text := pl.String()
	for _, want := range []string{
		`init    mount("tmpfs", "/overlay-0", "tmpfs", MS_NOSUID|MS_NODEV, "mode=0755,size=1048576")`,
		`init    mkdir("/overlay-0/upper", 0755)`,
		`fsopen("overlay") fsconfig(lowerdir=/oldroot/a:/oldroot/b, upperdir=/overlay-0/upper, workdir=/overlay-0/work, userxattr)`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
	pl, err = compile.Profile(p, &userFacts, compile.Invocation{Args: []string{"true"}, KeepUpper: "/keep"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pl.String(), "upperdir=/oldroot/keep/0/upper") {
		t.Errorf("--keep-upper:\n%s", pl)
	}
}

// TestRootPath checks that filesystem.root.path makes the host directory
// "/" (an OCI bundle's rootfs) instead of a tmpfs, nosuid and nodev.
func TestRootPath(t *testing.T) {
	doc := minimal + "filesystem:\n  root: {path: /srv/rootfs, readOnly: true}\n  mounts: [{type: tmpfs, target: /tmp}]\n"
	p := parse(t, "t.yaml", []byte(doc), &userFacts)
	pl, err := compile.Profile(p, &userFacts, compile.Invocation{Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	text := pl.String()
	for _, want := range []string{
		`init    mount("/oldroot/srv/rootfs", "/newroot", NULL, MS_BIND|MS_REC, NULL)`,
		`init    mount_setattr("/", MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV)`,
		`init    mount_setattr("/", MOUNT_ATTR_RDONLY)`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
	if strings.Contains(text, `mount("tmpfs", "/newroot"`) {
		t.Errorf("a tmpfs root as well:\n%s", text)
	}
}

// TestGoldenNetwork pins the plans of a bridged sandbox with NAT, ports
// and egress rules, and of a user-mode one, root and rootless.
func TestGoldenNetwork(t *testing.T) {
	net := func(f host.Facts) *host.Facts {
		f.Nameservers = []string{"127.0.0.53", "192.0.2.1"}
		f.UserNetHelper, f.TunAccess = "/usr/bin/slirp4netns", true
		return &f
	}
	for _, tt := range []struct {
		name  string
		facts *host.Facts
	}{
		{"net-bridge.root", net(rootFacts)},
		{"net-user.root", net(rootFacts)},
		{"net-user.user", net(userFacts)},
		// Domain rules: the proxy asks the host's name servers, its
		// loopback one too; the profile's NO_PROXY wins.
		{"net-egress.root", net(rootFacts)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file, _, _ := strings.Cut(tt.name, ".")
			data, err := os.ReadFile(filepath.Join("testdata", file+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, file+".yaml", data, tt.facts)
			pl, err := compile.Profile(p, tt.facts, compile.Invocation{Name: file + "-1", Args: []string{"sh"}, Self: "/usr/bin/cell"})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".plan", []byte(pl.String()))
		})
	}
}

// TestNetworkErrors checks what the compiler refuses for the network.
func TestNetworkErrors(t *testing.T) {
	withNet := func(f host.Facts, mod func(*host.Facts)) *host.Facts {
		f.Nameservers, f.UserNetHelper, f.TunAccess = []string{"192.0.2.1"}, "/usr/bin/slirp4netns", true
		mod(&f)
		return &f
	}
	for _, tt := range []struct {
		name, net string
		facts     *host.Facts
		want      string
	}{
		{"bridge rootless", "{mode: bridge}", withNet(userFacts, func(*host.Facts) {}), "p.yaml:4:17: network.mode: bridge needs root"},
		{"no helper", "{mode: user}", withNet(userFacts, func(f *host.Facts) { f.UserNetHelper = "" }), "network.mode: user needs slirp4netns, which is not installed here (Debian and Ubuntu package: slirp4netns)"},
		{"no tun", "{mode: user}", withNet(userFacts, func(f *host.Facts) { f.TunAccess = false }), "network.mode: user needs /dev/net/tun"},
		{"loopback resolver only", "{mode: bridge}", withNet(rootFacts, func(f *host.Facts) { f.Nameservers = []string{"127.0.0.53"} }), "names no name server that a bridged sandbox can reach (127.0.0.53; loopback ones are the host's own); set network.dns"},
		{"domains without a name server", "{mode: none, egress: {default: deny, allow: [{domain: example.com}]}}", withNet(rootFacts, func(f *host.Facts) { f.Nameservers = nil }),
			"p.yaml:4:31: network.egress: domain rules need a name server for the proxy to ask, and the host's /etc/resolv.conf names none; set network.dns"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "apiVersion: cell/v1\nname: p\nnamespaces: {}\nnetwork: " + tt.net + "\n"
			p := parse(t, "p.yaml", []byte(src), tt.facts)
			_, err := compile.Profile(p, tt.facts, compile.Invocation{Name: "p-1", Args: []string{"sh"}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	caps := "apiVersion: cell/v1\nname: p\nnetwork: {egress: {default: deny}}\nsecurity: {capabilities: [CAP_NET_ADMIN]}\n"
	f := withNet(rootFacts, func(*host.Facts) {})
	p := parse(t, "p.yaml", []byte(caps), f)
	if _, err := compile.Profile(p, f, compile.Invocation{Name: "p-1", Args: []string{"sh"}}); err == nil || !strings.Contains(err.Error(), "keeps CAP_NET_ADMIN") {
		t.Errorf("egress with CAP_NET_ADMIN kept: %v", err)
	}
}

// TestEgressLoopbackResolver compiles a bridged profile with domain rules
// on a host whose only name server is on its loopback: the proxy, on the
// host's network, asks it, where a bridged sandbox could not.
func TestEgressLoopbackResolver(t *testing.T) {
	f := rootFacts
	f.Nameservers = []string{"127.0.0.53"}
	src := "apiVersion: cell/v1\nname: p\nnetwork: {mode: bridge, egress: {default: deny, allow: [{domain: example.com, ports: [443]}]}}\n"
	p := parse(t, "p.yaml", []byte(src), &f)
	pl, err := compile.Profile(p, &f, compile.Invocation{Name: "p-1", Args: []string{"sh"}})
	if err != nil {
		t.Fatal(err)
	}
	var proxy *network.Proxy
	for _, s := range pl.Steps {
		if e, ok := s.Do.(*plan.EgressProxy); ok {
			proxy = &e.Proxy
		}
	}
	if proxy == nil || !slices.Equal(proxy.Upstream, []string{"127.0.0.53:53"}) {
		t.Errorf("proxy %+v, want upstream 127.0.0.53:53", proxy)
	}
}

// TestPooledEnv checks that a pool's plan takes no passEnv values from
// the pool's own environment and names the variables a request brings.
func TestPooledEnv(t *testing.T) {
	src := "apiVersion: cell/v1\nname: p\nprocess:\n  passEnv: [TERM, LANG, SECRET]\n  env: {LANG: C}\n"
	p := parse(t, "p.yaml", []byte(src), &rootFacts)
	for _, pooled := range []bool{false, true} {
		pl, err := compile.Profile(p, &rootFacts, compile.Invocation{Name: "p-1", Args: []string{"sh"}, Pooled: pooled})
		if err != nil {
			t.Fatal(err)
		}
		env := strings.Join(pl.Steps[len(pl.Steps)-1].Do.(*plan.Exec).Env, " ")
		if pooled {
			if env != "LANG=C" || strings.Join(pl.PassEnv, " ") != "TERM SECRET" || !pl.Pooled {
				t.Errorf("pooled: env %q, passEnv %v, pooled %t", env, pl.PassEnv, pl.Pooled)
			}
			if !strings.Contains(pl.String(), "its values of passEnv (TERM, SECRET)") {
				t.Errorf("pooled plan does not say which variables a request brings:\n%s", pl)
			}
		} else if env != "LANG=C SECRET=hunter2 TERM=xterm-256color" || pl.PassEnv != nil {
			t.Errorf("run: env %q, passEnv %v", env, pl.PassEnv)
		}
	}
}

// TestPick compiles outside: pick: for root, a lease before anything that
// writes the slot's IDs, placeholders in the maps (an ID-mapped bind's
// too), a release in cleanup, and a refusal of a pool that overlaps what
// the host gives out; for an unprivileged caller, itself and then its
// subordinate range, with no lease.
func TestPick(t *testing.T) {
	doc := minimal + `ids:
  uidMap: [{inside: 0, outside: pick, count: 1000}, {inside: 1000, outside: 5000, count: 1}, {inside: 1001, outside: pick, count: 10}]
  gidMap: [{inside: 0, outside: pick, count: 65536}]
filesystem:
  mounts:
    - {type: bind, source: /srv, target: /srv, writable: true, idmap: {uid: [{inside: 0, outside: 0, count: 1}], gid: [{inside: 0, outside: 0, count: 1}]}}
`
	p := parse(t, "t.yaml", []byte(doc), &rootFacts)
	pl, err := compile.Profile(p, &rootFacts, compile.Invocation{Args: []string{"true"}, Name: "t-1"})
	if err != nil {
		t.Fatal(err)
	}
	lease := pl.Steps[0]
	if l, ok := lease.Do.(*plan.IDLease); !ok || l.File != ids.LeaseFile || l.Sandbox != "t-1" ||
		l.First != ids.DefaultPool.First || l.Count != ids.DefaultPool.Count || lease.Pos.String() != "t.yaml:4:33" {
		t.Errorf("first step: %s at %s", lease.Call(), lease.Pos)
	}
	if !strings.Contains(lease.Call(), "picked at run time") {
		t.Errorf("the lease step does not say the slot is picked at run time: %s", lease.Call())
	}
	var maps []string
	for _, s := range pl.Steps {
		switch a := s.Do.(type) {
		case *plan.WriteIDMap:
			maps = append(maps, a.Data)
		case *plan.IDMappedTree:
			maps = append(maps, a.UIDMap, a.GIDMap)
		case *plan.InitIDs:
			maps = append(maps, fmt.Sprint([]uint32{a.UID, a.GID}))
		}
	}
	want := []string{
		"0 {ids} 1\n0 {ids} 1\n", // the bind: on-disk root is the sandbox's root, the slot's first ID
		"0 {ids} 1000\n1000 5000 1\n1001 {ids+1000} 10\n",
		"0 {ids} 65536\n",
		"[0 0]", // root is not mapped: init works as the namespace's root
	}
	if diff := cmp.Diff(want, []string{maps[0] + maps[1], maps[2], maps[3], maps[4]}); diff != "" {
		t.Errorf("maps (-want +got):\n%s", diff)
	}
	last := pl.Cleanup[len(pl.Cleanup)-1]
	if r, ok := last.Do.(*plan.IDRelease); !ok || r.Slot != "{ids}" {
		t.Errorf("last cleanup step: %s", last.Call())
	}

	// The pool must not overlap what the host gives out.
	bad := rootFacts
	pool := *rootFacts.IDPool
	pool.Pool, pool.From = ids.Pool{First: 100000, Count: 65536}, ids.PoolEnv
	bad.IDPool = &pool
	err = compileErr(t, &bad, doc, compile.Invocation{Args: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "t.yaml:4:33: ids.uidMap[0].outside: the ID pool 100000-165535 (CELL_ID_POOL) overlaps 100000-165535, /etc/subuid entry of dev") {
		t.Errorf("overlapping pool: %v", err)
	}
	err = compileErr(t, &rootFacts, minimal+"ids:\n  uidMap: [{inside: 0, outside: pick, count: 65536}, {inside: 65536, outside: pick, count: 1}]\n", compile.Invocation{Args: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "ids.uidMap[1].count: the picked ranges of ids.uidMap hold 65537 IDs; a leased slot has 65536") {
		t.Errorf("more than a slot: %v", err)
	}

	// Unprivileged: the caller, then its subordinate range; no lease.
	user := minimal + "ids:\n  uidMap: [{inside: 0, outside: pick, count: 65536}]\n  gidMap: [{inside: 0, outside: pick, count: 65536}]\n"
	pl, err = compile.Profile(parse(t, "t.yaml", []byte(user), &userFacts), &userFacts, compile.Invocation{Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	var helpers [][]string
	for _, s := range pl.Steps {
		if s.Op() == plan.OpIDLease {
			t.Errorf("an unprivileged caller's plan leases: %s", s.Call())
		}
		if m, ok := s.Do.(*plan.NewIDMap); ok {
			helpers = append(helpers, m.Ranges)
		}
	}
	wantArgs := [][]string{{"0", "1000", "1", "1", "100000", "65535"}, {"0", "1000", "1", "1", "100000", "65535"}}
	if diff := cmp.Diff(wantArgs, helpers); diff != "" {
		t.Errorf("newuidmap/newgidmap arguments (-want +got):\n%s", diff)
	}
	// Without a subordinate range, the error names the profile's range.
	none := userFacts
	sub := *userFacts.SubIDs
	sub.UIDs = nil
	none.SubIDs = &sub
	err = compileErr(t, &none, user, compile.Invocation{Args: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "t.yaml:4:33: ids.uidMap[0].outside: needs 65535 subordinate IDs in one piece (outside: pick of an unprivileged caller is its own ID, then its subordinate range)") {
		t.Errorf("rootless pick without a subordinate range: %v", err)
	}
}

// TestLandlockNoExec checks which mounts landlock's exec rules make
// noexec: the writable ones with no readExec path at, above or below
// their target, and only while landlock restricts files.
func TestLandlockNoExec(t *testing.T) {
	const mounts = `filesystem:
  mounts:
    - {type: bind, source: /usr, target: /usr}
    - {type: bind, source: /data, target: /data}
    - {type: bind, source: /srv, target: /srv, writable: true}
    - {type: bind, source: /usr/local, target: /usr/local, writable: true}
    - {type: tmpfs, target: /tmp}
    - {type: tmpfs, target: /opt}
    - {type: overlay, target: /src, lower: [/srv]}
    - {type: dev, target: /dev}
`
	noexec := func(pl *plan.Plan) []string {
		var out []string
		for _, s := range pl.Steps {
			var target string
			var attr plan.AttrFlags
			switch a := s.Do.(type) {
			case *plan.Bind:
				target, attr = a.Target, a.Attr
			case *plan.MountFS:
				target, attr = a.Target, a.Attr
			default:
				continue
			}
			if uint64(attr)&unix.MOUNT_ATTR_NOEXEC != 0 &&
				!strings.HasPrefix(target, "/proc") && (target == "/dev/shm" || !strings.HasPrefix(target, "/dev")) {
				out = append(out, target)
			}
		}
		return out
	}
	landlock := "security:\n  landlock: {mode: bestEffort, readExec: [/usr, /opt/tools], readWrite: [/tmp, /srv, /src, /opt, /dev/shm], readOnly: [/data]}\n"
	if diff := cmp.Diff([]string{"/srv", "/tmp", "/src", "/dev/shm"}, noexec(compileFor(t, minimal+mounts+landlock, "true"))); diff != "" {
		t.Errorf("noexec mounts under landlock (-want +got):\n%s", diff)
	}
	if got := noexec(compileFor(t, minimal+mounts, "true")); len(got) != 0 {
		t.Errorf("noexec mounts without landlock: %v", got)
	}
	ports := "security:\n  landlock: {mode: bestEffort, connectTcp: [443]}\n"
	if got := noexec(compileFor(t, minimal+mounts+ports, "true")); len(got) != 0 {
		t.Errorf("noexec mounts with landlock port rules only: %v", got)
	}
}

// compileFor compiles doc for root with the command true.
func compileFor(t *testing.T, doc string, args ...string) *plan.Plan {
	t.Helper()
	pl, err := compile.Profile(parse(t, "t.yaml", []byte(doc), &rootFacts), &rootFacts, compile.Invocation{Args: args})
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// TestConsole: a run with a terminal makes its pty in the sandbox (a
// console step, owned by the command's ids, before the capabilities go),
// then setsid and setctty; without one, none of the three.
func TestConsole(t *testing.T) {
	doc := minimal + "ids: {uid: 1000, gid: 1000}\nfilesystem:\n  mounts:\n    - {type: dev, target: /dev}\n"
	p := parse(t, "c.yaml", []byte(doc), &rootFacts)
	pl, err := compile.Profile(p, &rootFacts, compile.Invocation{Args: []string{"sh"}, TTY: true})
	if err != nil {
		t.Fatal(err)
	}
	at := map[plan.Op]int{}
	for i, s := range pl.Steps {
		if _, ok := at[s.Op()]; !ok && s.Side != plan.Parent && (s.Side == plan.Command || s.Op() != plan.OpSetsid) {
			at[s.Op()] = i
		}
	}
	// init takes a session of its own with the command, in its clone
	// spec: after the clone, before its exec.
	if i := slices.IndexFunc(pl.Steps, func(s plan.Step) bool { return s.Side == plan.Init && s.Op() == plan.OpSetsid }); i < 0 || i > at[plan.OpExecInit] {
		t.Errorf("init's setsid at %d, exec-init at %d", i, at[plan.OpExecInit])
	}
	c, ok := at[plan.OpConsole]
	if !ok {
		t.Fatalf("no console step:\n%s", pl)
	}
	if s, a := pl.Steps[c], pl.Steps[c].Do.(*plan.Console); s.Side != plan.Init || a.Ptmx != "/dev/ptmx" || a.UID != 1000 || a.GID != 1000 {
		t.Errorf("console step %+v", s)
	}
	if !(at[plan.OpPivotRoot] < c && c < at[plan.OpCapBSetDrop] && at[plan.OpSetsid] > c && at[plan.OpSetctty] > at[plan.OpSetsid]) {
		t.Errorf("console at %d, pivot_root %d, capbset-drop %d, setsid %d, setctty %d", c, at[plan.OpPivotRoot], at[plan.OpCapBSetDrop], at[plan.OpSetsid], at[plan.OpSetctty])
	}
	pl, err = compile.Profile(p, &rootFacts, compile.Invocation{Args: []string{"sh"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range pl.Steps {
		if s.Op() == plan.OpConsole || s.Op() == plan.OpSetctty {
			t.Errorf("a run without a terminal has %s", s.Call())
		}
	}
}

// steps returns the steps of pl whose action is a T.
func steps[T plan.Action](pl *plan.Plan) []plan.Step {
	var out []plan.Step
	for _, s := range pl.Steps {
		if _, ok := s.Do.(T); ok {
			out = append(out, s)
		}
	}
	return out
}

// find returns the actions of pl's steps that are a T.
func find[T plan.Action](pl *plan.Plan) []T {
	var out []T
	for _, s := range pl.Steps {
		if a, ok := s.Do.(T); ok {
			out = append(out, a)
		}
	}
	return out
}

// TestHostRoot: without a mount namespace, a root directory is bound
// onto itself (private), its mounts are made under it with targets
// resolved inside it, init chroots into it; nothing makes the host's "/"
// private or pivots; cleanup unmounts each mount in reverse and the bind
// last. An unprivileged caller is refused: the mounts are the host's.
func TestHostRoot(t *testing.T) {
	doc := minimal + "namespaces: {mount: host, user: host}\nfilesystem:\n  root: {path: /srv/rootfs, readOnly: true}\n" +
		"  mounts:\n    - {type: proc, target: /proc, unmasked: true}\n    - {type: tmpfs, target: /tmp}\n    - {type: bind, source: /srv/data, target: /data}\n"
	pl := compileFor(t, doc, "true")
	text := pl.String()
	for _, want := range []string{
		`init    open_tree("/srv/rootfs", OPEN_TREE_CLONE|AT_RECURSIVE) mount_setattr(propagation=MS_PRIVATE, AT_RECURSIVE) move_mount(-> "/srv/rootfs")`,
		`move_mount(-> "/srv/rootfs/proc")`,
		`open_tree("/srv/data", OPEN_TREE_CLONE|AT_RECURSIVE)`,
		`init    chdir("/srv/rootfs")`,
		`init    chroot(".")`,
		`init    mount_setattr("/", MOUNT_ATTR_RDONLY)`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
	if n := len(steps[*plan.PivotRoot](pl)) + len(steps[*plan.Mount](pl)); n > 0 {
		t.Errorf("%d pivot_root or mount(2) steps (\"/\" made private?) in a plan without a mount namespace:\n%s", n, text)
	}
	var got []string
	for _, s := range pl.Cleanup {
		if u, ok := s.Do.(*plan.UmountRootfs); ok {
			if u.Root != "/srv/rootfs" {
				t.Errorf("cleanup under %s", u.Root)
			}
			got = append(got, u.Target)
		}
	}
	if want := []string{"/data", "/tmp", "/proc", "/"}; !slices.Equal(got, want) {
		t.Errorf("cleanup unmounts %q, want %q", got, want)
	}
	err := compileErr(t, &userFacts, doc, compile.Invocation{Args: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "filesystem.root.path: with namespaces.mount: host") || !strings.Contains(err.Error(), "needs root") {
		t.Errorf("rootless: %v, want the root directory refused", err)
	}
}

// hostRootProfile is an OCI bundle's container without namespaces, as a
// profile: a read-only root directory on the host with a hardened /proc,
// a /dev and a bind.
const hostRootProfile = `apiVersion: cell/v1
name: hostroot
namespaces: {mount: host, user: host, pid: host, net: host, uts: host, ipc: host, cgroup: host, time: host}
network: {mode: host}
filesystem:
  root: {path: /srv/bundle/rootfs, readOnly: true}
  mounts:
    - {type: proc, target: /proc}
    - {type: dev, target: /dev}
    - {type: mqueue, target: /dev/mqueue}
    - {type: bind, source: /srv/data, target: /data}
`

// TestGoldenHostRoot pins the plan of hostRootProfile (internal/sandbox
// runs its JSON against its recording kernel, as the built-in profiles').
func TestGoldenHostRoot(t *testing.T) {
	p := parse(t, "hostroot.yaml", []byte(hostRootProfile), &rootFacts)
	pl, err := compile.Profile(p, &rootFacts, compile.Invocation{Args: []string{"sh"}})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "hostroot.root.plan", []byte(pl.String()))
	js, err := json.MarshalIndent(pl, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "hostroot.root.json", append(js, '\n'))
}
