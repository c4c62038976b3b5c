package checkpoint

import (
	"fmt"

	"github.com/cellsandbox/cell/launcher/plan"
)

// Blockers returns what in the plan keeps its sandbox from being
// checkpointed and restored with the same isolation, one reason each
// (with the step that brings it), or nil when nothing does.
func Blockers(p *plan.Plan) []string {
	var out []string
	seen := map[string]bool{}
	add := func(i int, why string) {
		if seen[why] {
			return
		}
		seen[why] = true
		out = append(out, fmt.Sprintf("step %d (%s, %s): %s", i+1, p.Steps[i].Op(), p.Steps[i].Pos, why))
	}
	if p.Rootless {
		out = append(out, "rootless: cell checkpoints only as root (CRIU's unprivileged mode needs CAP_CHECKPOINT_RESTORE on criu and cannot restore the sandbox's namespaces)")
	}
	if p.Pooled {
		out = append(out, "a pool's sandbox: its requests' descriptors come from clients that a restore cannot reach")
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		switch a := s.Do.(type) {
		case *plan.UserNet, *plan.UserNetPort:
			add(i, "a user-mode network: slirp4netns, outside the sandbox, holds the connections' state, which CRIU cannot dump; checkpoint a sandbox with network mode none or bridge")
		case *plan.Nft:
			if s.Side != plan.Parent {
				add(i, "egress rules in the sandbox's network namespace: cell restores that namespace empty but for lo, and would lose them")
			}
		case *plan.Landlock:
			add(i, "landlock: CRIU cannot read a landlock domain back, so the restored processes would run without it")
		case *plan.IDMappedTree, *plan.AttachTree:
			add(i, "an ID-mapped mount: CRIU 3.17 does not restore ID-mapped mounts")
		case *plan.CgroupJoin:
			add(i, "a cgroup v1 hierarchy: cell restores into a cgroup v2 leaf only")
		case *plan.IDLease:
			add(i, "a leased ID range (outside: pick): the lease is this host's, and a restore elsewhere could not hold the same IDs")
		case *plan.NewIDMap:
			add(i, "ID maps written by newuidmap (a rootless multi-range map)")
		case *plan.CloseFDs:
			if s.Side == plan.Parent && len(a.Keep) > 0 {
				add(i, fmt.Sprintf("inherited descriptors %v: files of the caller's that a restore cannot hand back", a.Keep))
			}
		case *plan.MountFS:
			if a.FSType == "overlay" {
				add(i, "an overlay mount: its upper layer lives outside the images and CRIU 3.17 cannot restore it in a new root")
			}
		}
	}
	return out
}

// BlockedError is a sandbox that cannot be checkpointed, with every reason.
type BlockedError struct {
	Name    string
	Reasons []string
}

func (e *BlockedError) Error() string {
	s := fmt.Sprintf("sandbox %s cannot be checkpointed:", e.Name)
	for _, r := range e.Reasons {
		s += "\n  " + r
	}
	return s
}
