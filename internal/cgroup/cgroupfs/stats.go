package cgroupfs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/cgroup"
)

// ReadStats reads the group's counters, each from the hierarchy that has its
// controller: memory and pids from v1 where they are mounted there, else
// from the unified leaf; CPU time from v1 cpuacct when the group has it,
// else from the unified leaf's cpu.stat (which the kernel keeps with or
// without the cpu controller).
func ReadStats(g *cgroup.Group) (*cgroup.Stats, error) {
	s := &cgroup.Stats{}
	var errs []error
	// get reads one number into *dst: a whole file (key ""), or the value
	// of key in a flat-keyed file; scale divides it.
	get := func(dst **uint64, dir, file, key string, scale uint64) {
		b, err := read(dir, file)
		if errors.Is(err, unix.ENOENT) {
			return // unknown
		}
		if err != nil {
			errs = append(errs, err)
			return
		}
		v, ok := string(b), true
		if key != "" {
			v, ok = field(b, key)
		}
		if !ok {
			return // an older kernel without this key
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s/%s: %s %q is not a number", dir, file, key, v))
			return
		}
		n /= scale
		*dst = &n
	}
	if d := g.V1["memory"]; d != "" {
		get(&s.MemoryPeak, d, "memory.max_usage_in_bytes", "", 1)
		get(&s.OOMKills, d, "memory.oom_control", "oom_kill", 1)
	} else if g.OnV2("memory") {
		get(&s.MemoryPeak, g.Unified, "memory.peak", "", 1)
		get(&s.OOMKills, g.Unified, "memory.events", "oom_kill", 1)
	}
	pids := g.V1["pids"]
	if pids == "" && g.OnV2("pids") {
		pids = g.Unified
	}
	if pids != "" {
		get(&s.PidsPeak, pids, "pids.peak", "", 1)
		get(&s.PidsMaxHits, pids, "pids.events", "max", 1)
	}
	if d := g.V1["cpuacct"]; d != "" {
		get(&s.CPUUsec, d, "cpuacct.usage", "", 1000)
		get(&s.CPUUserUsec, d, "cpuacct.usage_user", "", 1000)
		get(&s.CPUSystemUsec, d, "cpuacct.usage_sys", "", 1000)
	} else if g.Unified != "" {
		get(&s.CPUUsec, g.Unified, "cpu.stat", "usage_usec", 1)
		get(&s.CPUUserUsec, g.Unified, "cpu.stat", "user_usec", 1)
		get(&s.CPUSystemUsec, g.Unified, "cpu.stat", "system_usec", 1)
	}
	if len(errs) > 0 {
		return s, errors.Join(errs...)
	}
	return s, nil
}
