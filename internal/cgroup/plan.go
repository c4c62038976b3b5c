package cgroup

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/cellsandbox/cell/launcher/plan"
)

// DefaultParent is the cgroup, relative to each hierarchy's root, under
// which Plan puts the sandboxes of root when no parent is given.
const DefaultParent = "cell"

// SupervisorName is the cgroup that a rootless caller moves itself into,
// inside its delegated cgroup, so that the delegated cgroup holds no
// process and may give controllers to the sandboxes' cgroups (cgroup v2's
// "no internal processes" rule).
const SupervisorName = "cell-supervisor"

// A Write is one value written to one file of one cgroup directory.
type Write struct {
	Dir   string `json:"dir"`
	File  string `json:"file"`
	Value string `json:"value"`
}

// Path is the file written.
func (w Write) Path() string { return path.Join(w.Dir, w.File) }

// String prints the write as its error would name it:
// `write "67108864" to /sys/fs/cgroup/cell/x/memory.max`.
func (w Write) String() string { return fmt.Sprintf("write %q to %s", w.Value, w.Path()) }

// Group is the set of cgroup directories that hold one sandbox: its leaf
// in the unified hierarchy and in each v1 hierarchy it uses. It is the
// plan's type, which a plan carries for its cleanup and statistics.
type Group = plan.Cgroup

// Setup is what creating a sandbox's cgroups takes, in order: make the
// directories Dirs (the parents may exist already, the leaves must not),
// then the Writes, which enable controllers in the parents'
// cgroup.subtree_control (v2) and set the limits. The sandbox's first
// process is then cloned into Clone (v2: clone3 with CLONE_INTO_CGROUP),
// and its pid written to the cgroup.procs of every directory of Join (v1)
// before it runs anything.
type Setup struct {
	Dirs   []string `json:"dirs"`
	Writes []Write  `json:"writes,omitempty"`
	Clone  string   `json:"clone,omitempty"`
	Join   []string `json:"join,omitempty"`
	// Devices, when set, is the device program to attach to the unified
	// leaf after the writes, before the clone: the device rules on a
	// host without cgroup v1's devices controller.
	Devices *plan.CgroupDevices `json:"devices,omitempty"`
	// Group is the sandbox's cgroups once made, for Kill, Stats, Remove.
	Group Group `json:"group"`
}

// String prints the setup one step a line: "mkdir DIR", `write "V" to
// FILE`, "clone into DIR", "join DIR".
func (s *Setup) String() string {
	var b strings.Builder
	for _, d := range s.Dirs {
		fmt.Fprintf(&b, "mkdir %s\n", d)
	}
	for _, w := range s.Writes {
		fmt.Fprintf(&b, "%s\n", w)
	}
	if d := s.Devices; d != nil {
		rules := make([]string, len(d.Allow))
		for i, r := range d.Allow {
			rules[i] = r.String()
		}
		fmt.Fprintf(&b, "attach device program allowing [%s] to %s\n", strings.Join(rules, ", "), d.Dir)
	}
	if s.Clone != "" {
		fmt.Fprintf(&b, "clone into %s\n", s.Clone)
	}
	for _, d := range s.Join {
		fmt.Fprintf(&b, "join %s\n", d)
	}
	return b.String()
}

// LimitError says why a limit cannot be had on this host. Plan returns
// every one it finds, joined.
type LimitError struct {
	// Limit is the Limits field, in its JSON spelling ("memoryHigh").
	Limit string
	Why   string
}

func (e *LimitError) Error() string { return e.Limit + ": " + e.Why }

// The unified controllers cell uses, in the kernel's order (the order
// cgroup.controllers lists them in).
var v2Order = []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids"}

// The v1 controllers cell uses, in the order Plan makes their directories.
var v1Order = plan.V1Order()

// v1Name is the v1 name of a unified controller.
func v1Name(c string) string {
	if c == "io" {
		return "blkio"
	}
	return c
}

// need lists the unified controllers lim needs, each with the first
// limit that needs it.
func need(lim *Limits) map[string]string {
	n := map[string]string{}
	set := func(c, limit string, on bool) {
		if _, ok := n[c]; !ok && on {
			n[c] = limit
		}
	}
	set("memory", "memoryMax", lim.MemoryMax != nil)
	set("memory", "memoryHigh", lim.MemoryHigh != nil)
	set("memory", "swapMax", lim.SwapMax != nil)
	set("memory", "oomGroup", lim.OOMGroup)
	set("cpu", "cpuMax", lim.CPUMax != nil)
	set("cpu", "cpuWeight", lim.CPUWeight != 0)
	set("cpu", "cpuShares", lim.CPUShares != 0)
	set("cpuset", "cpus", lim.Cpus != "")
	set("cpuset", "mems", lim.Mems != "")
	set("pids", "pidsMax", lim.PidsMax != nil)
	set("io", "ioWeight", lim.IOWeight != 0)
	set("io", "ioDevices", len(lim.IODevices) > 0)
	set("devices", "devices", len(lim.Devices) > 0 || lim.DevicesOnly)
	for _, h := range lim.HugeTLB {
		set("hugetlb", "hugetlb."+h.PageSize, true)
	}
	set("net_cls", "netClassID", lim.NetClassID != 0)
	set("net_prio", "netPriorities", len(lim.NetPriorities) > 0)
	return n
}

// Plan decides how to make the cgroups of the sandbox name under parent
// with the limits lim, from the layout l alone.
//
// Each controller goes where the host has it: to its v1 hierarchy when it
// is mounted there (<mount>/<parent>/<name>), otherwise to the unified one
// (<unified>/<parent>/<name>). A sandbox always gets a leaf in the unified
// hierarchy when there is one: it holds the processes, so that Kill
// (cgroup.kill), Freeze (cgroup.freeze) and cpu.stat work even on a
// hybrid host. Besides what the limits need, the memory and pids
// controllers are taken where available for Stats (peak memory, OOM
// kills, pids peak), and on a host without cgroup2 the cpuacct and
// freezer hierarchies too, for CPU time, Freeze and Kill.
//
// parent is a slash-separated path. For root it is relative to each
// hierarchy's root, DefaultParent when empty, and "/" is the root itself.
// For a rootless caller it is relative to the cgroup delegated to it
// (Layout.Delegated), which is also the default: cgroup v1 cannot be
// delegated, so a rootless caller only gets the unified hierarchy, and
// then only when it runs in a delegated cgroup (systemd-run --user --scope
// -p Delegate=yes). A rootless caller inside its delegated cgroup (as
// systemd-run starts it) is moved by the first write into
// SupervisorName, next to the sandboxes.
//
// A limit the host cannot enforce is an error (a *LimitError) naming the
// limit and the reason: a controller that is neither mounted nor
// available, swap accounting off, oomGroup or memoryHigh on v1, no IO
// weight file. Every such error is returned, joined. A limit of Max that
// the hierarchy has anyway (memoryHigh on v1, swapMax without swap
// accounting) is not an error and writes nothing.
func Plan(l *Layout, parent, name string, lim Limits) (*Setup, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	comps, err := parentPath(l, parent)
	if err != nil {
		return nil, err
	}
	if l.Rootless {
		if l.Unified == "" {
			return nil, errors.New("rootless cgroups need cgroup v2, and this host has only v1 hierarchies, which cannot be delegated to an unprivileged user; run as root, or boot with systemd.unified_cgroup_hierarchy=1")
		}
		if l.Delegated == "" {
			why := l.NoDelegation
			if why == "" {
				why = "the layout was not probed"
			}
			return nil, fmt.Errorf("no cgroup is delegated to you (%s); run cell in a delegated scope: systemd-run --user --scope -p Delegate=yes cell run -- CMD", why)
		}
	}

	// Where each controller goes: v2 (unified) or v1, and the errors.
	var errs []error
	onV1 := map[string]bool{} // v1 names
	var v2 []string
	needs := need(&lim)
	for _, c := range v2Order {
		limit, needed := needs[c]
		inV1 := l.V1[v1Name(c)] != ""
		inV2 := l.Unified != "" && !inV1 && slices.Contains(l.Controllers, c)
		forStats := c == "memory" || c == "pids"
		switch {
		case inV1 && l.Rootless && needed:
			errs = append(errs, &LimitError{limit, fmt.Sprintf("the %s controller is on cgroup v1 (%s), which cannot be delegated to an unprivileged user; run as root, or boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2", v1Name(c), l.V1[v1Name(c)])})
		case inV1 && !l.Rootless && (needed || forStats):
			onV1[v1Name(c)] = true
		case inV2 && (needed || forStats):
			v2 = append(v2, c)
		case needed && l.Rootless:
			errs = append(errs, &LimitError{limit, fmt.Sprintf("the %s controller is not delegated to you: %s has only [%s]; systemd's user manager passes on what its own Delegate= lists (often cpu memory pids): add %s there (systemctl edit user@.service) and start cell with systemd-run --user --scope -p Delegate=yes",
				c, path.Join(l.Unified, l.Delegated, "cgroup.controllers"), strings.Join(l.Controllers, " "), c)})
		case needed && l.Unified != "":
			errs = append(errs, &LimitError{limit, fmt.Sprintf("no cgroup hierarchy has the %s controller: it is not mounted as cgroup v1 and not in %s [%s]",
				c, path.Join(l.Unified, "cgroup.controllers"), strings.Join(l.Controllers, " "))})
		case needed:
			errs = append(errs, &LimitError{limit, fmt.Sprintf("no cgroup hierarchy has the %s controller (it is not mounted)", v1Name(c))})
		}
	}
	devicesV2 := false
	if limit, ok := needs["devices"]; ok {
		// Not in v2Order: cgroup v2 controls devices with a BPF program
		// attached to the cgroup, not a controller. Where v1's devices
		// controller is mounted it is used (its rules apply to every
		// process of the hierarchy's cgroup, whatever the unified one).
		switch {
		case l.V1["devices"] != "" && l.Rootless:
			errs = append(errs, &LimitError{limit, fmt.Sprintf("the devices controller is on cgroup v1 (%s), which cannot be delegated to an unprivileged user", l.V1["devices"])})
		case l.V1["devices"] != "":
			onV1["devices"] = true
		case l.Unified != "":
			// Loading and attaching the program takes CAP_BPF (or
			// CAP_SYS_ADMIN) and CAP_NET_ADMIN in the host's user
			// namespace: the step fails, and the sandbox with it, where
			// they are missing (rootless).
			devicesV2 = true
		default:
			errs = append(errs, &LimitError{limit, "device rules need cgroup v1's devices controller or cgroup v2 (a BPF_CGROUP_DEVICE program), and this host mounts neither, and cell never runs a sandbox without the rules it was given"})
		}
	}
	for _, c := range []string{"net_cls", "net_prio"} {
		// Not in v2Order either: cgroup v2 has no such controllers (it
		// leaves classifying traffic to the socket's cgroup path, which
		// nftables and BPF match).
		limit, ok := needs[c]
		switch {
		case !ok:
		case l.V1[c] != "" && l.Rootless:
			errs = append(errs, &LimitError{limit, fmt.Sprintf("the %s controller is on cgroup v1 (%s), which cannot be delegated to an unprivileged user", c, l.V1[c])})
		case l.V1[c] != "":
			onV1[c] = true
		case len(l.V1) == 0 && l.Unified != "":
			errs = append(errs, &LimitError{limit, fmt.Sprintf("the %s controller exists only in cgroup v1, and this host has only cgroup v2, and cell never runs a sandbox without a limit it was given", c)})
		default:
			errs = append(errs, &LimitError{limit, fmt.Sprintf("the %s controller is not mounted as a cgroup v1 hierarchy (no cgroup mount with the %s option in /proc/self/mountinfo); where /proc/cgroups shows it on hierarchy 0 it is free: mount it, such as mkdir /sys/fs/cgroup/net_cls,net_prio && mount -t cgroup -o net_cls,net_prio cgroup /sys/fs/cgroup/net_cls,net_prio", c, c)})
		}
	}
	if l.Unified == "" && !l.Rootless {
		// Without cgroup2, cpuacct gives CPU time and freezer Freeze and Kill.
		for _, c := range []string{"cpuacct", "freezer"} {
			if l.V1[c] != "" {
				onV1[c] = true
			}
		}
	}
	if len(onV1) == 0 && l.Unified == "" {
		errs = append(errs, errors.New("no cgroup hierarchy is mounted"))
	}

	s := &Setup{}
	g := &s.Group
	if l.Unified != "" {
		top := "/"
		if l.Rootless {
			top = l.Delegated
		}
		topDir := path.Join(l.Unified, top)
		if l.Rootless && l.Self == l.Delegated {
			sup := path.Join(topDir, SupervisorName)
			s.Dirs = append(s.Dirs, sup)
			s.Writes = append(s.Writes, Write{sup, "cgroup.procs", "0"})
		}
		var missing []string
		for _, c := range v2 {
			if !slices.Contains(l.Enabled, c) {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			s.Writes = append(s.Writes, Write{topDir, "cgroup.subtree_control", plus(missing)})
		}
		d := topDir
		for _, c := range comps {
			d = path.Join(d, c)
			s.Dirs = append(s.Dirs, d)
			if len(v2) > 0 {
				s.Writes = append(s.Writes, Write{d, "cgroup.subtree_control", plus(v2)})
			}
		}
		g.Unified = path.Join(d, name)
		g.Controllers = v2
		s.Dirs = append(s.Dirs, g.Unified)
		s.Clone = g.Unified
	}
	for _, c := range v1Order {
		if !onV1[c] {
			continue
		}
		mnt := l.V1[c]
		if g.V1 == nil {
			g.V1 = map[string]string{}
		}
		leaf := path.Join(append(append([]string{mnt}, comps...), name)...)
		// Co-mounted controllers (cpu,cpuacct) share the directories.
		for other, m := range l.V1 {
			if m == mnt && (onV1[other] || slices.Contains(v1Order, other)) {
				g.V1[other] = leaf
			}
		}
		if slices.Contains(s.Join, leaf) {
			continue
		}
		d := mnt
		for _, comp := range comps {
			d = path.Join(d, comp)
			s.Dirs = append(s.Dirs, d)
			if c == "cpuset" {
				s.Writes = append(s.Writes, Write{d, "cpuset.cpus", l.CpusetCpus}, Write{d, "cpuset.mems", l.CpusetMems})
			}
		}
		s.Dirs = append(s.Dirs, leaf)
		s.Join = append(s.Join, leaf)
	}
	if g.V1["cpuset"] != "" && (l.CpusetCpus == "" || l.CpusetMems == "") {
		errs = append(errs, &LimitError{needs["cpuset"], "the v1 cpuset root's effective CPUs and memory nodes are unknown (the layout was not probed), and a new v1 cpuset cgroup needs both"})
	}
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	ws, err := limitWrites(l, g, &lim, true)
	if err != nil {
		return nil, err
	}
	s.Writes = append(s.Writes, ws...)
	if devicesV2 {
		s.Devices = &plan.CgroupDevices{Dir: g.Unified, Allow: slices.Clone(lim.Devices)}
	}
	return s, nil
}

// Limit returns the writes that set lim on the running sandbox's group g:
// only the limits lim sets are written (to lift one, set it to Max). Apply
// them with Update. A limit whose controller g lacks is an error: g got
// its controllers when it was made.
func Limit(l *Layout, g *Group, lim Limits) ([]Write, error) {
	return limitWrites(l, g, &lim, false)
}

// limitWrites returns the writes of lim's limits into g's leaves. At
// creation (create), a v1 cpuset leaf also gets the root's CPUs and nodes
// where lim sets none, since it starts empty.
func limitWrites(l *Layout, g *Group, lim *Limits, create bool) ([]Write, error) {
	var ws []Write
	var errs []error
	fail := func(limit, format string, args ...any) {
		errs = append(errs, &LimitError{limit, fmt.Sprintf(format, args...)})
	}
	// where returns the leaf of controller c and whether it is v1.
	where := func(c string) (string, bool) {
		if d := g.V1[v1Name(c)]; d != "" {
			return d, true
		}
		if g.OnV2(c) {
			return g.Unified, false
		}
		return "", false
	}
	for c, limit := range need(lim) {
		if c == "devices" && g.V1["devices"] == "" {
			if !create || g.Unified == "" {
				// A running sandbox's device program is not replaced.
				fail(limit, "the sandbox's device rules are a BPF program attached to its cgroup v2 when it was made, which cell does not replace")
			}
			continue
		}
		if d, _ := where(c); d == "" {
			fail(limit, "the sandbox's cgroup has no %s controller (it gets its controllers when it is made)", c)
		}
	}
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	w := func(dir, file, value string) { ws = append(ws, Write{dir, file, value}) }

	// cpuset first: a v1 cpuset leaf takes no task before it has CPUs.
	if d, isV1 := where("cpuset"); d != "" {
		cpus, mems := lim.Cpus, lim.Mems
		if isV1 && create {
			if cpus == "" {
				cpus = l.CpusetCpus
			}
			if mems == "" {
				mems = l.CpusetMems
			}
		}
		if cpus != "" {
			w(d, "cpuset.cpus", cpus)
		}
		if mems != "" {
			w(d, "cpuset.mems", mems)
		}
	}
	if d, isV1 := where("cpu"); d != "" {
		if m := lim.CPUMax; m != nil {
			p := m.period()
			switch {
			case p < 1000 || p > 1000000:
				fail("cpuMax", "period %d µs is outside the kernel's range 1000..1000000", p)
			case m.Quota != 0 && m.Quota < 1000:
				fail("cpuMax", "quota %d µs is below the kernel's minimum 1000", m.Quota)
			case isV1:
				q := "-1"
				if m.Quota != 0 {
					q = strconv.FormatUint(m.Quota, 10)
				}
				w(d, "cpu.cfs_period_us", strconv.FormatUint(p, 10))
				w(d, "cpu.cfs_quota_us", q)
			default:
				w(d, "cpu.max", m.String())
			}
		}
		if wt := lim.CPUWeight; wt != 0 {
			switch {
			case wt > 10000:
				fail("cpuWeight", "%d is outside 1..10000", wt)
			case isV1:
				w(d, "cpu.shares", strconv.FormatUint(max(2, wt*1024/100), 10))
			default:
				w(d, "cpu.weight", strconv.FormatUint(wt, 10))
			}
		}
		if sh := lim.CPUShares; sh != 0 {
			switch {
			case sh < 2 || sh > 262144:
				fail("cpuShares", "%d is outside 2..262144", sh)
			case lim.CPUWeight != 0:
				fail("cpuShares", "cpu shares and a cpu weight cannot both be set")
			case isV1:
				w(d, "cpu.shares", strconv.FormatUint(sh, 10))
			default:
				w(d, "cpu.weight", strconv.FormatUint(SharesWeight(sh), 10))
			}
		}
	}
	if d, _ := where("devices"); d != "" && (len(lim.Devices) > 0 || lim.DevicesOnly) {
		// Deny all first: it also empties the exceptions a new v1
		// cgroup copied from its parent; then each allowed device.
		w(d, "devices.deny", "a")
		for _, r := range lim.Devices {
			if r.Type != 'a' && r.Type != 'c' && r.Type != 'b' {
				fail("devices", "device type %q is not a, c or b", r.Type)
				continue
			}
			if r.Type == 'a' {
				// v1 reads "a" as allow all, whatever follows it: an
				// access narrower than rwm is one rule a type.
				if !(strings.Contains(r.Access, "r") && strings.Contains(r.Access, "w") && strings.Contains(r.Access, "m")) {
					w(d, "devices.allow", DeviceRule{Type: 'c', Major: -1, Minor: -1, Access: r.Access}.String())
					w(d, "devices.allow", DeviceRule{Type: 'b', Major: -1, Minor: -1, Access: r.Access}.String())
					continue
				}
				w(d, "devices.allow", "a")
				continue
			}
			w(d, "devices.allow", r.String())
		}
	}
	if d, isV1 := where("io"); d != "" {
		if wt := lim.IOWeight; wt != 0 {
			switch {
			case wt > 10000:
				fail("ioWeight", "%d is outside 1..10000", wt)
			case isV1 && l.BFQ:
				w(d, "blkio.bfq.weight", strconv.FormatUint(bfqWeight(wt), 10))
			case isV1 && l.BlkioWeight:
				w(d, "blkio.weight", strconv.FormatUint(max(10, bfqWeight(wt)), 10))
			case isV1:
				fail("ioWeight", "cgroup v1 blkio has no weight file: blkio.bfq.weight needs the bfq scheduler (modprobe bfq), and blkio.weight went with CFQ in Linux 5.0")
			case !l.IOCost && !l.BFQ:
				fail("ioWeight", "no IO weight file: io.weight needs the kernel's io.cost controller (no io.cost.qos in %s) and io.bfq.weight the bfq scheduler (modprobe bfq)", l.Unified)
			default:
				if l.IOCost {
					w(d, "io.weight", strconv.FormatUint(wt, 10))
				}
				if l.BFQ {
					w(d, "io.bfq.weight", strconv.FormatUint(bfqWeight(wt), 10))
				}
			}
		}
		for _, dev := range lim.IODevices {
			switch {
			case isV1 && !l.BlkioThrottle:
				fail("ioDevices", "cgroup v1 blkio has no blkio.throttle.* files (kernel without CONFIG_BLK_DEV_THROTTLING)")
			case isV1:
				for _, f := range dev.fields() {
					if f.v != 0 {
						w(d, f.v1File, fmt.Sprintf("%d:%d %d", dev.Major, dev.Minor, f.v))
					}
				}
			default:
				w(d, "io.max", dev.String())
			}
		}
	}
	if d, isV1 := where("memory"); d != "" {
		switch {
		case !isV1:
			if lim.MemoryMax != nil {
				w(d, "memory.max", lim.MemoryMax.String())
			}
			if lim.MemoryHigh != nil {
				w(d, "memory.high", lim.MemoryHigh.String())
			}
			if s := lim.SwapMax; s != nil && !l.Swap && !s.IsMax() {
				fail("swapMax", "swap accounting is off (no memory.swap.max: the kernel runs with swapaccount=0)")
			} else if s != nil && l.Swap {
				w(d, "memory.swap.max", s.String())
			}
			if lim.OOMGroup {
				w(d, "memory.oom.group", "1")
			}
		default:
			if h := lim.MemoryHigh; h != nil && !h.IsMax() {
				fail("memoryHigh", "cgroup v1 has no memory.high (its soft limit only acts under global memory pressure and does not throttle); use memoryMax, or cgroup v2")
			}
			if lim.OOMGroup {
				fail("oomGroup", "cgroup v1 has no memory.oom.group: an OOM kill there ends only the process it picks; use cgroup v2")
			}
			s := lim.SwapMax
			switch {
			case s != nil && !s.IsMax() && !l.Swap:
				fail("swapMax", "swap accounting is off (no memory.memsw.limit_in_bytes: boot with swapaccount=1)")
			case s != nil && !s.IsMax() && (lim.MemoryMax == nil || lim.MemoryMax.IsMax()):
				fail("swapMax", "cgroup v1 limits memory and swap together (memory.memsw.limit_in_bytes), so a swap limit needs a memoryMax")
			case s != nil && l.Swap:
				// memsw must stay >= limit_in_bytes at every step, whichever
				// way the limits move: lift it, set the limit, set it.
				w(d, "memory.memsw.limit_in_bytes", "-1")
				if lim.MemoryMax != nil {
					w(d, "memory.limit_in_bytes", lim.MemoryMax.v1())
				}
				memsw := "-1"
				if !s.IsMax() {
					memsw = strconv.FormatUint(lim.MemoryMax.N()+s.N(), 10)
				}
				w(d, "memory.memsw.limit_in_bytes", memsw)
			default:
				if lim.MemoryMax != nil {
					w(d, "memory.limit_in_bytes", lim.MemoryMax.v1())
				}
			}
		}
	}
	if d, _ := where("pids"); d != "" && lim.PidsMax != nil {
		w(d, "pids.max", lim.PidsMax.String())
	}
	if d, isV1 := where("hugetlb"); d != "" {
		for _, h := range lim.HugeTLB {
			limit := "hugetlb." + h.PageSize
			switch {
			case h.Max == nil:
				fail(limit, "no limit given")
			case !slices.Contains(l.HugePageSizes, h.PageSize):
				offers := "none (no /sys/kernel/mm/hugepages/hugepages-*kB)"
				if len(l.HugePageSizes) > 0 {
					offers = strings.Join(l.HugePageSizes, ", ")
				}
				fail(limit, "the kernel has no %s huge pages; it offers %s", h.PageSize, offers)
			case isV1:
				w(d, "hugetlb."+h.PageSize+".limit_in_bytes", h.Max.v1())
			default:
				w(d, "hugetlb."+h.PageSize+".max", h.Max.String())
			}
		}
	}
	if d, _ := where("net_cls"); d != "" && lim.NetClassID != 0 {
		w(d, "net_cls.classid", strconv.FormatUint(uint64(lim.NetClassID), 10))
	}
	if d, _ := where("net_prio"); d != "" {
		for _, p := range lim.NetPriorities {
			if p.Interface == "" || len(p.Interface) > 15 || strings.ContainsAny(p.Interface, " \t\n/:\x00") {
				fail("netPriorities", "%q is not an interface name", p.Interface)
				continue
			}
			w(d, "net_prio.ifpriomap", p.String())
		}
	}
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	return ws, nil
}

// joinSorted joins errs in the order of their messages, so that the
// result does not depend on map order.
func joinSorted(errs []error) error {
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// bfqWeight maps a cgroup v2 weight (1..10000, default 100) onto BFQ's
// range (1..1000, default 100) as systemd does: 1..100 stays, 100..10000
// goes linearly onto 100..1000.
func bfqWeight(w uint64) uint64 {
	if w <= 100 {
		return w
	}
	return 100 + (w-100)*900/9900
}

// SharesWeight converts v1's cpu.shares (2..262144) to v2's cpu.weight
// (1..10000) as runc and crun do.
func SharesWeight(shares uint64) uint64 { return 1 + (shares-2)*9999/262142 }

// plus prints controllers as cgroup.subtree_control takes them: "+cpu +memory".
func plus(cs []string) string {
	return "+" + strings.Join(cs, " +")
}

// CheckName checks that name is one cgroup directory name: the rule a
// sandbox's cgroup is held to, which an engine's name for it (an OCI
// container's linux.cgroupsPath) meets where a sandbox name's would not.
func CheckName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\n\x00") {
		return fmt.Errorf("cgroup name %q: must be one path component", name)
	}
	return nil
}

// parentPath splits parent into its components, after the default.
func parentPath(l *Layout, parent string) ([]string, error) {
	if parent == "" {
		if l.Rootless {
			return nil, nil
		}
		parent = DefaultParent
	}
	var comps []string
	for _, c := range strings.Split(strings.Trim(parent, "/"), "/") {
		if c == "" {
			continue
		}
		if err := CheckName(c); err != nil {
			return nil, fmt.Errorf("cgroup parent %q: %q is not a cgroup name", parent, c)
		}
		comps = append(comps, c)
	}
	if l.Rootless && len(comps) > 0 && comps[0] == SupervisorName {
		return nil, fmt.Errorf("cgroup parent %q: %s is where cell itself runs", parent, SupervisorName)
	}
	return comps, nil
}
