// Package prlimit sets resource limits (rlimit.Limit) and the OOM score
// adjustment on the calling process: the kernel side of the rlimit
// concern, which runs in the sandbox's init before it forks the command.
// Resource limits belong to the process and are inherited across fork and
// execve. Apply goes through the syscall package's prlimit, which tells
// Go's fork not to restore in the command the RLIMIT_NOFILE soft limit
// that Go raised at start-up. OOMScoreAdj writes /proc/self/oom_score_adj,
// which the command inherits the same way.
package prlimit

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/rlimit"
)

// Apply sets each limit on the calling process, in order, after checking
// them all: a resource given twice is an error. Errors name the resource,
// the values and the errno, and for EPERM the hard limit in force.
func Apply(ls []rlimit.Limit) error {
	seen := map[rlimit.Resource]bool{}
	for _, l := range ls {
		if err := l.Check(); err != nil {
			return err
		}
		if seen[l.Resource] {
			return fmt.Errorf("%s: limited twice", l.Resource)
		}
		seen[l.Resource] = true
	}
	for _, l := range ls {
		// unix.Prlimit goes through the syscall package, which then
		// stops restoring its start-up RLIMIT_NOFILE in forked
		// children.
		err := unix.Prlimit(0, l.Resource.Number(), &unix.Rlimit{Cur: l.Soft, Max: l.Hard}, nil)
		if err == nil {
			continue
		}
		e := &rlimit.Error{Call: "prlimit", Object: fmt.Sprintf("%s soft=%s hard=%s", l.Resource.Macro(), rlimit.FormatValue(l.Soft), rlimit.FormatValue(l.Hard)), Err: err}
		if err == unix.EPERM {
			var cur unix.Rlimit
			if unix.Prlimit(0, l.Resource.Number(), nil, &cur) == nil {
				e.Why = fmt.Sprintf("the hard limit is %s; raising it needs CAP_SYS_RESOURCE", rlimit.FormatValue(cur.Max))
			}
			if l.Resource == rlimit.NoFile {
				e.Why += " (and nofile cannot exceed fs.nr_open)"
			}
		}
		return e
	}
	return nil
}

// The range of /proc/PID/oom_score_adj.
const (
	OOMScoreAdjMin = -1000
	OOMScoreAdjMax = 1000
)

// OOMScoreAdj writes v to /proc/self/oom_score_adj: from -1000 (never
// chosen by the OOM killer) to 1000 (chosen first). Lowering it below the
// lowest value the process has had needs CAP_SYS_RESOURCE.
func OOMScoreAdj(v int) error {
	if v < OOMScoreAdjMin || v > OOMScoreAdjMax {
		return fmt.Errorf("oom_score_adj %d is out of range [%d, %d]", v, OOMScoreAdjMin, OOMScoreAdjMax)
	}
	const path = "/proc/self/oom_score_adj"
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &rlimit.Error{Call: "open", Object: path, Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(strconv.Itoa(v))); err != nil {
		e := &rlimit.Error{Call: "write", Object: fmt.Sprintf("%d to %s", v, path), Err: err}
		if err == unix.EACCES {
			e.Why = "lowering it below the process's lowest value needs CAP_SYS_RESOURCE"
		}
		return e
	}
	return nil
}
