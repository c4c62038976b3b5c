package launcher

import (
	"errors"
	"fmt"
	"regexp"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/compile"
	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/spec"
)

// ProfileError is a profile that cannot be launched as it is written: it
// could not be read, it is invalid (Unwrap gives a spec.ErrorList), or it
// asks for what this host cannot give (a *compile.Error). cell exits 2.
type ProfileError struct{ Err error }

func (e *ProfileError) Error() string { return e.Err.Error() }
func (e *ProfileError) Unwrap() error { return e.Err }

// classify wraps the errors of the profile's own making in a
// ProfileError; any other error (the host, a caller's Vet) stays as it
// is.
func classify(err error) error {
	var pe *ProfileError
	var list spec.ErrorList
	var ce *compile.Error
	if errors.As(err, &pe) || !errors.As(err, &list) && !errors.As(err, &ce) {
		return err
	}
	return &ProfileError{err}
}

// ErrNotLinked is what a program built with the cell_lean tag (cell's run
// binary, which leaves out the OCI runtime specification, CRIU and the
// egress proxy) returns for what needs them, such as an OCI bundle for a
// profile: cell then runs its full build (cell-tools) with the same
// arguments.
var ErrNotLinked = errors.New("not linked into this program (built with the cell_lean tag)")

// SetupError is a step of the plan that failed: the sandbox could not be
// made (cell exits 125). Its message gives the paths that init saw under
// its staging directories (/oldroot is the host's root, /newroot the
// sandbox's) as the host and the sandbox know them; Unwrap gives the
// *StepError, with the step, its profile position and errno.
type SetupError struct{ Step *StepError }

var stagingPrefix = regexp.MustCompile(`(^|[^\w/.-])/(?:oldroot|newroot)(/|[^\w.-]|$)`)

func (e *SetupError) Error() string { return HostPaths(e.Step.Error()) }
func (e *SetupError) Unwrap() error { return e.Step }

// HostPaths rewrites the staging paths of init (/oldroot/x, /newroot/x)
// in msg as /x.
func HostPaths(msg string) string {
	return stagingPrefix.ReplaceAllStringFunc(msg, func(m string) string {
		g := stagingPrefix.FindStringSubmatch(m)
		if g[2] == "/" {
			return g[1] + "/"
		}
		return g[1] + "/" + g[2]
	})
}

// CommandError is the command's execve failing once the sandbox was made:
// as in a shell, exit status 127 when it was not found, 126 when it could
// not be run.
type CommandError struct {
	// Command is the command as the error names it (with the profile
	// position of the exec step, for a sandbox's own command).
	Command string
	// NotFound is ENOENT or ENOTDIR: there is no such command.
	NotFound bool
	Err      error
}

func (e *CommandError) Error() string {
	if e.NotFound {
		return e.Command + ": command not found"
	}
	return e.Err.Error()
}

func (e *CommandError) Unwrap() error { return e.Err }

// ExitCode is the shell's status for the failure: 127 or 126.
func (e *CommandError) ExitCode() int {
	if e.NotFound {
		return 127
	}
	return 126
}

// startError is the typed form of an error of sandbox.Start or Wait:
// a step's failure (perhaps joined with a teardown's) as a SetupError,
// the command's execve's as a CommandError.
func startError(err error) error {
	var se *StepError
	var ee *sandbox.ExecError
	isExec := errors.As(err, &ee)
	if isExec {
		se = ee.StepError
	} else if !errors.As(err, &se) {
		return err
	}
	var setup error = &SetupError{se}
	if err != error(se) && err != error(ee) {
		setup = &wrapped{msg: HostPaths(err.Error()), err: err, setup: &SetupError{se}}
	}
	if isExec {
		nf := se.Errno == unix.ENOENT || se.Errno == unix.ENOTDIR
		name := se.Step.Op().String()
		if x, ok := se.Step.Do.(*plan.Exec); ok {
			name = x.Path
		}
		return &CommandError{Command: fmt.Sprintf("%s: %s", se.Pos, name), NotFound: nf, Err: setup}
	}
	return setup
}

// wrapped is a step's failure joined with others (teardown), whose
// whole message has its host paths rewritten.
type wrapped struct {
	msg   string
	err   error
	setup *SetupError
}

func (w *wrapped) Error() string   { return w.msg }
func (w *wrapped) Unwrap() []error { return []error{w.setup, w.err} }
