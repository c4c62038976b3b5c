package sandbox

import (
	"golang.org/x/sys/unix"
)

// Stats are an ended sandbox's resource statistics: what `cell run
// --stats` writes and what a pool's client receives. The JSON field names
// are a stable format: fields are added, never renamed or removed. A
// counter that could not be measured is absent (nil).
type Stats struct {
	Name    string `json:"name"`
	Profile string `json:"profile"`
	// Exit is the command's exit code; Signal the signal that killed it
	// (then Exit is 128+signal, as a shell reports it).
	Exit       int    `json:"exit"`
	Signal     string `json:"signal,omitempty"`
	WallTimeUs int64  `json:"wallTimeUs"`
	// CPU time of the sandbox's processes, from the cgroup when there is
	// one, else from the rusage of init and what it reaped.
	CPUUserUs   *uint64 `json:"cpuUserUs,omitempty"`
	CPUSystemUs *uint64 `json:"cpuSystemUs,omitempty"`
	// MemoryPeakBytes is the cgroup's peak, or without a cgroup the
	// largest resident set of a single process (ru_maxrss).
	MemoryPeakBytes *uint64 `json:"memoryPeakBytes,omitempty"`
	OOMKills        *uint64 `json:"oomKills,omitempty"`
	PidsPeak        *uint64 `json:"pidsPeak,omitempty"`
	PidsMaxHits     *uint64 `json:"pidsMaxHits,omitempty"`
	// Source says where the counters come from: "cgroup" or "rusage".
	Source string `json:"source"`
}

// Stats returns the statistics of the sandbox, whose command ended with
// st. It must be called after Wait, which reads the counters. WallTimeUs
// is Wall: from the clone of init to the end of Wait.
func (sb *Sandbox) Stats(st Status) *Stats {
	s := &Stats{Name: sb.plan.Name, Profile: sb.plan.Profile, Exit: st.ExitCode(), WallTimeUs: sb.Wall().Microseconds(), Source: "rusage"}
	if st.Signal != 0 {
		s.Signal = unix.SignalName(unix.Signal(st.Signal))
	}
	if ru := sb.Rusage(); ru != nil {
		s.CPUUserUs = u64(uint64(ru.Utime.Sec)*1e6 + uint64(ru.Utime.Usec))
		s.CPUSystemUs = u64(uint64(ru.Stime.Sec)*1e6 + uint64(ru.Stime.Usec))
		s.MemoryPeakBytes = u64(uint64(ru.Maxrss) * 1024)
	}
	if c := sb.Cgroup(); c != nil {
		s.Source = "cgroup"
		if c.CPUUserUsec != nil {
			s.CPUUserUs, s.CPUSystemUs = c.CPUUserUsec, c.CPUSystemUsec
		}
		if c.MemoryPeak != nil {
			s.MemoryPeakBytes = c.MemoryPeak
		}
		s.OOMKills, s.PidsPeak, s.PidsMaxHits = c.OOMKills, c.PidsPeak, c.PidsMaxHits
	}
	return s
}

func u64(v uint64) *uint64 { return &v }
