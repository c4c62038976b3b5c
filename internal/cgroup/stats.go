package cgroup

import (
	"strconv"
	"strings"
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
