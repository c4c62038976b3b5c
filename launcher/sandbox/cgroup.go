package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/cgroup"
	"github.com/cellsandbox/cell/launcher/cgroup/cgroupfs"
	"github.com/cellsandbox/cell/launcher/plan"
)

// cgroups is the parent's part of a sandbox's cgroup: the leaves the plan
// makes (its cleanup steps) and what was made so far.
type cgroups struct {
	group   *cgroup.Group // nil when the plan has no cgroup
	leaves  []string
	made    []string
	cloneFD *os.File
}

// groupOf returns the parent's view of the plan's cgroups.
func groupOf(p *plan.Plan) *cgroups {
	cg := &cgroups{group: p.Cgroup}
	if p.Cgroup != nil {
		cg.leaves = p.Cgroup.Dirs()
	}
	return cg
}

// step runs a cgroup step of the parent: before the clone (mkdir, write)
// or after init's exec (join).
func (cg *cgroups) step(s *plan.Step, initPid int) error {
	switch s.Op {
	case plan.OpCgroupMkdir:
		err := unix.Mkdir(s.Path, 0o755)
		if errors.Is(err, unix.EEXIST) && !slices.Contains(cg.leaves, s.Path) {
			return nil // a parent such as /sys/fs/cgroup/cell
		}
		if err != nil {
			return &os.PathError{Op: "mkdir", Path: s.Path, Err: err}
		}
		cg.made = append(cg.made, s.Path)
		return nil
	case plan.OpCgroupWrite:
		return cgroupfs.Update([]cgroup.Write{{Dir: path.Dir(s.Path), File: path.Base(s.Path), Value: s.Data}})
	case plan.OpCgroupJoin:
		return cgroupfs.Join(s.Path, initPid)
	}
	return fmt.Errorf("%s is not a cgroup step", s.Op)
}

// teardown kills whatever is left in the sandbox's cgroups and removes
// them. Parents (such as /sys/fs/cgroup/cell) stay: removing one would
// race with another sandbox making its cgroup there.
func (cg *cgroups) teardown() error {
	if cg.cloneFD != nil {
		cg.cloneFD.Close()
		cg.cloneFD = nil
	}
	if cg.group == nil || len(cg.made) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if err := cgroupfs.Kill(ctx, cg.group); err != nil {
		errs = append(errs, err)
	}
	if err := cgroupfs.Remove(ctx, cg.group); err != nil {
		errs = append(errs, err)
	}
	cg.made = nil
	return errors.Join(errs...)
}
