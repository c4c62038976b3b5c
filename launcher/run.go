package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/internal/stamp"
	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/internal/term"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/launcher/pool"
)

// Status is how a launched command ended.
type Status struct {
	// Code is the command's exit code, or 128+N when signal N killed it,
	// as a shell reports it.
	Code int
	// Signal is the signal that killed the command; 0 when it exited.
	Signal syscall.Signal
	// TimedOut is Options.Timeout expiring: the command was sent
	// SIGTERM, and the sandbox killed when it outlived KillAfter.
	TimedOut bool
	// Stats are the sandbox's resource statistics (what `cell run
	// --stats` writes); nil when they were not read (a timeout that
	// ended in an error, an Exec without req.Stats).
	Stats *Stats
}

// Exited reports whether the command ended by itself with an exit code
// before any timeout.
func (s Status) Exited() bool { return s.Signal == 0 && !s.TimedOut }

func (s Status) String() string {
	switch {
	case s.TimedOut:
		return "timed out"
	case s.Signal != 0:
		return "killed by " + unix.SignalName(s.Signal)
	}
	return fmt.Sprintf("exit status %d", s.Code)
}

func statusOf(st sandbox.Status) Status {
	return Status{Code: st.ExitCode(), Signal: syscall.Signal(st.Signal)}
}

// Options are how Run supervises a sandbox.
type Options struct {
	// Stdin, Stdout and Stderr are the command's standard descriptors;
	// nil is /dev/null. When the plan gives the command a terminal
	// (Invocation.TTY), Run copies between it and Stdin and Stdout (a
	// terminal on Stdin is made raw while this process is in its
	// foreground) and the sandbox's init keeps Stderr.
	Stdin, Stdout, Stderr *os.File
	// Forward makes the sandbox stand in for this process as a shell's
	// job: the signals this process gets (INT, TERM, HUP, QUIT, USR1,
	// USR2, WINCH) are relayed to the command, except those a terminal
	// sends its whole foreground process group, which the kernel
	// delivers, and Ctrl-Z stops the sandbox and this process together.
	// A program that is not a command-line front end leaves it false and
	// ends a launch through its context.
	Forward bool
	// Timeout, when positive, ends the command as timeout(1) does:
	// SIGTERM after Timeout, then SIGKILL to the whole sandbox when it
	// is still there KillAfter later.
	Timeout, KillAfter time.Duration
	// Trace, when not nil, traces the launch: it receives each step
	// as it completes and the phases of this process's and init's lives.
	Trace func(Trace)
	// Store, when not nil, records the sandbox while it runs (for cell
	// ps, kill, exec, wait, update, freeze, thaw and gc) and serves
	// Exec requests on its socket. A sandbox that cannot be recorded
	// runs unrecorded, unless RequireRecord is set or it has cgroups
	// (which gc would have to find).
	Store         *Store
	RequireRecord bool
	// Log receives the supervisor's notices (a timeout's); nil discards
	// them.
	Log io.Writer
}

// forwarded are the signals relayed to the command with Forward.
var forwarded = []os.Signal{
	unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
}

// ttySignals are the signals a terminal sends to its whole foreground
// process group, which includes the sandbox: relaying them too would
// deliver them twice.
var ttySignals = map[os.Signal]bool{unix.SIGINT: true, unix.SIGQUIT: true, unix.SIGWINCH: true}

// Sandbox is a running sandbox started by Start.
type Sandbox struct {
	p  *Prepared
	sb *sandbox.Sandbox
	// waited is closed when the sandbox has ended and been torn down;
	// st and err are then Wait's answer.
	waited chan struct{}
	st     sandbox.Status
	err    error
	// detached is set once Detach handed init's socket over.
	detached atomic.Bool
	// waitOnce runs wait: at once from Start's goroutine, whose thread
	// the parent-death signal is bound to, or, for a detached sandbox
	// (lazyWait), from the first Wait.
	waitOnce sync.Once
	lazyWait bool
}

// Start executes the parent's side of p's plan and returns once init
// runs the rest (the sandbox's steps, then the command). stdio are the
// command's descriptors (nil is /dev/null); with a terminal of its own
// (Invocation.TTY), the command's are the Console and stdio.Stderr only
// serves init. trace is as Options.Trace.
//
// Start runs the sandbox from a goroutine of its own, locked to its
// thread until the sandbox has ended: the sandbox's parent-death signal
// is bound to that thread, so the caller's goroutine is free. The
// sandbox dies with this process, unless its plan is detached
// (Invocation.Detached; see Sandbox.Detach). A step that fails is a *SetupError;
// the command's exec failing is a *CommandError from Wait.
func Start(p *Prepared, stdio Stdio, trace func(Trace)) (*Sandbox, error) {
	if p.selfInit && !initCalled.Load() {
		return nil, errors.New("launch: this program re-executes itself as the sandbox's init, but its main does not call launcher.Init first: call it, or set Invocation.Init to a cell-init executable")
	}
	inherit, _, _ := shape(p.Plan)
	s := &Sandbox{p: p, waited: make(chan struct{})}
	// A detached sandbox's init is not waited for until Wait: once it
	// is handed over (Detach), it is a subreaper's to reap.
	s.lazyWait = checkDetached(p.Plan) == nil
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Unlocked only once the sandbox has ended: the thread must
		// outlive it.
		defer runtime.UnlockOSThread()
		sb, err := sandbox.Start(p.Plan, stdio, inherit, trace)
		if err != nil {
			started <- startError(err)
			return
		}
		s.sb = sb
		started <- nil
		if !s.lazyWait {
			s.waitOnce.Do(s.wait)
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return s, nil
}

// wait waits for the sandbox's end and its teardown, once.
func (s *Sandbox) wait() {
	s.st, s.err = s.sb.Wait()
	close(s.waited)
}

// shape is what the supervisor needs to know of a plan: the descriptors
// the command inherits, whether the command runs in a session of its own
// and whether it gets a terminal of its own.
func shape(pl *plan.Plan) (inherit []int, ownSession, tty bool) {
	for _, s := range pl.Steps {
		switch a := s.Do.(type) {
		case *plan.CloseFDs:
			for _, fd := range a.Keep {
				inherit = append(inherit, int(fd))
			}
		case *plan.Setsid:
			ownSession = true
		case *plan.Console:
			tty = true
		}
	}
	return inherit, ownSession, tty
}

// Name is the sandbox's name.
func (s *Sandbox) Name() string { return s.p.Plan.Name }

// Pid is the host pid of the sandbox's init, pid 1 of its pid namespace.
func (s *Sandbox) Pid() int { return s.sb.Pid() }

// Address is the sandbox's address on its bridge; "" without one.
func (s *Sandbox) Address() string { return s.sb.Address() }

// Signal delivers sig to the command (init relays it).
func (s *Sandbox) Signal(sig syscall.Signal) error {
	if s.detached.Load() {
		return errDetached
	}
	return s.sb.Signal(sig)
}

// Kill ends the whole sandbox at once (SIGKILL to its init).
func (s *Sandbox) Kill() error { return s.sb.Kill() }

// Console returns the master of the command's terminal (Invocation.TTY)
// once init has made it; it fails when the sandbox ended first.
func (s *Sandbox) Console() (*os.File, error) {
	if s.detached.Load() {
		return nil, errDetached
	}
	return s.sb.Console()
}

// Exec runs one more command in the sandbox, forked by its init with all
// of the sandbox's defences (see sandbox.Sandbox.Exec).
func (s *Sandbox) Exec(req ExecRequest, stdio [3]*os.File) (*Process, error) {
	if s.detached.Load() {
		return nil, errDetached
	}
	return s.sb.Exec(req, stdio)
}

// Done is closed when the sandbox has ended and been torn down (for a
// detached sandbox, once Wait was called).
func (s *Sandbox) Done() <-chan struct{} { return s.waited }

// Wait waits until the sandbox has ended and its cgroups, network and
// leases are torn down, and returns how the command ended, with the
// sandbox's statistics. It may be called more than once. A detached
// sandbox (Invocation.Detached) is waited for only from the first Wait
// on, which reaps its init: once it is handed over (Detach), call it
// only to end a sandbox that the other process did not take.
func (s *Sandbox) Wait() (Status, error) {
	if s.lazyWait {
		go s.waitOnce.Do(s.wait)
	}
	<-s.waited
	if s.err != nil {
		return Status{}, startError(s.err)
	}
	st := statusOf(s.st)
	st.Stats = s.sb.Stats(s.st)
	return st, nil
}

// Run launches p and supervises it until it has ended: it records it
// (Options.Store), relays its terminal and signals (Options.Forward),
// ends it on Options.Timeout, and tears it down. When ctx ends first the
// sandbox is killed and Run returns ctx's error with the status. A step
// that failed is a *SetupError, a command that could not be executed a
// *CommandError.
func Run(ctx context.Context, p *Prepared, o Options) (Status, error) {
	pl := p.Plan
	if checkDetached(pl) == nil {
		// Its init would wait for a command that no one sends.
		return Status{}, errors.New("launch: the plan is detached (Invocation.Detached): start it with Start, and its command with Exec")
	}
	if o.Trace != nil {
		// Deferred first, so it runs last: teardown ends once the
		// record is deleted too.
		defer func() { stamp.Mark("teardown"); o.Trace(Trace{Phases: stamp.Take("cell")}) }()
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	var rec *state.Record
	if o.Store != nil {
		rec = state.NewRecord(pl.Name, pl.Profile, pl.Cgroup)
		if err := o.Store.Create(rec); err != nil {
			if o.RequireRecord || pl.Cgroup != nil {
				return Status{}, err
			}
			rec = nil
		} else {
			defer o.Store.Delete(rec.Name)
		}
	}
	stamp.Mark("record")

	var sigs chan os.Signal
	if o.Forward {
		// Notified before the start, so that none is lost between.
		sigs = make(chan os.Signal, 8)
		signal.Notify(sigs, forwarded...)
		defer signal.Stop(sigs)
	}
	_, ownSession, tty := shape(pl)
	stdio := Stdio{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr}
	if tty {
		// The command's stdio is the console that init makes; init
		// itself keeps only stderr, for what it cannot tell cell.
		stdio = Stdio{Stderr: o.Stderr}
	}
	s, err := Start(p, stdio, o.Trace)
	if o.Trace != nil {
		stamp.Mark("started")
		o.Trace(Trace{Phases: stamp.Take("cell")})
	}
	if err != nil {
		return Status{}, err
	}
	var pty *term.PTY
	if tty {
		m, err := s.Console()
		if err != nil {
			if _, werr := s.Wait(); werr != nil {
				err = werr
			}
			return Status{}, err
		}
		pty = term.New(m)
		pty.SetSuspend(term.Suspender(s.Signal))
		in, out := o.Stdin, o.Stdout
		if in == nil {
			in = devNull()
		}
		if out == nil {
			out = devNull()
		}
		if err := pty.Start(in, out); err != nil {
			_ = s.Kill()
			_, _ = s.Wait()
			return Status{}, err
		}
		defer pty.Close()
	}
	if rec != nil {
		// What cell checkpoint reads: the plan as init received it, not
		// encoded a second time, and its profile. A sandbox without it
		// runs, but cannot be checkpointed. Encoding the profile (the
		// first JSON of its types in this process) and writing took 2-5
		// ms of the launch; it is done while the command runs, and done
		// before the record goes (the defer runs before Delete's).
		// cell checkpoint waits a moment for an origin not written yet.
		origin := make(chan struct{})
		go func() {
			defer close(origin)
			_ = o.Store.SaveOrigin(rec.Name, s.sb.SentPlan(), p.Profile)
		}()
		defer func() { <-origin }()
		rec.Pid = s.Pid()
		rec.PidStart, _ = state.StartTime(rec.Pid)
		rec.Address = s.Address()
		_ = o.Store.Update(rec)
		if stop, err := pool.ServeExec(s.sb, rec.Name, o.Store.Socket(rec.Name)); err == nil {
			defer stop()
		}
	}
	var timedOut atomic.Bool
	if o.Timeout > 0 {
		// As timeout(1): SIGTERM to the command, then the whole sandbox
		// if it is still there after the grace.
		t := time.AfterFunc(o.Timeout, func() {
			timedOut.Store(true)
			fmt.Fprintf(log, "cell: timeout: %s elapsed, sending SIGTERM\n", o.Timeout)
			_ = s.Signal(syscall.SIGTERM)
			time.AfterFunc(o.KillAfter, func() {
				fmt.Fprintf(log, "cell: timeout: still running %s later, killing the sandbox\n", o.KillAfter)
				_ = s.Kill()
			})
		})
		defer t.Stop()
	}
	if o.Forward {
		// A command in the caller's session gets the terminal's signals
		// from the kernel; one in a session of its own only through us.
		fg := o.Stdin != nil && term.Foreground(int(o.Stdin.Fd())) && !ownSession
		if !tty && ownSession || pty != nil && !pty.Interactive() {
			defer term.SuspendWith(term.Suspender(s.Signal))()
		}
		go func() {
			for {
				select {
				case sig := <-sigs:
					if fg && ttySignals[sig] || tty && sig == unix.SIGWINCH {
						continue // the kernel delivers them, or the pty's resize does
					}
					_ = s.Signal(sig.(syscall.Signal))
				case <-s.Done():
					return
				}
			}
		}()
	}
	var canceled atomic.Bool
	go func() {
		select {
		case <-ctx.Done():
			canceled.Store(true)
			_ = s.Kill()
		case <-s.Done():
		}
	}()
	st, err := s.Wait()
	stamp.Mark("wait")
	if canceled.Load() {
		if err != nil {
			// Init was killed before it could report the command's end.
			st = Status{Code: 128 + int(unix.SIGKILL), Signal: unix.SIGKILL}
		}
		return st, ctx.Err()
	}
	if timedOut.Load() {
		st.TimedOut = true
		if err != nil {
			return Status{TimedOut: true}, nil
		}
	}
	return st, err
}

// devNull is /dev/null opened for reading and writing, for a terminal
// relayed to no one; it is closed with the process.
func devNull() *os.File {
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	return f
}
