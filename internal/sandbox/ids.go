package sandbox

import (
	"errors"
	"fmt"

	"github.com/cellsandbox/cell/internal/ids"
	"github.com/cellsandbox/cell/internal/ids/slots"
	"github.com/cellsandbox/cell/launcher/plan"
)

// leasedIDs is the slot of host IDs that the parent leased for the
// sandbox's picked ID ranges (outside: pick).
type leasedIDs struct {
	file string
	base uint32
	held bool
}

// lease runs an id-lease step.
func (l *leasedIDs) lease(s *plan.IDLease) error {
	base, err := slots.Acquire(s.File, ids.Pool{First: s.First, Count: s.Count}, s.Sandbox)
	if err != nil {
		return err
	}
	l.file, l.base, l.held = s.File, base, true
	return nil
}

// resolve returns the action of the parent step s with the leased IDs in
// place of the placeholders of its maps; other steps' actions are
// returned as they are. The plan is not changed.
func (l *leasedIDs) resolve(s *plan.Step) (plan.Action, error) {
	if s.Side != plan.Parent || !l.held {
		return s.Do, nil
	}
	var err error
	res := func(m string) string {
		r, rerr := ids.Resolve(m, l.base)
		err = errors.Join(err, rerr)
		return r
	}
	switch a := s.Do.(type) {
	case *plan.WriteIDMap:
		r := *a
		r.Data = res(a.Data)
		return &r, err
	case *plan.NewIDMap:
		r := *a
		r.Ranges = make([]string, len(a.Ranges))
		for i, m := range a.Ranges {
			r.Ranges[i] = res(m)
		}
		return &r, err
	case *plan.IDMappedTree:
		r := *a
		r.UIDMap, r.GIDMap = res(a.UIDMap), res(a.GIDMap)
		return &r, err
	}
	return s.Do, nil
}

// release runs an id-release step: it ends the lease. The plan's
// cleanup runs it after the cgroup's kill, so that no process of the slot
// survives into the next holder's sandbox.
func (l *leasedIDs) release() error {
	if !l.held {
		return nil
	}
	l.held = false
	if err := slots.Release(l.file, l.base); err != nil {
		return fmt.Errorf("id-release: %w", err)
	}
	return nil
}

// HostIDs returns the first host ID of the slot leased for the sandbox's
// picked ranges (its host UIDs and GIDs are base to base+65535), and
// whether it holds one: a plan whose ID maps say outside: pick, run by
// root. A plan's steps write the same IDs as {ids} and {ids+N}.
func (sb *Sandbox) HostIDs() (base uint32, ok bool) { return sb.ids.base, sb.ids.held }
