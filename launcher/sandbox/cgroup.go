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
func (cg *cgroups) step(a plan.Action, initPid int) error {
	switch a := a.(type) {
	case *plan.CgroupMkdir:
		err := unix.Mkdir(a.Dir, 0o755)
		if errors.Is(err, unix.EEXIST) && !slices.Contains(cg.leaves, a.Dir) {
			return nil // a parent such as /sys/fs/cgroup/cell
		}
		if err != nil {
			return &os.PathError{Op: "mkdir", Path: a.Dir, Err: err}
		}
		cg.made = append(cg.made, a.Dir)
		return nil
	case *plan.CgroupWrite:
		return cgroupfs.Update([]cgroup.Write{{Dir: path.Dir(a.File), File: path.Base(a.File), Value: a.Value}})
	case *plan.CgroupJoin:
		return cgroupfs.Join(a.Dir, initPid)
	}
	return fmt.Errorf("%s is not a cgroup step", a.Op())
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
