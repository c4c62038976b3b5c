package launcher

import (
	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/internal/state"
)

// The types of the packages under internal/ that this API hands out or
// takes, under names a program outside this module can write: the
// packages themselves are cell's own and may change between versions;
// these names are the API.
type (
	// Facts are the host facts a plan is compiled for.
	Facts = host.Facts
	// Stdio are the command's standard descriptors (Start).
	Stdio = sandbox.Stdio
	// Trace is what a traced launch reports: each step as it completes
	// and the phases of both processes.
	Trace = sandbox.Trace
	// Stats are a sandbox's resource statistics when it ended.
	Stats = sandbox.Stats
	// StepError is a step that failed: its profile position, the step,
	// the syscall and the errno.
	StepError = sandbox.StepError
	// ExecRequest is a command to run in a running sandbox (Sandbox.Exec).
	ExecRequest = sandbox.ExecRequest
	// Process is a command that Sandbox.Exec started.
	Process = sandbox.Process
	// Store is the state directory where running sandboxes are recorded.
	Store = state.Store
	// Limits are resource limits that Cgroup.Update sets on a running
	// sandbox; a nil or zero field is left as it is.
	Limits = cgroup.Limits
	// LimitValue is a limit in bytes or tasks, or no limit (Num, Max).
	LimitValue = cgroup.Value
	// CPULimit is a CPU bandwidth limit: a quota of CPU time in every
	// period, both in µs (CPUs).
	CPULimit = cgroup.CPUMax
	// HugeTLBLimit is a limit on the huge pages of one page size
	// ("2MB"), in bytes.
	HugeTLBLimit = cgroup.HugeTLB
	// NetPriority is a network priority for the traffic the sandbox
	// sends through one interface of the host's network namespace.
	NetPriority = cgroup.NetPriority
	// CgroupWrite is one value written to one cgroup file, as
	// Cgroup.Update reports what it wrote (it prints as
	// `write "7" to /sys/fs/cgroup/cell/x/pids.max`).
	CgroupWrite = cgroup.Write
	// CgroupStats are what a sandbox's cgroups counted (Cgroup.Stats).
	CgroupStats = cgroup.Stats
	// CgroupError is a cgroup file operation that the kernel refused:
	// the operation, the path, the value written and the errno.
	CgroupError = cgroup.Error
	// LimitError is a limit that cannot be had on this host or on this
	// sandbox's cgroups, naming the Limits field and why.
	LimitError = cgroup.LimitError
)

// OpenStore opens the state directory dir (StateDir for the caller's
// default), creating it with the modes cell requires and refusing one
// that others can write.
func OpenStore(dir string) (*Store, error) { return state.Open(dir) }

// StateDir is the caller's state directory: /run/cell for root, else
// $XDG_RUNTIME_DIR/cell or its fallback.
func StateDir(euid int, runtimeDir string) (string, error) { return state.Dir(euid, runtimeDir) }
