package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/internal/cgroup/cgroupfs"
	"github.com/cellsandbox/cell/internal/cgroup/devfilter"
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
	case *plan.CgroupDevices:
		return devfilter.Attach(a.Dir, a.Allow)
	case *plan.CgroupJoin:
		return cgroupfs.Join(a.Dir, initPid)
	}
	return fmt.Errorf("%s is not a cgroup step", a.Op())
}

// closeCloneFD closes the descriptor init was cloned into, if still open.
func (cg *cgroups) closeCloneFD() {
	if cg.cloneFD != nil {
		cg.cloneFD.Close()
		cg.cloneFD = nil
	}
}

// kill runs a cgroup-kill step: every process left in dir, one of the
// sandbox's leaves, is killed (cgroupfs.Kill of the part of the group in
// dir: cgroup.kill on the unified leaf; on a v1 leaf, SIGKILL under the
// v1 freezer when the group has no unified leaf). A leaf that cell did
// not make (it failed before) holds nothing of the sandbox's.
func (cg *cgroups) kill(ctx context.Context, dir string) error {
	if cg.group == nil || !slices.Contains(cg.made, dir) {
		return nil
	}
	g := cg.group
	part := &cgroup.Group{}
	if dir == g.Unified {
		part.Unified, part.Controllers = dir, g.Controllers
	} else {
		part.V1 = map[string]string{}
		for c, d := range g.V1 {
			if d == dir || c == "freezer" && g.Unified == "" {
				part.V1[c] = d
			}
		}
	}
	return cgroupfs.Kill(ctx, part)
}

// remove runs a cgroup-remove step: dir, a leaf cell made, is removed
// (retried while its last processes exit). Parents (such as
// /sys/fs/cgroup/cell) are not the plan's to remove: another sandbox may
// be making its cgroup there.
func (cg *cgroups) remove(ctx context.Context, dir string) error {
	if !slices.Contains(cg.made, dir) {
		return nil
	}
	cg.made = slices.DeleteFunc(cg.made, func(d string) bool { return d == dir })
	return cgroupfs.Remove(ctx, &cgroup.Group{Unified: dir})
}
