package sandbox

import (
	"golang.org/x/sys/unix"
)

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
