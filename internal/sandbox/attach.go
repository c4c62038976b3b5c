package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/cellsandbox/cell/launcher/plan"
)

// This file lets a sandbox outlive the process that started it, as an OCI
// runtime needs: `create` starts the sandbox and exits (its caller, a
// subreaper, then reaps init), and a monitor process it leaves behind
// holds init's socket for the later `start`, `exec` and `kill`.

// Ready waits until init has run every step it runs before the command
// (for a pooled plan: every step, after which init waits for its first
// request) and reports true, or false when init ended first: Wait then
// says why. It does not wait for init itself, so that the caller's one
// Wait stays the only one.
func (sb *Sandbox) Ready() bool {
	select {
	case <-sb.ready:
		return true
	case <-sb.done:
	}
	select {
	case <-sb.ready:
		return true
	default:
		return false
	}
}

// Socket returns init's socket, for a process that Attach-es to the
// sandbox; this Sandbox must send nothing on it afterwards. The caller
// passes it on (it is close-on-exec).
func (sb *Sandbox) Socket() *os.File { return sb.conn }

// Attach returns the sandbox whose init is at the other end of conn (a
// socket that Socket returned in the process that started it), ready for
// Exec and Signal. Init is not this process's child: Wait, Kill, Pid and
// the statistics are not for an attached sandbox; Done says when init
// has ended and Exit how.
func Attach(p *plan.Plan, conn *os.File) *Sandbox {
	sb := &Sandbox{plan: p, conn: conn, enc: json.NewEncoder(conn), done: make(chan struct{}), ready: make(chan struct{}),
		cg: groupOf(&plan.Plan{}), net: &nets{}, ids: &leasedIDs{}, console: make(chan *os.File, 1)}
	close(sb.ready)
	go sb.read()
	return sb
}

// Done is closed when init has closed its socket: it has ended.
func (sb *Sandbox) Done() <-chan struct{} { return sb.done }

// Exit returns how the command ended, once Done is closed, and false
// when init reported no exit (a step failed, or init was killed).
func (sb *Sandbox) Exit() (Status, bool) {
	select {
	case <-sb.done:
	default:
		return Status{}, false
	}
	if sb.result.Exit == nil {
		return Status{}, false
	}
	return *sb.result.Exit, true
}

// Teardown runs the cleanup steps of p, in their printed order, for a
// sandbox that another process started (an OCI container's, which
// outlives create): the cgroups the plan names are killed and removed.
// A cleanup step that undoes what only the starting process holds (a
// leased ID range, a network's lease or helper) is refused before any
// step runs: CheckDetached says so when the plan is made.
func Teardown(p *plan.Plan) error {
	if err := CheckDetached(p); err != nil {
		return err
	}
	cg := groupOf(p)
	cg.made = slices.Clone(cg.leaves)
	return teardown(p, cg, &nets{}, &leasedIDs{})
}

// CheckDetached refuses a plan whose cleanup Teardown could not run from
// a process other than the one that started the sandbox.
func CheckDetached(p *plan.Plan) error {
	for i := range p.Cleanup {
		switch s := &p.Cleanup[i]; s.Do.(type) {
		case *plan.CgroupKill, *plan.CgroupRemove, *plan.UmountRootfs:
		default:
			return fmt.Errorf("cleanup step %d (%s): only the process that started the sandbox holds what it undoes, and a detached sandbox outlives it", i+1, s.Op())
		}
	}
	return nil
}
