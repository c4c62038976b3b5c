// The Go runtime would keep two cgroupfs files open to follow the
// cgroup's CPU limit (GOMAXPROCS): in init they are host descriptors in
// pid 1, and init closes at start every descriptor the plan does not name.

//go:debug containermaxprocs=0

// Command cell runs a command in a Linux sandbox described by a YAML
// profile: it validates the profile, compiles it into a plan of syscalls,
// and executes that plan.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/compile"
	"github.com/cellsandbox/cell/internal/stamp"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/spec"
)

func main() {
	// The sandbox's init is this binary re-executed when no cell-init
	// is found; it must not go through the CLI, and must start as early
	// as possible.
	launcher.Init()
	if len(os.Args) > 0 && os.Args[0] == doctorProbe {
		os.Exit(0)
	}
	shortLived()
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// shortLivedHeap bounds the Go memory of a cell process that does not
// collect garbage (shortLived): a launch's heap peaks at about 6 MiB, so
// it never collects, and a process that lives longer (a long run's
// supervisor, cell exec) collects only past this.
const shortLivedHeap = 16 << 20

// shortLived turns the garbage collector off up to shortLivedHeap: a
// launch allocates about 5 MiB, most of it garbage by the time the
// sandbox runs, and the collection that the default goal (4 MiB) starts
// in the middle of it took its time (and a second thread) from the
// launch. Memory stays bounded: past the limit the collector runs as
// usual. GOGC or GOMEMLIMIT in the environment are left to the runtime;
// the pool daemon, which lives long and builds sandboxes without end,
// collects as usual (poolStart).
func shortLived() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(shortLivedHeap)
}

// run is main without the exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	stamp.Mark("main")
	// A closed stdout or stderr (cell run --trace ... | head -1) must not
	// kill cell before it has torn the sandbox down: with SIGPIPE
	// notified, Go's writes to fds 1 and 2 return EPIPE instead. Notified,
	// not ignored: an ignored signal would stay ignored in the command.
	signal.Notify(make(chan os.Signal, 1), unix.SIGPIPE)
	app := newApp(stdout, stderr)
	inv, err := normalize(app, args)
	if err == nil {
		err = notLinked(app.Run(inv.args))
	}
	if err == nil {
		return 0
	}
	var st exitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	report(stderr, err)
	if isUsage(err) {
		// One line that says where the usage is, not the whole help.
		cmd := "cell"
		if inv.command != "" {
			cmd += " " + inv.command
		}
		fmt.Fprintf(stderr, "cell: hint: run '%s --help'\n", cmd)
	}
	return statusOf(err)
}

// cell's own exit statuses, apart from the command's (0-255 when it ran,
// 128+N when signal N killed it). They follow the conventions of
// timeout(1), env(1) and container runtimes.
const (
	// StatusError is any other failure of cell: I/O, the state
	// directory, a command of cell's other than run.
	StatusError = 1
	// StatusProfile is an invalid profile, a profile the host cannot
	// honour (a limit, a kernel feature) or a usage error.
	StatusProfile = 2
	// StatusTimeout is --timeout expiring.
	StatusTimeout = 124
	// StatusSetup is a step of the plan that failed: the sandbox could
	// not be made.
	StatusSetup = 125
	// StatusCannotExec and StatusNotFound are the command's execve
	// failing, as in a shell.
	StatusCannotExec = 126
	StatusNotFound   = 127
)

// statusOf is cell's exit status for err.
func statusOf(err error) int {
	var coded interface{ ExitCode() int }
	var list spec.ErrorList
	var ce *compile.Error
	var pe *launcher.ProfileError
	var se *launcher.SetupError
	switch {
	case errors.As(err, &coded):
		return coded.ExitCode()
	case errors.As(err, &pe), errors.As(err, &list), errors.As(err, &ce), isUsage(err):
		return StatusProfile
	case errors.As(err, &se):
		return StatusSetup
	}
	return StatusError
}

// isUsage reports an error of the command line itself, as urfave/cli
// words them.
func isUsage(err error) bool {
	var u usageError
	if errors.As(err, &u) {
		return true
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "flag provided but not defined") || strings.HasPrefix(msg, "invalid value") ||
		strings.Contains(msg, "Required flag") || strings.HasPrefix(msg, "No help topic")
}

// usageError is a command line that cell refuses (status 2).
type usageError string

func (e usageError) Error() string { return string(e) }

// ExitCode is StatusProfile, as for urfave/cli's own usage errors.
func (e usageError) ExitCode() int { return StatusProfile }

// exitStatus ends cell with a status and no message: the command's own.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// hinted is an error with advice on what would make it work.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

func report(w io.Writer, err error) {
	var list spec.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintf(w, "%s\n", e)
		}
		noun := "errors"
		if len(list) == 1 {
			noun = "error"
		}
		fmt.Fprintf(w, "cell: error: %d %s in %s\n", len(list), noun, list[0].Pos.File)
		return
	}
	fmt.Fprintf(w, "cell: error: %v\n", err)
	var h *hinted
	if errors.As(err, &h) {
		fmt.Fprintf(w, "cell: hint: %s\n", h.hint)
	}
}
