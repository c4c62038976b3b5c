package cgroup

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Stats are what a sandbox's cgroups counted, read after it ends (and
// before Remove). A nil field is unknown: its controller is not in the
// group, or the kernel lacks the file (pids.peak came in Linux 6.1 for v2,
// later for v1).
type Stats struct {
	// MemoryPeak is the most memory the group used, in bytes (v2
	// memory.peak, v1 memory.max_usage_in_bytes).
	MemoryPeak *uint64 `json:"memoryPeak,omitempty"`
	// OOMKills counts the processes the OOM killer ended in the group (v2
	// memory.events oom_kill, v1 memory.oom_control oom_kill).
	OOMKills *uint64 `json:"oomKills,omitempty"`
	// PidsPeak is the most tasks the group held at once (pids.peak).
	PidsPeak *uint64 `json:"pidsPeak,omitempty"`
	// PidsMaxHits counts the forks refused at pids.max (pids.events max).
	PidsMaxHits *uint64 `json:"pidsMaxHits,omitempty"`
	// CPUUsec, CPUUserUsec and CPUSystemUsec are the CPU time the group
	// used in all, in user and in kernel mode, in µs (v2 cpu.stat, v1
	// cpuacct.usage, cpuacct.usage_user, cpuacct.usage_sys).
	CPUUsec       *uint64 `json:"cpuUsec,omitempty"`
	CPUUserUsec   *uint64 `json:"cpuUserUsec,omitempty"`
	CPUSystemUsec *uint64 `json:"cpuSystemUsec,omitempty"`
}

// String prints every field as "name=value", "name=?" when unknown.
func (s *Stats) String() string {
	var parts []string
	for _, f := range []struct {
		name string
		v    *uint64
	}{
		{"memoryPeak", s.MemoryPeak}, {"oomKills", s.OOMKills}, {"pidsPeak", s.PidsPeak},
		{"pidsMaxHits", s.PidsMaxHits}, {"cpuUsec", s.CPUUsec}, {"cpuUserUsec", s.CPUUserUsec},
		{"cpuSystemUsec", s.CPUSystemUsec},
	} {
		v := "?"
		if f.v != nil {
			v = strconv.FormatUint(*f.v, 10)
		}
		parts = append(parts, f.name+"="+v)
	}
	return strings.Join(parts, " ")
}

// Stats reads the group's counters, each from the hierarchy that has its
// controller: memory and pids from v1 where they are mounted there, else
// from the unified leaf; CPU time from v1 cpuacct when the group has it,
// else from the unified leaf's cpu.stat (which the kernel keeps with or
// without the cpu controller).
func (g *Group) Stats() (*Stats, error) {
	s := &Stats{}
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
	} else if g.v2("memory") {
		get(&s.MemoryPeak, g.Unified, "memory.peak", "", 1)
		get(&s.OOMKills, g.Unified, "memory.events", "oom_kill", 1)
	}
	pids := g.V1["pids"]
	if pids == "" && g.v2("pids") {
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
