// Package sandbox executes a plan. Start, in the cell process, runs the
// parent's steps (the clone of init and its ID maps), sends the whole plan
// to init over a socket on fd 3 and waits for init's report. Init, the
// re-executed cell binary, runs its own steps in order, forks the command
// with the command's steps and execve, then reaps zombies, forwards the
// signals cell relays to it, and reports how the command ended.
//
// The wire protocol is a stream of JSON values, one a line, in both
// directions. From cell: the Mapped word when init waits for its ID maps
// (the setuid helpers), then one message with the Runtime, then the plan
// exactly as plan.Encode wrote it (the bytes `cell plan --json` prints,
// without its indentation: nothing is rewritten on the way), then signals
// and exec requests. From init: trace records, a step failure or the
// command's exit. EOF from init without an exit report means init died.
package sandbox

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/internal/stamp"
	"github.com/cellsandbox/cell/launcher/plan"
)

// message is one record on the socket between cell and init.
type message struct {
	// Signal, from cell, is a signal to deliver to the command.
	Signal int `json:"signal,omitempty"`
	// Mapped, from cell, says the ID map helpers have written init's maps.
	Mapped bool `json:"mapped,omitempty"`
	// Ready, from init, says it reads its socket with recvmsg now: a
	// message that carries descriptors sent before that would lose them
	// to the plan decoder's plain reads.
	Ready bool `json:"ready,omitempty"`
	// Socket, from init, says a new socket comes with it: init made it in
	// its own network namespace, and from here on both ends talk over it
	// (cell's socket belongs to the host's namespace, where CRIU, dumping
	// the sandbox's, would not find it). cell puts it at the old one's
	// number, which closes the old one.
	Socket bool `json:"socket,omitempty"`
	// Failure, from init, says a step failed; init then exits.
	Failure *failure `json:"failure,omitempty"`
	// Exit, from init, says how the command ended.
	Exit *Status `json:"exit,omitempty"`
	// Trace, from init, says a step ran (plans with Trace).
	Trace *Trace `json:"trace,omitempty"`
	// Exec, from cell, asks for one more command in the sandbox (see
	// Sandbox.Exec), its stdio passed with the message.
	Exec *ExecRequest `json:"exec,omitempty"`
	// ExecSignal, from cell, is a signal for an exec'd command.
	ExecSignal *ExecSignal `json:"execSignal,omitempty"`
	// ExecExit, from init, says how an exec'd command ended.
	ExecExit *ExecExit `json:"execExit,omitempty"`
	// ExecConsole, from init, answers an exec request's Console.
	ExecConsole *ExecConsole `json:"execConsole,omitempty"`
	// Console, from init, names the pty it made in the sandbox's devpts
	// ("/dev/pts/0"), whose master comes with the message.
	Console string `json:"console,omitempty"`
	// Runtime, from cell, is what only the run decides, sent right
	// before the plan.
	Runtime *Runtime `json:"runtime,omitempty"`
	// Egress, from init, lists the sockets of the egress proxy that it
	// made in the sandbox's network namespace, which come with the
	// message in this order.
	Egress []network.Listen `json:"egress,omitempty"`
}

// Runtime is what init needs beside the plan that is known only when the
// sandbox starts; the plan itself is the same for every run of an
// invocation, and init receives it byte for byte as compiled.
type Runtime struct {
	// Trace asks init to report each step as it runs, with its duration,
	// the phases of its life and the hash of the plan it received (cell
	// run --trace).
	Trace bool `json:"trace,omitempty"`
	// Lease is the address the parent leased on the sandbox's bridge
	// (a net-lease step), "" without one. Init's steps write it as
	// {lease} (plan.Lease): the executor puts it in their place when it
	// runs them.
	Lease string `json:"lease,omitempty"`
}

// fds is how many descriptors travel with m.
func (m *message) fds() int {
	switch {
	case m.Exec != nil:
		return 3
	case len(m.Egress) > 0:
		return len(m.Egress)
	case m.Console != "", m.ExecConsole != nil && m.ExecConsole.Name != "", m.Socket:
		return 1
	}
	return 0
}

// Trace is one executed step or run of steps, for cell run --trace: steps
// First to Last (0-based, often the same) took Micros µs.
type Trace struct {
	First  int   `json:"first"`
	Last   int   `json:"last"`
	Micros int64 `json:"us"`
	// Phases, when not empty, are the ends of phases of a process's life
	// (see internal/stamp) instead of a step: init sends its own once
	// the command has been exec'd.
	Phases []stamp.Stamp `json:"phases,omitempty"`
	// PlanSHA256, when not empty, is the hex SHA-256 of the plan's bytes
	// as init received them, instead of a step: what init runs, to
	// compare with what `cell plan --json` prints.
	PlanSHA256 string `json:"planSHA256,omitempty"`
}

type failure struct {
	Step  int    `json:"step"`            // index into Plan.Steps
	Errno int    `json:"errno,omitempty"` // 0 when the cause is not a syscall
	Err   string `json:"err"`
}

// Status is how the command ended: its exit code, or the signal that
// killed it.
type Status struct {
	Pid    int `json:"pid"` // the command's pid inside the sandbox
	Code   int `json:"code"`
	Signal int `json:"signal,omitempty"`
}

// ExitCode is the status a shell would report: the code, or 128+signal.
func (s Status) ExitCode() int {
	if s.Signal != 0 {
		return 128 + s.Signal
	}
	return s.Code
}

func (s Status) String() string {
	if s.Signal != 0 {
		return fmt.Sprintf("killed by %s", unix.SignalName(unix.Signal(s.Signal)))
	}
	return fmt.Sprintf("exit status %d", s.Code)
}

// StepError is a step that failed at run time. It prints as the profile
// position, the step number and what the step did, then the cause:
// "dev.yaml:14:7: step 9 bind /home/u/src -> /src: openat2 ...: ENOENT (...)".
type StepError struct {
	Pos   plan.Pos
	Index int // 1-based step number, as `cell plan` prints it
	Step  plan.Step
	Errno unix.Errno
	Err   string
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s: step %d %s: %s", e.Pos, e.Index, e.Step.Summary(), e.Err)
}

// Unwrap exposes the errno, so errors.Is(err, unix.ENOENT) works.
func (e *StepError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// ExecError is the command's execve failing: exit status 127 when it was
// not found, 126 when it could not be run, as in a shell.
type ExecError struct {
	*StepError
}

// ExitCode is the shell's status for the failure.
func (e *ExecError) ExitCode() int {
	if e.Errno == unix.ENOENT || e.Errno == unix.ENOTDIR {
		return 127
	}
	return 126
}
