package plan

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/cgroup"
	"github.com/cellsandbox/cell/launcher/landlock"
	"github.com/cellsandbox/cell/launcher/network"
	"github.com/cellsandbox/cell/launcher/rlimit"
	"github.com/cellsandbox/cell/launcher/seccomp"
)

// Plan is the ordered list of steps that set up one sandbox and start its
// command. The same value is printed by `cell plan` and executed by `cell
// run`; the executor does nothing that is not a step.
type Plan struct {
	// Profile names the profile the plan was compiled from.
	Profile string `json:"profile"`
	// Name names the sandbox, for its cgroup and its state record.
	Name string `json:"name,omitempty"`
	// Rootless records whether the plan was compiled for an unprivileged
	// caller.
	Rootless bool `json:"rootless"`
	// Trace asks the executor to report each step as it runs, with its
	// duration (cell run --trace).
	Trace bool `json:"trace,omitempty"`
	// Pooled makes a sandbox of a pool: init runs every step, then waits
	// for the one command it will run, which a client hands over (cell
	// run --pool); the exec step gives its credentials, directory and
	// environment, the client its arguments and descriptors.
	Pooled bool `json:"pooled,omitempty"`
	// PassEnv names the variables whose values a pool's request brings
	// into the command's environment (the profile's passEnv, less those
	// its env sets); a pooled plan's exec step holds none of the pool's
	// own values of them.
	PassEnv []string `json:"passEnv,omitempty"`
	// Steps run in order; each step's Side says which process runs it.
	Steps []Step `json:"steps"`
	// Cleanup runs in the parent when the sandbox has ended, however it
	// ended, and when a step failed.
	Cleanup []Step `json:"cleanup,omitempty"`
	// Cgroup is the sandbox's cgroups that the cgroup steps make, nil
	// without limits: what cleanup kills and removes, and where the
	// sandbox's statistics are read.
	Cgroup *cgroup.Group `json:"cgroup,omitempty"`
}

// DefaultPath is where an exec step looks for a command without a slash
// when its environment has no PATH, as execvp(3) does.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Side is the process that executes a step.
type Side uint8

// The three processes of a sandbox: the cell process on the host, the
// sandbox's init (pid 1 of a new pid namespace), and the command that init
// forks and which ends in execve.
const (
	Parent Side = iota
	Init
	Command
)

func (s Side) String() string {
	switch s {
	case Parent:
		return "parent"
	case Init:
		return "init"
	case Command:
		return "command"
	}
	return fmt.Sprintf("Side(%d)", uint8(s))
}

// MarshalText prints the name.
func (s Side) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a name printed by MarshalText.
func (s *Side) UnmarshalText(b []byte) error {
	for c := Parent; c <= Command; c++ {
		if c.String() == string(b) {
			*s = c
			return nil
		}
	}
	return fmt.Errorf("unknown side %q", b)
}

// Pos is the profile position that produced a step. It mirrors spec.Pos so
// that launcher packages need not import spec.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

func (p Pos) String() string {
	switch {
	case p.File == "" && p.Line == 0:
		return "-"
	case p.Line == 0:
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Step is one operation of a plan. Which argument fields are meaningful
// depends on Op; String prints exactly those.
type Step struct {
	Side Side `json:"side"`
	Op   Op   `json:"op"`
	Pos  Pos  `json:"pos"`

	// Path is the object the step acts on: a mount target, a directory, a
	// file, a proc file, a hostname, an interface or the command's name.
	Path string `json:"path,omitempty"`
	// Root, when set, is the directory that Path is resolved in, without
	// leaving it (openat2 RESOLVE_IN_ROOT).
	Root string `json:"root,omitempty"`
	// Source is a mount source or a symlink's content.
	Source string `json:"source,omitempty"`
	// SourceRoot, when set, is the directory that Source is resolved in,
	// without leaving it: the host's root seen from the staging root.
	SourceRoot string `json:"sourceRoot,omitempty"`
	// FSType is a filesystem type for mount and fsopen.
	FSType string `json:"fstype,omitempty"`
	// Flags holds the op's flag word; its name space depends on Op.
	Flags Flags `json:"flags,omitempty"`
	// Attr holds MOUNT_ATTR_* bits for new-API mounts.
	Attr Flags `json:"attr,omitempty"`
	// Data is mount data, file content, or a map written to a proc file.
	Data string `json:"data,omitempty"`
	// Options are fsconfig key=value pairs, in order.
	Options []string `json:"options,omitempty"`
	// Mode is a permission mode or umask.
	Mode uint32 `json:"mode,omitempty"`
	// ID is a uid, gid, signal or descriptor number.
	ID uint32 `json:"id,omitempty"`
	// IDs is a list of gids or descriptors.
	IDs []uint32 `json:"ids,omitempty"`
	// Args is an argument vector; Env an environment.
	Args []string `json:"args,omitempty"`
	Env  []string `json:"env,omitempty"`
	// Recursive applies the step to submounts too.
	Recursive bool `json:"recursive,omitempty"`
	// Rlimit is the limit an OpRlimit step sets.
	Rlimit *rlimit.Limit `json:"rlimit,omitempty"`
	// Seccomp is the policy of an OpSeccomp step and Filter the program
	// compiled from it, which is what init installs.
	Seccomp *seccomp.Policy   `json:"seccomp,omitempty"`
	Filter  []unix.SockFilter `json:"filter,omitempty"`
	// Landlock is the ruleset of an OpLandlock step; ABI the kernel's
	// Landlock version it was compiled for.
	Landlock *landlock.Rules `json:"landlock,omitempty"`
	ABI      int             `json:"abi,omitempty"`
	// Nft is the nftables chain or rule of an OpNft step.
	Nft *network.Rule `json:"nft,omitempty"`
	// Proxy is the egress proxy of an OpEgressProxy step.
	Proxy *network.Proxy `json:"proxy,omitempty"`
	// Optional lets a mount whose source (or Existing target) is missing
	// be skipped.
	Optional bool `json:"optional,omitempty"`
	// Existing requires a mount's target to exist: it is not created.
	Existing bool `json:"existing,omitempty"`
	// NoSymlinks resolves a bind's Source without following a symlink in
	// any component (RESOLVE_NO_SYMLINKS).
	NoSymlinks bool `json:"noSymlinks,omitempty"`
	// HandBack makes a bind's Source (or a kept upper layer's, on its
	// mkdir) the sandbox's outputs: after the
	// sandbox, cell clears set-ID bits there and removes symlinks (unless
	// KeepSymlinks), and fails the run if it found any.
	HandBack     bool `json:"handBack,omitempty"`
	KeepSymlinks bool `json:"keepSymlinks,omitempty"`
}

// Flags is a word of flag bits; how it prints depends on the step's Op.
type Flags uint64

// PoolSplit is the line that String prints in a pooled plan before the
// first command step: a pool's sandbox has run every step above it ahead
// of time and waits there; the steps below it run for the request, in
// the process init forks for it.
const PoolSplit = "-- pool: the sandbox is ready here and waits for a request (cell run --pool); the steps below run for it, with the request's argv, stdin, stdout and stderr, its working directory if it gives one, and its values of passEnv"

// String prints the plan one step per line, numbered from 1, with the side
// and the profile position of each step; a pooled plan with PoolSplit
// where it waits for a request.
func (p *Plan) String() string {
	var b strings.Builder
	w := len(fmt.Sprint(len(p.Steps)))
	split := p.Pooled
	for i := range p.Steps {
		s := &p.Steps[i]
		if split && s.Side == Command {
			b.WriteString(PoolSplit)
			if len(p.PassEnv) > 0 {
				b.WriteString(" (" + strings.Join(p.PassEnv, ", ") + ")")
			}
			b.WriteString("\n")
			split = false
		}
		fmt.Fprintf(&b, "%*d %-7s %s  # %s\n", w, i+1, s.Side, s.Call(), s.Pos)
	}
	if len(p.Cleanup) > 0 {
		b.WriteString("when the sandbox has ended:\n")
		for i := range p.Cleanup {
			s := &p.Cleanup[i]
			fmt.Fprintf(&b, "%*s %-7s %s  # %s\n", w, "-", s.Side, s.Call(), s.Pos)
		}
	}
	return b.String()
}
