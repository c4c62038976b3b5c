package cgroup

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/cellsandbox/cell/internal/mountinfo"
)

// Layout is the cgroup hierarchies of a host as seen by one process. Paths
// of cgroups (Self, SelfV1, Delegated) are relative to their hierarchy's
// mount point and start with "/"; directories are mount point + path.
//
// ParseLayout fills the first four fields from /proc files; Probe fills
// the rest from the cgroup file systems. Plan reads nothing else.
type Layout struct {
	// Unified is the cgroup2 mount point, "" if none.
	Unified string `json:"unified,omitempty"`
	// V1 maps each v1 controller to its mount point (co-mounted
	// controllers such as cpu and cpuacct share one).
	V1 map[string]string `json:"v1,omitempty"`
	// Self is the process's cgroup in the unified hierarchy.
	Self string `json:"self,omitempty"`
	// SelfV1 maps each v1 controller to the process's cgroup in it.
	SelfV1 map[string]string `json:"selfV1,omitempty"`

	// Rootless is true when the caller's effective uid is not 0: then its
	// cgroups can only go under a cgroup delegated to it.
	Rootless bool `json:"rootless,omitempty"`
	// Delegated is the unified cgroup delegated to a rootless caller:
	// Self, or Self's parent when Self is cell's supervisor cgroup. It is
	// "" when the caller is root or has no delegation; NoDelegation then
	// says why, for the error.
	Delegated    string `json:"delegated,omitempty"`
	NoDelegation string `json:"noDelegation,omitempty"`
	// Controllers are the unified controllers that the top cgroup cell
	// builds under (the root for root, Delegated for a rootless caller)
	// can give its children: its cgroup.controllers. Enabled is its
	// cgroup.subtree_control, what it already gives them.
	Controllers []string `json:"controllers,omitempty"`
	Enabled     []string `json:"enabled,omitempty"`
	// Swap reports swap accounting: v1 memory.memsw.* files, v2
	// memory.swap.max (off when the kernel runs with swapaccount=0).
	Swap bool `json:"swap,omitempty"`
	// IOCost reports v2 io.weight (the io.cost controller's files exist).
	IOCost bool `json:"ioCost,omitempty"`
	// BFQ reports the BFQ scheduler's weight files (v2 io.bfq.weight, v1
	// blkio.bfq.weight): the bfq module is loaded.
	BFQ bool `json:"bfq,omitempty"`
	// BlkioWeight reports v1 blkio.weight (the CFQ scheduler, before 5.0).
	BlkioWeight bool `json:"blkioWeight,omitempty"`
	// BlkioThrottle reports v1 blkio.throttle.*_device files.
	BlkioThrottle bool `json:"blkioThrottle,omitempty"`
	// CpusetCpus and CpusetMems are the v1 cpuset root's effective CPUs
	// and memory nodes: a new v1 cpuset cgroup starts empty and takes no
	// task until both are set, so Plan copies them into the directories
	// it makes.
	CpusetCpus string `json:"cpusetCpus,omitempty"`
	CpusetMems string `json:"cpusetMems,omitempty"`
	// HugePageSizes are the huge page sizes the kernel offers, named as
	// the hugetlb controller's files name them ("2MB"), smallest first:
	// a hugetlb limit of any other size is refused.
	HugePageSizes []string `json:"hugePageSizes,omitempty"`
}

// The v1 controllers ParseLayout recognises in mount options.
var v1Controllers = map[string]bool{
	"blkio": true, "cpu": true, "cpuacct": true, "cpuset": true, "devices": true,
	"freezer": true, "hugetlb": true, "memory": true, "misc": true, "net_cls": true,
	"net_prio": true, "perf_event": true, "pids": true, "rdma": true,
}

// ParseLayout reads the cgroup mounts from the contents of
// /proc/self/mountinfo and the process's cgroups from /proc/self/cgroup.
// Where a hierarchy is mounted more than once, the mount under
// /sys/fs/cgroup wins, then the first one. A cgroup the process is in but
// that lies outside the mounted subtree (a bind mount of a subtree) is
// left out.
func ParseLayout(info, procSelfCgroup []byte) (*Layout, error) {
	type mount struct{ point, root string }
	var unified *mount
	v1 := map[string]*mount{}
	better := func(old *mount, point string) bool {
		return old == nil || !underSysFsCgroup(old.point) && underSysFsCgroup(point)
	}
	sc := bufio.NewScanner(bytes.NewReader(info))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		// id parent major:minor root point options [optional...] - type source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 3 {
			return nil, fmt.Errorf("mountinfo line %d: malformed: %q", n, line)
		}
		root, point := mountinfo.Unescape(f[3]), mountinfo.Unescape(f[4])
		switch g[0] {
		case "cgroup2":
			if better(unified, point) {
				unified = &mount{point, root}
			}
		case "cgroup":
			for _, o := range strings.Split(g[2], ",") {
				if v1Controllers[o] && better(v1[o], point) {
					v1[o] = &mount{point, root}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	l := &Layout{}
	if unified != nil {
		l.Unified = unified.point
	}
	if len(v1) > 0 {
		l.V1 = map[string]string{}
		for c, m := range v1 {
			l.V1[c] = m.point
		}
	}
	sc = bufio.NewScanner(bytes.NewReader(procSelfCgroup))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		// hierarchy-id:controller,list:path
		id, rest, ok1 := strings.Cut(line, ":")
		ctrls, p, ok2 := strings.Cut(rest, ":")
		if _, err := strconv.Atoi(id); !ok1 || !ok2 || err != nil || !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("/proc/self/cgroup line %d: malformed: %q", n, line)
		}
		if id == "0" && ctrls == "" {
			if unified != nil {
				if rel, ok := within(p, unified.root); ok {
					l.Self = rel
				}
			}
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			m := v1[c]
			if m == nil {
				continue
			}
			if rel, ok := within(p, m.root); ok {
				if l.SelfV1 == nil {
					l.SelfV1 = map[string]string{}
				}
				l.SelfV1[c] = rel
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("/proc/self/cgroup: %w", err)
	}
	return l, nil
}

// within returns p relative to the mount's root, a cgroup path itself.
func within(p, root string) (string, bool) {
	p, root = path.Clean(p), path.Clean(root)
	if root == "/" {
		return p, true
	}
	if p == root {
		return "/", true
	}
	if rest, ok := strings.CutPrefix(p, root+"/"); ok {
		return "/" + rest, true
	}
	return "", false
}

func underSysFsCgroup(p string) bool {
	return p == "/sys/fs/cgroup" || strings.HasPrefix(p, "/sys/fs/cgroup/")
}

// Version names the cgroup layout: "v2" (only cgroup2), "v1" (only v1
// hierarchies), "hybrid" (both) or "none".
func (l *Layout) Version() string {
	switch {
	case l.Unified != "" && len(l.V1) == 0:
		return "v2"
	case l.Unified == "" && len(l.V1) > 0:
		return "v1"
	case l.Unified != "":
		return "hybrid"
	}
	return "none"
}

// String prints the layout on one line per hierarchy, v1 controllers in
// name order.
func (l *Layout) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cgroups %s", l.Version())
	if l.Rootless {
		b.WriteString(" rootless")
		if l.Delegated != "" {
			fmt.Fprintf(&b, " delegated=%s", l.Delegated)
		} else if l.NoDelegation != "" {
			fmt.Fprintf(&b, " (no delegation: %s)", l.NoDelegation)
		}
	}
	b.WriteString("\n")
	if l.Unified != "" {
		fmt.Fprintf(&b, "unified %s self=%s controllers=[%s] enabled=[%s]\n", l.Unified, l.Self,
			strings.Join(l.Controllers, " "), strings.Join(l.Enabled, " "))
	}
	ctrls := make([]string, 0, len(l.V1))
	for c := range l.V1 {
		ctrls = append(ctrls, c)
	}
	sort.Strings(ctrls)
	for _, c := range ctrls {
		fmt.Fprintf(&b, "v1 %s %s self=%s\n", c, l.V1[c], l.SelfV1[c])
	}
	var feats []string
	for _, f := range []struct {
		name string
		on   bool
	}{{"swap", l.Swap}, {"iocost", l.IOCost}, {"bfq", l.BFQ}, {"blkio.weight", l.BlkioWeight}, {"blkio.throttle", l.BlkioThrottle}} {
		if f.on {
			feats = append(feats, f.name)
		}
	}
	fmt.Fprintf(&b, "features [%s]", strings.Join(feats, " "))
	if l.CpusetCpus != "" || l.CpusetMems != "" {
		fmt.Fprintf(&b, " cpuset cpus=%s mems=%s", l.CpusetCpus, l.CpusetMems)
	}
	if len(l.HugePageSizes) > 0 {
		fmt.Fprintf(&b, " hugepages [%s]", strings.Join(l.HugePageSizes, " "))
	}
	return b.String()
}
