// Package sandbox executes a plan. Start, in the cell process, runs the
// parent's steps (the clone of init and its ID maps), sends the whole plan
// to init over a socket on fd 3 and waits for init's report. Init, the
// re-executed cell binary, runs its own steps in order, forks the command
// with the command's steps and execve, then reaps zombies, forwards the
// signals cell relays to it, and reports how the command ended.
//
// The two talk over a unix socket in the protocol of internal/proto,
// which documents it: cell sends a run-time message and then the plan
// exactly as plan.Encode wrote it (the bytes `cell plan --json` prints,
// without its indentation: nothing is rewritten on the way), init reports
// trace records, a step failure or the command's exit. EOF from init
// without a report means init died.
package sandbox

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/proto"
	"github.com/cellsandbox/cell/launcher/plan"
)

// The messages between cell and init are internal/proto's (which
// documents the protocol); these names keep the package's API.
type (
	message = proto.Message
	failure = proto.Failure
	// Runtime is what init needs beside the plan (proto.Runtime).
	Runtime = proto.Runtime
	// Trace is one executed step or run of steps (proto.Trace).
	Trace = proto.Trace
	// Status is how the command ended (proto.Status).
	Status = proto.Status
	// ExecRequest asks a running sandbox for one more command
	// (proto.ExecRequest).
	ExecRequest = proto.ExecRequest
	// ExecExit is how an exec'd command ended (proto.ExecExit).
	ExecExit = proto.ExecExit
	// ExecConsole answers an exec request's Console (proto.ExecConsole).
	ExecConsole = proto.ExecConsole
	// ExecSignal asks init to deliver a signal to an exec'd command
	// (proto.ExecSignal).
	ExecSignal = proto.ExecSignal
	// Stats are an ended sandbox's resource statistics (proto.Stats).
	Stats = proto.Stats
)

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
