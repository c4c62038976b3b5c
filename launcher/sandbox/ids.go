package sandbox

import (
	"fmt"

	"github.com/cellsandbox/cell/launcher/ids"
	"github.com/cellsandbox/cell/launcher/ids/slots"
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
func (l *leasedIDs) lease(s *plan.Step) error {
	if len(s.IDs) != 2 {
		return fmt.Errorf("id-lease step needs the pool's first ID and count, has %v", s.IDs)
	}
	base, err := slots.Acquire(s.Path, ids.Pool{First: s.IDs[0], Count: s.IDs[1]}, s.Source)
	if err != nil {
		return err
	}
	l.file, l.base, l.held = s.Path, base, true
	return nil
}

// resolve returns the parent step s with the leased IDs in place of the
// placeholders of its maps; other steps are returned as they are.
func (l *leasedIDs) resolve(s *plan.Step) (*plan.Step, error) {
	if s.Side != plan.Parent || !l.held {
		return s, nil
	}
	r := *s
	var err error
	if r.Data, err = ids.Resolve(s.Data, l.base); err != nil {
		return nil, err
	}
	r.Args = make([]string, len(s.Args))
	for i, a := range s.Args {
		if r.Args[i], err = ids.Resolve(a, l.base); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

// teardown releases the lease; it runs after the cgroup's teardown, which
// kills what is left of the sandbox, so that no process of the slot
// survives into the next holder's sandbox.
func (l *leasedIDs) teardown() error {
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
