package cgroupfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/internal/syserr"
)

// Probe reads the calling process's cgroup layout: cgroup.ParseLayout of
// /proc/self/mountinfo and /proc/self/cgroup, then the facts cgroup.Plan
// checks limits against, read from the cgroup file systems and never
// written:
// the controllers of the top unified cgroup and its subtree_control, the
// delegation of a rootless caller, swap accounting, the IO weight and
// throttle files, the v1 cpuset root's CPUs and nodes, and the huge page
// sizes.
func Probe() (*cgroup.Layout, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("probe cgroups: %w", err)
	}
	pc, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("probe cgroups: %w", err)
	}
	l, err := cgroup.ParseLayout(mi, pc)
	if err != nil {
		return nil, fmt.Errorf("probe cgroups: %w", err)
	}
	l.Rootless = os.Geteuid() != 0
	if l.Unified != "" {
		top := "/"
		if l.Rootless {
			l.Delegated, l.NoDelegation = delegation(l.Unified, l.Self)
			top = l.Delegated
		}
		if top != "" {
			dir := path.Join(l.Unified, top)
			if l.Controllers, err = words(dir, "cgroup.controllers"); err != nil {
				return nil, fmt.Errorf("probe cgroups: %w", err)
			}
			if l.Enabled, err = words(dir, "cgroup.subtree_control"); err != nil {
				return nil, fmt.Errorf("probe cgroups: %w", err)
			}
		}
		l.IOCost = exists(path.Join(l.Unified, "io.cost.qos"))
	}
	if m := l.V1["memory"]; m != "" {
		l.Swap = exists(path.Join(m, "memory.memsw.limit_in_bytes"))
	} else if l.Unified != "" {
		// memory.swap.* exist only below the root: look at our own cgroup
		// when it has the memory controller, else trust the command line.
		self := path.Join(l.Unified, l.Self)
		if l.Self != "/" && exists(path.Join(self, "memory.current")) {
			l.Swap = exists(path.Join(self, "memory.swap.max"))
		} else {
			cmdline, _ := os.ReadFile("/proc/cmdline")
			l.Swap = !strings.Contains(" "+string(cmdline), " swapaccount=0")
		}
	}
	if b := l.V1["blkio"]; b != "" {
		l.BlkioThrottle = exists(path.Join(b, "blkio.throttle.read_bps_device"))
		l.BlkioWeight = exists(path.Join(b, "blkio.weight"))
	}
	// BFQ's weight files appear in every non-root cgroup once the
	// scheduler is loaded; a device lists it among its schedulers then.
	l.BFQ = exists("/sys/module/bfq")
	if scheds, _ := filepath.Glob("/sys/block/*/queue/scheduler"); !l.BFQ {
		for _, s := range scheds {
			if b, err := os.ReadFile(s); err == nil && strings.Contains(string(b), "bfq") {
				l.BFQ = true
				break
			}
		}
	}
	if c := l.V1["cpuset"]; c != "" {
		cpus, err1 := os.ReadFile(path.Join(c, "cpuset.effective_cpus"))
		mems, err2 := os.ReadFile(path.Join(c, "cpuset.effective_mems"))
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("probe cgroups: %w", err)
		}
		l.CpusetCpus, l.CpusetMems = strings.TrimSpace(string(cpus)), strings.TrimSpace(string(mems))
	}
	if l.HugePageSizes, err = hugePageSizes("/sys/kernel/mm/hugepages"); err != nil {
		return nil, fmt.Errorf("probe cgroups: %w", err)
	}
	return l, nil
}

// hugePageSizes names the huge page sizes of the kernel's
// hugepages-<n>kB directories in dir as the hugetlb controller does,
// smallest first; none when dir is absent (a kernel without hugetlbfs).
func hugePageSizes(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var kbs []uint64
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if n, ok2 := strings.CutSuffix(n, "kB"); ok && ok2 {
			if kb, err := strconv.ParseUint(n, 10, 64); err == nil {
				kbs = append(kbs, kb)
			}
		}
	}
	slices.Sort(kbs)
	names := make([]string, len(kbs))
	for i, kb := range kbs {
		names[i] = cgroup.PageSizeName(kb)
	}
	return names, nil
}

// delegation returns the unified cgroup delegated to the rootless caller
// in self (self, or its parent when self is cell's supervisor cgroup),
// or why there is none.
func delegation(unified, self string) (string, string) {
	d := self
	if path.Base(d) == cgroup.SupervisorName {
		d = path.Dir(d)
	}
	if d == "/" {
		return "", "you are in the root cgroup"
	}
	dir := path.Join(unified, d)
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return "", fmt.Sprintf("stat %s: %s", dir, syserr.Text(err))
	}
	if euid := os.Geteuid(); int(st.Uid) != euid {
		return "", fmt.Sprintf("your cgroup %s belongs to uid %d, not to you (uid %d)", dir, st.Uid, euid)
	}
	for _, f := range []string{"cgroup.procs", "cgroup.subtree_control"} {
		if err := unix.Faccessat(unix.AT_FDCWD, path.Join(dir, f), unix.W_OK, unix.AT_EACCESS); err != nil {
			return "", fmt.Sprintf("you cannot write %s: %s", path.Join(dir, f), syserr.Text(err))
		}
	}
	return d, ""
}

// words returns the space-separated words of dir/file.
func words(dir, file string) ([]string, error) {
	b, err := read(dir, file)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
