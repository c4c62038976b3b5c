package plan

import (
	"fmt"
	"strings"
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
	Cgroup *Cgroup `json:"cgroup,omitempty"`
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
	sideCount
)

func (s Side) String() string {
	switch s {
	case Parent:
		return "parent"
	case Init:
		return "init"
	case Command:
		return "command"
	case sideCount:
	}
	return fmt.Sprintf("Side(%d)", uint8(s))
}

// MarshalText prints the name.
func (s Side) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a name printed by MarshalText.
func (s *Side) UnmarshalText(b []byte) error {
	for c := range sideCount {
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

// Step is one operation of a plan: what it does (an Action, one type
// per op), which process does it and the profile position that produced
// it.
type Step struct {
	Side Side
	Pos  Pos
	Do   Action
}

// Op is the step's op; OpInvalid for a step without an Action.
func (s *Step) Op() Op {
	if s.Do == nil {
		return OpInvalid
	}
	return s.Do.Op()
}

// Call prints the step as the syscalls it makes, strace-like.
func (s *Step) Call() string {
	if s.Do == nil {
		return "invalid()"
	}
	return s.Do.call(s.Side)
}

// Summary is a short description of the step for error messages: "bind
// /home/u/src -> /src", "mount proc -> /proc", "exec sh".
func (s *Step) Summary() string {
	switch a := s.Do.(type) {
	case *Bind:
		return fmt.Sprintf("bind %s -> %s", a.Source, a.Target)
	case *MountFS:
		return fmt.Sprintf("mount %s -> %s", a.FSType, a.Target)
	case *Mkdir:
		return "mkdir " + join(a.Root, a.Path)
	case *WriteFile:
		return "file " + a.Target
	case *Symlink:
		return fmt.Sprintf("symlink %s -> %s", a.Target, a.LinkTo)
	case *Exec:
		return "exec " + a.Path
	case *EgressProxy:
		return "egress-proxy"
	}
	return s.Call()
}

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
