package cgroup

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/plan")

// hybridHost is this project's CI host: v1 for every controller but
// hugetlb, a cgroup2 mount with nothing enabled, memsw and BFQ present.
func hybridHost(t *testing.T) *Layout {
	l := fixture(t, "hybrid")
	l.Controllers = []string{"hugetlb"}
	l.Swap, l.BFQ, l.BlkioThrottle = true, true, true
	l.CpusetCpus, l.CpusetMems = "0-1", "0"
	return l
}

// v2Root is the test VM as root: every controller available, none
// enabled in the root yet.
func v2Root(t *testing.T) *Layout {
	l := fixture(t, "v2vm")
	l.Controllers = strings.Fields("cpuset cpu io memory hugetlb pids rdma misc")
	l.Swap, l.IOCost = true, true
	return l
}

// v2Rootless is a user in a scope that systemd-run --user --scope -p
// Delegate=yes made (cpu, memory and pids delegated), before cell moved
// into its supervisor cgroup or, with moved, after.
func v2Rootless(t *testing.T, moved bool) *Layout {
	l := fixture(t, "v2systemd")
	l.Rootless = true
	l.Delegated = l.Self
	l.Controllers = []string{"cpu", "memory", "pids"}
	l.Swap = true
	if moved {
		l.Self = path.Join(l.Self, SupervisorName)
		l.Enabled = []string{"cpu", "memory", "pids"}
	}
	return l
}

// v1Host is a host without cgroup2, cpu and cpuacct co-mounted, no BFQ.
func v1Host(t *testing.T) *Layout {
	l := fixture(t, "v1")
	l.Swap, l.BlkioThrottle = true, true
	l.CpusetCpus, l.CpusetMems = "0-3", "0"
	return l
}

// withHugePages gives a layout the kernel's huge page sizes.
func withHugePages(f func(*testing.T) *Layout, sizes ...string) func(*testing.T) *Layout {
	return func(t *testing.T) *Layout {
		l := f(t)
		l.HugePageSizes = sizes
		return l
	}
}

// hybridFree is the hybrid host with the controllers it leaves free
// mounted as v1 hierarchies outside /sys/fs/cgroup, as the tests and the
// OCI suite's harness mount them: hugetlb alone, net_cls and net_prio
// together.
func hybridFree(t *testing.T) *Layout {
	l := hybridHost(t)
	l.Controllers = nil
	l.V1["hugetlb"] = "/run/cell-test/hugetlb"
	l.V1["net_cls"] = "/run/cell-test/net"
	l.V1["net_prio"] = "/run/cell-test/net"
	l.HugePageSizes = []string{"2MB"}
	return l
}

// network sets a class and two priorities.
func network() Limits {
	return Limits{NetClassID: 0x100001, NetPriorities: []NetPriority{{"eth0", 5}, {"lo", 2}}}
}

// every sets every limit.
func every() Limits {
	return Limits{
		MemoryMax: Num(64 << 20), MemoryHigh: Num(48 << 20), SwapMax: Num(0), OOMGroup: true,
		CPUMax: CPUs(1500), CPUWeight: 200, Cpus: "0-1", Mems: "0", PidsMax: Num(100),
		IOWeight: 500, IODevices: []IODevice{{Major: 8, Minor: 0, RBPS: 1 << 20, WIOPS: 100}},
	}
}

// everyV1 sets every limit that cgroup v1 has.
func everyV1() Limits {
	l := every()
	l.MemoryHigh, l.OOMGroup = nil, false
	return l
}

// devices are device rules: a type-a rule narrower than rwm (which v1
// takes as two rules), a wildcard minor, an exact node.
func devices() Limits {
	return Limits{DevicesOnly: true, Devices: []DeviceRule{
		{Type: 'a', Major: -1, Minor: -1, Access: "r"},
		{Type: 'c', Major: 136, Minor: -1, Access: "rw"},
		{Type: 'c', Major: 1, Minor: 3, Access: "rwm"},
	}}
}

func TestPlan(t *testing.T) {
	for _, tt := range []struct {
		name         string
		layout       func(*testing.T) *Layout
		parent, sbox string
		lim          Limits
	}{
		{"v2-every", v2Root, "", "sbx", every()},
		{"v2-none", v2Root, "", "sbx", Limits{}},
		{"v2-root-parent", v2Root, "/", "sbx", Limits{PidsMax: Max()}},
		{"v2-deep-parent", v2Root, "/ci/jobs/", "sbx", Limits{MemoryMax: Max(), CPUMax: CPUs(0)}},
		{"v2-enabled-already", func(t *testing.T) *Layout {
			l := v2Root(t)
			l.Enabled = []string{"memory", "pids"}
			return l
		}, "", "sbx", Limits{CPUWeight: 1}},
		{"v2-bfq", func(t *testing.T) *Layout {
			l := v2Root(t)
			l.BFQ = true
			return l
		}, "", "sbx", Limits{IOWeight: 10000}},
		{"v2-container", func(t *testing.T) *Layout {
			l := fixture(t, "v2container")
			l.Controllers = []string{"cpu", "memory", "pids"}
			return l
		}, "", "sbx", Limits{MemoryMax: Num(1 << 30)}},
		{"v2-rootless", func(t *testing.T) *Layout { return v2Rootless(t, false) }, "", "sbx",
			Limits{MemoryMax: Num(1 << 30), SwapMax: Max(), CPUMax: CPUs(500), PidsMax: Num(64)}},
		{"v2-rootless-moved", func(t *testing.T) *Layout { return v2Rootless(t, true) }, "builds", "sbx", Limits{PidsMax: Num(64)}},
		{"hybrid-every-v1", hybridHost, "", "sbx", everyV1()},
		{"hybrid-none", hybridHost, "", "sbx", Limits{}},
		{"hybrid-max-only", hybridHost, "cell-test", "sbx", Limits{MemoryHigh: Max(), MemoryMax: Num(1 << 20), SwapMax: Max()}},
		{"v1-every-v1", v1Host, "", "sbx", func() Limits { l := everyV1(); l.IOWeight = 0; return l }()},
		{"v1-none", v1Host, "", "sbx", Limits{}},
		{"v1-weights", v1Host, "", "sbx", Limits{CPUWeight: 1, IOWeight: 100}},
		{"v1-shares", v1Host, "", "sbx", Limits{CPUShares: 1000, CPUMax: &CPUMax{Quota: 50000, Period: 500000}}},
		{"v2-shares", func(t *testing.T) *Layout { return v2Root(t) }, "", "sbx", Limits{CPUShares: 1024, CPUMax: &CPUMax{Quota: 50000, Period: 500000}}},
		{"v2-devices", v2Root, "", "sbx", devices()},
		{"v2-devices-only", v2Root, "", "sbx", Limits{DevicesOnly: true}},
		{"hybrid-devices", hybridHost, "", "sbx", devices()},
		{"hybrid-devices-only", hybridHost, "", "sbx", Limits{DevicesOnly: true}},
		{"v2-hugetlb", withHugePages(v2Root, "2MB", "1GB"), "", "sbx", Limits{PidsMax: Num(9), HugeTLB: []HugeTLB{{"2MB", Num(64 << 20)}, {"1GB", Max()}}}},
		{"hybrid-hugetlb-v2", withHugePages(hybridHost, "2MB"), "", "sbx", Limits{HugeTLB: []HugeTLB{{"2MB", Num(4 << 20)}}}},
		{"hybrid-free-v1", hybridFree, "", "sbx", func() Limits {
			l := network()
			l.HugeTLB = []HugeTLB{{"2MB", Max()}}
			return l
		}()},
		{"hybrid-net-class-only", hybridFree, "", "sbx", Limits{NetClassID: 7}},
		{"v1-net-hugetlb", withHugePages(v1Host, "2MB", "1GB"), "", "sbx", func() Limits {
			l := network()
			l.HugeTLB = []HugeTLB{{"1GB", Num(1 << 30)}}
			return l
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.layout(t)
			if tt.name == "v1-weights" {
				l.BlkioWeight = true
			}
			s, err := Plan(l, tt.parent, tt.sbox, tt.lim)
			if err != nil {
				t.Fatal(err)
			}
			g, err := json.MarshalIndent(s.Group, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got := "# " + l.Version() + " " + tt.lim.String() + "\n" + s.String() + "# group\n" + string(g) + "\n"
			golden(t, filepath.Join("testdata", "plan", tt.name+".setup"), got)
		})
	}
}

// golden compares got with the file, or rewrites it under -update.
func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to make it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s is stale (-want +got); rerun with -update if intended\n%s", file, d)
	}
}

func TestPlanErrors(t *testing.T) {
	noBFQ := func(t *testing.T) *Layout { l := hybridHost(t); l.BFQ = false; return l }
	noSwap := func(l *Layout) *Layout { l.Swap = false; return l }
	for _, tt := range []struct {
		name   string
		layout *Layout
		parent string
		sbox   string
		lim    Limits
		want   []string
	}{
		{"v1 has no memory.high or oom.group", hybridHost(t), "", "sbx", every(), []string{
			"memoryHigh: cgroup v1 has no memory.high (its soft limit only acts under global memory pressure and does not throttle); use memoryMax, or cgroup v2",
			"oomGroup: cgroup v1 has no memory.oom.group: an OOM kill there ends only the process it picks; use cgroup v2",
		}},
		{"v1 swap needs memoryMax", hybridHost(t), "", "sbx", Limits{SwapMax: Num(1)}, []string{
			"swapMax: cgroup v1 limits memory and swap together (memory.memsw.limit_in_bytes), so a swap limit needs a memoryMax",
		}},
		{"v1 swap needs accounting", noSwap(hybridHost(t)), "", "sbx", Limits{MemoryMax: Num(1 << 20), SwapMax: Num(0)}, []string{
			"swapMax: swap accounting is off (no memory.memsw.limit_in_bytes: boot with swapaccount=1)",
		}},
		{"v2 swap needs accounting", noSwap(v2Root(t)), "", "sbx", Limits{SwapMax: Num(0)}, []string{
			"swapMax: swap accounting is off (no memory.swap.max: the kernel runs with swapaccount=0)",
		}},
		{"v1 io weight needs bfq", noBFQ(t), "", "sbx", Limits{IOWeight: 100}, []string{
			"ioWeight: cgroup v1 blkio has no weight file: blkio.bfq.weight needs the bfq scheduler (modprobe bfq), and blkio.weight went with CFQ in Linux 5.0",
		}},
		{"v2 io weight needs a weight file", func() *Layout { l := v2Root(t); l.IOCost = false; return l }(), "", "sbx", Limits{IOWeight: 100}, []string{
			"ioWeight: no IO weight file: io.weight needs the kernel's io.cost controller (no io.cost.qos in /sys/fs/cgroup) and io.bfq.weight the bfq scheduler (modprobe bfq)",
		}},
		{"v1 throttle needs its files", func() *Layout { l := hybridHost(t); l.BlkioThrottle = false; return l }(), "", "sbx",
			Limits{IODevices: []IODevice{{Major: 8, RBPS: 1}}}, []string{
				"ioDevices: cgroup v1 blkio has no blkio.throttle.* files (kernel without CONFIG_BLK_DEV_THROTTLING)",
			}},
		{"controller missing on v2", func() *Layout { l := v2Root(t); l.Controllers = []string{"memory", "pids"}; return l }(), "", "sbx",
			Limits{CPUWeight: 50, Cpus: "1"}, []string{
				"cpuWeight: no cgroup hierarchy has the cpu controller: it is not mounted as cgroup v1 and not in /sys/fs/cgroup/cgroup.controllers [memory pids]",
				"cpus: no cgroup hierarchy has the cpuset controller: it is not mounted as cgroup v1 and not in /sys/fs/cgroup/cgroup.controllers [memory pids]",
			}},
		{"controller missing on hybrid", func() *Layout { l := hybridHost(t); delete(l.V1, "pids"); return l }(), "", "sbx",
			Limits{PidsMax: Num(5)}, []string{
				"pidsMax: no cgroup hierarchy has the pids controller: it is not mounted as cgroup v1 and not in /sys/fs/cgroup/unified/cgroup.controllers [hugetlb]",
			}},
		{"controller missing on v1", func() *Layout { l := v1Host(t); delete(l.V1, "pids"); return l }(), "", "sbx",
			Limits{PidsMax: Num(5)}, []string{
				"pidsMax: no cgroup hierarchy has the pids controller (it is not mounted)",
			}},
		{"cpu bandwidth out of range", v2Root(t), "", "sbx", Limits{CPUMax: &CPUMax{Quota: 500, Period: 100}}, []string{
			"cpuMax: period 100 µs is outside the kernel's range 1000..1000000",
		}},
		{"cpu quota too small", v2Root(t), "", "sbx", Limits{CPUMax: &CPUMax{Quota: 500}}, []string{
			"cpuMax: quota 500 µs is below the kernel's minimum 1000",
		}},
		{"weights out of range", v2Root(t), "", "sbx", Limits{CPUWeight: 10001, IOWeight: 10001}, []string{
			"cpuWeight: 10001 is outside 1..10000",
			"ioWeight: 10001 is outside 1..10000",
		}},
		{"shares and a weight", v2Root(t), "", "sbx", Limits{CPUWeight: 100, CPUShares: 1024}, []string{
			"cpuShares: cpu shares and a cpu weight cannot both be set",
		}},
		{"shares out of range", v2Root(t), "", "sbx", Limits{CPUShares: 1}, []string{
			"cpuShares: 1 is outside 2..262144",
		}},
		{"v1 cpuset needs the probe", fixture(t, "hybrid"), "", "sbx", Limits{Cpus: "0"}, []string{
			"cpus: the v1 cpuset root's effective CPUs and memory nodes are unknown (the layout was not probed), and a new v1 cpuset cgroup needs both",
		}},
		{"rootless v1 controllers", func() *Layout { l := hybridHost(t); l.Rootless, l.Delegated = true, "/"; return l }(), "", "sbx",
			Limits{MemoryMax: Num(1 << 20), PidsMax: Num(5)}, []string{
				"memoryMax: the memory controller is on cgroup v1 (/sys/fs/cgroup/memory), which cannot be delegated to an unprivileged user; run as root, or boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2",
				"pidsMax: the pids controller is on cgroup v1 (/sys/fs/cgroup/pids), which cannot be delegated to an unprivileged user; run as root, or boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2",
			}},
		{"rootless without delegation", func() *Layout {
			l := v2Rootless(t, false)
			l.Delegated, l.NoDelegation = "", "your cgroup /sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope belongs to uid 0, not to you (uid 1000)"
			return l
		}(), "", "sbx", Limits{PidsMax: Num(5)}, []string{
			"no cgroup is delegated to you (your cgroup /sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope belongs to uid 0, not to you (uid 1000)); run cell in a delegated scope: systemd-run --user --scope -p Delegate=yes cell run -- CMD",
		}},
		{"rootless controller not delegated", v2Rootless(t, false), "", "sbx", Limits{Cpus: "0", IOWeight: 10}, []string{
			"cpus: the cpuset controller is not delegated to you: /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/run-r3c2a9f.scope/cgroup.controllers has only [cpu memory pids]; systemd's user manager passes on what its own Delegate= lists (often cpu memory pids): add cpuset there (systemctl edit user@.service) and start cell with systemd-run --user --scope -p Delegate=yes",
			"ioWeight: the io controller is not delegated to you: /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/run-r3c2a9f.scope/cgroup.controllers has only [cpu memory pids]; systemd's user manager passes on what its own Delegate= lists (often cpu memory pids): add io there (systemctl edit user@.service) and start cell with systemd-run --user --scope -p Delegate=yes",
		}},
		{"rootless on v1", func() *Layout { l := v1Host(t); l.Rootless = true; return l }(), "", "sbx", Limits{}, []string{
			"rootless cgroups need cgroup v2, and this host has only v1 hierarchies, which cannot be delegated to an unprivileged user; run as root, or boot with systemd.unified_cgroup_hierarchy=1",
		}},
		{"rootless parent is the supervisor", v2Rootless(t, true), "cell-supervisor/x", "sbx", Limits{}, []string{
			`cgroup parent "cell-supervisor/x": cell-supervisor is where cell itself runs`,
		}},
		{"net_cls and net_prio on v2", v2Root(t), "", "sbx", network(), []string{
			"netClassID: the net_cls controller exists only in cgroup v1, and this host has only cgroup v2, and cell never runs a sandbox without a limit it was given",
			"netPriorities: the net_prio controller exists only in cgroup v1, and this host has only cgroup v2, and cell never runs a sandbox without a limit it was given",
		}},
		{"net_cls not mounted on hybrid", hybridHost(t), "", "sbx", Limits{NetClassID: 1}, []string{
			"netClassID: the net_cls controller is not mounted as a cgroup v1 hierarchy (no cgroup mount with the net_cls option in /proc/self/mountinfo); where /proc/cgroups shows it on hierarchy 0 it is free: mount it, such as mkdir /sys/fs/cgroup/net_cls,net_prio && mount -t cgroup -o net_cls,net_prio cgroup /sys/fs/cgroup/net_cls,net_prio",
		}},
		{"net_prio rootless", func() *Layout {
			l := v1Host(t)
			l.Rootless = true
			l.Unified = "/sys/fs/cgroup/unified"
			l.Delegated = "/u"
			return l
		}(), "", "sbx",
			Limits{NetPriorities: []NetPriority{{"lo", 1}}}, []string{
				"netPriorities: the net_prio controller is on cgroup v1 (/sys/fs/cgroup/net_cls,net_prio), which cannot be delegated to an unprivileged user",
			}},
		{"bad interface name", hybridFree(t), "", "sbx", Limits{NetPriorities: []NetPriority{{"a b", 1}}}, []string{
			`netPriorities: "a b" is not an interface name`,
		}},
		{"hugetlb nowhere", func() *Layout {
			l := v2Root(t)
			l.Controllers = []string{"memory"}
			l.HugePageSizes = []string{"2MB"}
			return l
		}(), "", "sbx",
			Limits{HugeTLB: []HugeTLB{{"2MB", Num(1)}}}, []string{
				"hugetlb.2MB: no cgroup hierarchy has the hugetlb controller: it is not mounted as cgroup v1 and not in /sys/fs/cgroup/cgroup.controllers [memory]",
			}},
		{"page size the kernel lacks", withHugePages(v2Root, "2MB")(t), "", "sbx", Limits{HugeTLB: []HugeTLB{{"2MB", Num(1)}, {"1GB", Num(1 << 30)}}}, []string{
			"hugetlb.1GB: the kernel has no 1GB huge pages; it offers 2MB",
		}},
		{"no huge pages at all", hybridHost(t), "", "sbx", Limits{HugeTLB: []HugeTLB{{"2MB", Num(1)}}}, []string{
			"hugetlb.2MB: the kernel has no 2MB huge pages; it offers none (no /sys/kernel/mm/hugepages/hugepages-*kB)",
		}},
		{"no hierarchy", &Layout{}, "", "sbx", Limits{}, []string{"no cgroup hierarchy is mounted"}},
		{"bad name", v2Root(t), "", "a/b", Limits{}, []string{`cgroup name "a/b": must be one path component`}},
		{"dot name", v2Root(t), "", "..", Limits{}, []string{`cgroup name "..": must be one path component`}},
		{"bad parent", v2Root(t), "a/../b", "x", Limits{}, []string{`cgroup parent "a/../b": ".." is not a cgroup name`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Plan(tt.layout, tt.parent, tt.sbox, tt.lim)
			if err == nil {
				t.Fatalf("no error; setup:\n%s", s)
			}
			if d := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
			// Every error about a limit says which, for the caller to
			// point at the profile.
			var le *LimitError
			if isLimit := strings.HasSuffix(strings.Fields(tt.want[0])[0], ":"); isLimit && (!errors.As(err, &le) || !strings.HasPrefix(tt.want[0], le.Limit+": ")) {
				t.Errorf("%v: not a *LimitError of its limit", err)
			}
		})
	}
}

func TestLimit(t *testing.T) {
	l := hybridHost(t)
	s, err := Plan(l, "", "sbx", Limits{PidsMax: Num(10)})
	if err != nil {
		t.Fatal(err)
	}
	// Raising memory with a swap limit: memsw is lifted first, so that it
	// never falls below limit_in_bytes.
	ws, err := Limit(l, &s.Group, Limits{MemoryMax: Num(2 << 20), SwapMax: Num(1 << 20), PidsMax: Max()})
	if err != nil {
		t.Fatal(err)
	}
	want := []Write{
		{"/sys/fs/cgroup/memory/cell/sbx", "memory.memsw.limit_in_bytes", "-1"},
		{"/sys/fs/cgroup/memory/cell/sbx", "memory.limit_in_bytes", "2097152"},
		{"/sys/fs/cgroup/memory/cell/sbx", "memory.memsw.limit_in_bytes", "3145728"},
		{"/sys/fs/cgroup/pids/cell/sbx", "pids.max", "max"},
	}
	if d := cmp.Diff(want, ws); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	// The cpu hierarchy was not joined at creation: an error, not a no-op.
	_, err = Limit(l, &s.Group, Limits{CPUWeight: 10, Cpus: "1"})
	if got, want := err.Error(), "cpuWeight: the sandbox's cgroup has no cpu controller (it gets its controllers when it is made)\ncpus: the sandbox's cgroup has no cpuset controller (it gets its controllers when it is made)"; got != want {
		t.Errorf("error:\n%s\nwant:\n%s", got, want)
	}
	// A device program on v2 is attached once, when the cgroup is made:
	// changing the rules later is refused, not ignored.
	v2 := v2Root(t)
	s, err = Plan(v2, "", "sbx", devices())
	if err != nil {
		t.Fatal(err)
	}
	if _, err = Limit(v2, &s.Group, devices()); err == nil || !strings.Contains(err.Error(), "devices: the sandbox's device rules are a BPF program") {
		t.Errorf("changing v2 device rules: %v, want a refusal", err)
	}
	// Huge page limits and priorities change in place; a class needs
	// the net_cls hierarchy the sandbox was made in.
	free := hybridFree(t)
	s, err = Plan(free, "", "sbx", Limits{HugeTLB: []HugeTLB{{"2MB", Num(2 << 20)}}})
	if err != nil {
		t.Fatal(err)
	}
	ws, err = Limit(free, &s.Group, Limits{HugeTLB: []HugeTLB{{"2MB", Max()}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]Write{{"/run/cell-test/hugetlb/cell/sbx", "hugetlb.2MB.limit_in_bytes", "-1"}}, ws); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if _, err = Limit(free, &s.Group, Limits{NetClassID: 3}); err == nil || err.Error() != "netClassID: the sandbox's cgroup has no net_cls controller (it gets its controllers when it is made)" {
		t.Errorf("class on a sandbox made without net_cls: %v", err)
	}
	// A v1 cpuset leaf keeps its CPUs when only mems change.
	s, err = Plan(l, "", "sbx", Limits{Cpus: "1"})
	if err != nil {
		t.Fatal(err)
	}
	ws, err = Limit(l, &s.Group, Limits{Mems: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]Write{{"/sys/fs/cgroup/cpuset/cell/sbx", "cpuset.mems", "0"}}, ws); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

func TestSetupJSON(t *testing.T) {
	for _, l := range []*Layout{v2Root(t), hybridHost(t), v1Host(t), v2Rootless(t, false)} {
		s, err := Plan(l, "", "sbx", Limits{PidsMax: Num(7)})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Setup
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(s, &back); d != "" {
			t.Errorf("%s: round trip (-want +got)\n%s", l.Version(), d)
		}
	}
}

func TestLimitsJSON(t *testing.T) {
	lim := every()
	lim.SwapMax = Max()
	b, err := json.Marshal(lim)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"memoryMax":67108864,"memoryHigh":50331648,"swapMax":"max","oomGroup":true,"cpuMax":{"quota":150000,"period":100000},"cpuWeight":200,"cpus":"0-1","mems":"0","pidsMax":100,"ioWeight":500,"ioDevices":[{"Major":8,"Minor":0,"RBPS":1048576,"WBPS":0,"RIOPS":0,"WIOPS":100}]}`
	if string(b) != want {
		t.Errorf("json:\n%s\nwant:\n%s", b, want)
	}
	var back Limits
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(lim, back, cmp.AllowUnexported(Value{})); d != "" {
		t.Errorf("round trip (-want +got)\n%s", d)
	}
	var v Value
	if err := json.Unmarshal([]byte(`"lots"`), &v); err == nil || err.Error() != `cgroup value: must be "max" or a non-negative integer, not "lots"` {
		t.Errorf("bad value: error %v", err)
	}
}

func TestStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Num(5).String(), "5"},
		{Max().String(), "max"},
		{Max().v1(), "-1"},
		{CPUs(1500).String(), "150000 100000"},
		{CPUs(0).String(), "max 100000"},
		{(&CPUMax{Quota: 2000}).String(), "2000 100000"},
		{IODevice{Major: 8, Minor: 16, WBPS: 10, RIOPS: 3}.String(), "8:16 wbps=10 riops=3"},
		{Limits{}.String(), "none"},
		{Limits{MemoryMax: Num(1), CPUMax: CPUs(500), IODevices: []IODevice{{Major: 1, RBPS: 2}}}.String(), "memoryMax=1 cpuMax=50000 100000 ioDevice={1:0 rbps=2}"},
		{Write{"/a", "b", "c"}.String(), `write "c" to /a/b`},
		{PageSizeName(64), "64KB"},
		{PageSizeName(2048), "2MB"},
		{PageSizeName(32768), "32MB"},
		{PageSizeName(1 << 20), "1GB"},
		{PageSizeName(16 << 20), "16GB"},
		{Limits{HugeTLB: []HugeTLB{{"2MB", Num(4)}}, NetClassID: 9, NetPriorities: []NetPriority{{"lo", 1}}}.String(), "hugetlb={2MB=4} netClassID=9 netPriority={lo 1}"},
		{(&Error{Op: "write", Path: "/x/net_prio.ifpriomap", Value: "eth9 1", Err: unix.ENODEV}).Error(), `write "eth9 1" to /x/net_prio.ifpriomap: ENODEV (no such device): the kernel looks the interface up in the host's initial network namespace (not the sandbox's), and no interface there has that name`},
		{(&Stats{CPUUsec: new(uint64(7))}).String(), "memoryPeak=? oomKills=? pidsPeak=? pidsMaxHits=? cpuUsec=7 cpuUserUsec=? cpuSystemUsec=?"},
		{(&Error{Op: "write", Path: "/sys/fs/cgroup/x/memory.max", Value: "64M", Err: unix.EINVAL}).Error(), `write "64M" to /sys/fs/cgroup/x/memory.max: EINVAL (invalid argument)`},
		{(&Error{Op: "rmdir", Path: "/sys/fs/cgroup/x", Err: unix.EBUSY}).Error(), `rmdir /sys/fs/cgroup/x: EBUSY (device or resource busy): processes are still in it (Kill first)`},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if got := bfqWeight(1); got != 1 {
		t.Errorf("bfqWeight(1) = %d", got)
	}
	if got := bfqWeight(100); got != 100 {
		t.Errorf("bfqWeight(100) = %d", got)
	}
	if got := bfqWeight(10000); got != 1000 {
		t.Errorf("bfqWeight(10000) = %d", got)
	}
}
