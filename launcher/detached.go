package launcher

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/launcher/plan"
)

// A detached sandbox outlives the process that starts it, as an OCI
// runtime's container outlives `create`: its plan (Invocation.Detached)
// is pooled and has no parent-death signal. The starting process waits
// until init has run every step (Sandbox.Ready), hands init's socket to
// a process that stays (Sandbox.Detach), and may exit; init, its child,
// is then reaped by a subreaper of the caller's. The process that holds
// the socket Attach-es to the sandbox and releases it: its first Exec is
// the sandbox's command. Any process tears it down from its plan alone
// (Teardown), which is why a detached plan has no cleanup that only the
// starting process could run.

// ExitStatus is how a command that Exec started ended, as init reports
// it: its pid in the sandbox, its exit code or the signal that killed it.
type ExitStatus = sandbox.Status

// ExecStartError is a command that init could not start for Exec (from
// Process.Wait), such as one not found (Errno ENOENT).
type ExecStartError = sandbox.StartError

// checkDetached refuses a plan that Invocation.Detached did not make (a
// pooled plan without a parent-death signal) or whose cleanup Teardown
// cannot run from another process.
func checkDetached(pl *plan.Plan) error {
	if !pl.Pooled {
		return errors.New("the plan is not detached (Invocation.Detached): init would run its command at once")
	}
	for _, s := range pl.Steps {
		if _, ok := s.Do.(*plan.Pdeathsig); ok {
			return errors.New("the plan is not detached (Invocation.Detached): its parent-death signal ends the sandbox with the process that starts it")
		}
	}
	return sandbox.CheckDetached(pl)
}

// Ready waits until init has run every step it runs before the command:
// for a detached or pooled plan every step, after which init waits for
// its first command. It fails as Wait does when the sandbox ended first.
func (s *Sandbox) Ready() error {
	if s.sb.Ready() {
		return nil
	}
	_, err := s.Wait()
	if err == nil {
		err = errors.New("the sandbox ended before it was ready")
	}
	return err
}

// SentPlan is the plan's JSON exactly as init received it (what `cell
// plan --json` prints, without its indentation), for a record that
// another process decodes with plan.Decode to Attach or Teardown.
func (s *Sandbox) SentPlan() []byte { return s.sb.SentPlan() }

// Detach returns init's socket, for the process that Attach-es to the
// sandbox once this one has exited (the caller passes it on; it is
// close-on-exec). The plan must be detached (Invocation.Detached) and
// init ready (Ready). From then on this Sandbox sends init nothing:
// Signal, Exec and Console refuse; Kill and Wait, which do not use the
// socket, still end a sandbox that could not be handed over.
func (s *Sandbox) Detach() (*os.File, error) {
	if err := checkDetached(s.p.Plan); err != nil {
		return nil, fmt.Errorf("detach: %w", err)
	}
	select {
	case <-s.waited:
		return nil, errors.New("detach: the sandbox has ended")
	default:
	}
	s.detached.Store(true)
	return s.sb.Socket(), nil
}

// errDetached is what a Sandbox that handed init's socket over answers
// for what would use it.
var errDetached = errors.New("the sandbox was detached: the process that attached to it speaks to its init")

// Attached is a detached sandbox seen from a process that did not start
// it: init is not its child, so it has no pid to wait for nor statistics
// to read, but it sends init the sandbox's commands and signals.
type Attached struct {
	sb *sandbox.Sandbox
}

// Attach returns the detached sandbox of pl whose init is at the other
// end of conn, a socket that Sandbox.Detach returned in the process
// that started it. pl is the plan as init received it (SentPlan,
// decoded by plan.Decode).
func Attach(pl *plan.Plan, conn *os.File) (*Attached, error) {
	if err := checkDetached(pl); err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	return &Attached{sb: sandbox.Attach(pl, conn)}, nil
}

// Exec runs a command in the sandbox, forked by its init with all of the
// sandbox's defences; the first one is the sandbox's own command (an OCI
// container's process). stdio become its descriptors 0, 1 and 2; the
// caller may close its copies when Exec returns. That the command
// started is known from Process.Wait: one that could not be started is
// an *ExecStartError there.
func (a *Attached) Exec(req ExecRequest, stdio [3]*os.File) (*Process, error) {
	return a.sb.Exec(req, stdio)
}

// Signal delivers sig to the sandbox's command (init relays it).
func (a *Attached) Signal(sig syscall.Signal) error { return a.sb.Signal(sig) }

// Done is closed when init has ended (it closed its socket).
func (a *Attached) Done() <-chan struct{} { return a.sb.Done() }

// Exit returns how the sandbox's command ended once Done is closed, and
// false when init reported no end (a step failed, init was killed, or it
// has not ended).
func (a *Attached) Exit() (ExitStatus, bool) { return a.sb.Exit() }

// Teardown runs the cleanup steps of a detached sandbox's plan (as init
// received it: SentPlan, decoded by plan.Decode) in their printed order
// from any process, once the sandbox has ended or to end it: what is
// left in its cgroups is killed and the cgroups removed. A plan with
// cleanup that only the starting process could run is refused before
// any step runs.
func Teardown(pl *plan.Plan) error {
	return sandbox.Teardown(pl)
}
