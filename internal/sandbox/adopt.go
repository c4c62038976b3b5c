package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"time"

	"github.com/cellsandbox/cell/internal/cgroup/cgroupfs"
	"github.com/cellsandbox/cell/launcher/plan"
)

// Restoring is a sandbox being rebuilt from a checkpoint: the parent's
// steps that a restore runs again (the cgroup and its limits) are done,
// and the processes are CRIU's to bring back.
type Restoring struct {
	plan *plan.Plan
	cg   *cgroups
	net  *nets
	// CgroupDir is the sandbox's cgroup leaf, open: the restoring process
	// starts there, so the restored ones do; nil without a cgroup.
	CgroupDir *os.File
}

// PrepareRestore runs the parent's steps of p that come before init's
// clone and that a restore needs: the cgroup's directories and limits,
// and a bridged network's host side (the lease of exactly addr, the
// address the checkpointed sandbox had, the bridge and the host's
// rules). The veth is the restorer's to make once CRIU has made the
// sandbox's network namespace. Any other parent step is refused: the
// user-mode network's and the ID leases' would need their own restore
// (checkpoint.Blockers refuses such plans first).
func PrepareRestore(p *plan.Plan, addr netip.Addr) (*Restoring, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	r := &Restoring{plan: p, cg: groupOf(p), net: &nets{want: addr}}
	for i := range p.Steps {
		s := &p.Steps[i]
		if s.Side != plan.Parent {
			continue
		}
		var err error
		switch a := s.Do.(type) {
		case *plan.CgroupMkdir, *plan.CgroupWrite, *plan.CgroupDevices:
			err = r.cg.step(a, 0)
		case *plan.Require, *plan.Bridge, *plan.Nft:
			err = r.net.step(a, 0)
		case *plan.NetLease:
			if !addr.IsValid() {
				err = errors.New("a restore leases the address the sandbox had, and none was given")
				break
			}
			err = r.net.step(a, 0)
		case *plan.Veth:
			// Made by the restorer at CRIU's setup-namespaces, in the
			// namespace CRIU made; it goes with that namespace.
		case *plan.CloseFDs, *plan.WriteIDMap, *plan.DenySetgroups:
			// Done by CRIU: the restored processes' namespaces, maps and
			// credentials are in the images.
		case *plan.Clone:
			if a.Cgroup != "" {
				r.CgroupDir, err = cgroupfs.OpenDir(a.Cgroup)
			}
		default:
			err = fmt.Errorf("%s: a restore does not run this step again", s.Op())
		}
		if err != nil {
			return nil, errors.Join(&StepError{Pos: s.Pos, Index: i + 1, Step: *s, Err: err.Error()}, r.Abort())
		}
	}
	return r, nil
}

// Abort undoes PrepareRestore: the cgroup goes, with anything in it.
func (r *Restoring) Abort() error {
	if r.CgroupDir != nil {
		r.CgroupDir.Close()
		r.CgroupDir = nil
	}
	return teardown(r.plan, r.cg, r.net, &leasedIDs{})
}

// Adopt makes the restored init, a child of this process, a Sandbox like
// one Start made: conn is the socket whose other end init now holds,
// console the master of the command's pty when it has one. Wait, Signal,
// Kill, Exec and Stats work on it as on a launched sandbox. As for Start,
// the caller keeps its goroutine on the thread that started the
// restoring process until Wait returns (init's parent-death signal).
func (r *Restoring) Adopt(pid int, conn, console *os.File) (*Sandbox, error) {
	proc, err := os.FindProcess(pid)
	if err != nil {
		return nil, err
	}
	if r.CgroupDir != nil {
		r.CgroupDir.Close()
		r.CgroupDir = nil
	}
	sb := &Sandbox{
		plan: r.plan, cmd: &exec.Cmd{Process: proc}, adopted: true, conn: conn, enc: json.NewEncoder(conn),
		done: make(chan struct{}), ready: make(chan struct{}), cg: r.cg, net: r.net, ids: &leasedIDs{},
		started: time.Now(), console: make(chan *os.File, 1),
	}
	// init told the first cell it was ready long ago, and reads its
	// socket with recvmsg since.
	close(sb.ready)
	if console != nil {
		sb.console <- console
	}
	go sb.read()
	return sb, nil
}
