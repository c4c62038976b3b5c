package compile

import (
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/plan"
)

// cgroupLeaf is one of the sandbox's cgroup directories and the name a
// cgroup mount shows it under: its hierarchy's mount point's (memory,
// "cpu,cpuacct", unified).
type cgroupLeaf struct{ name, dir string }

// cgroupLeaves returns the sandbox's cgroup directories, the unified
// leaf first, then the v1 ones in the order the plan lists them.
func (c *compiler) cgroupLeaves() []cgroupLeaf {
	g, l := c.group, c.host.Cgroup
	var out []cgroupLeaf
	if g == nil || l == nil {
		return nil
	}
	if g.Unified != "" {
		out = append(out, cgroupLeaf{path.Base(l.Unified), g.Unified})
	}
	for _, d := range g.Dirs() {
		if d == g.Unified {
			continue
		}
		name := ""
		for ctl, mnt := range l.V1 {
			if g.V1[ctl] == d {
				name = path.Base(mnt)
				break
			}
		}
		if name != "" {
			out = append(out, cgroupLeaf{name, d})
		}
	}
	return out
}

// cgroupMount shows the sandbox's own cgroups at target, read-only, the
// way OCI runtimes lay out /sys/fs/cgroup: binds of its leaves, never a
// fresh cgroup file system (the whole hierarchy without a cgroup
// namespace; and v1 hierarchies cannot be mounted from a user
// namespace). On a cgroup v2 host the unified leaf is the target; where
// v1 hierarchies are mounted, a tmpfs holds each leaf at TARGET/NAME.
// Read-only because a sandbox that could write its own leaf's files
// could raise its own limits. A sandbox without limits has no cgroup of
// its own (it stays in the caller's, which is not shown): an empty
// read-only tmpfs then, as for a rootless container without cgroups.
func (c *compiler) cgroupMount(at, target string) {
	const attr = attrSafe | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_RDONLY
	leaves := c.cgroupLeaves()
	if len(leaves) == 0 {
		c.add(at, plan.Init, &plan.MountFS{Root: c.root, FSType: "tmpfs", Source: "cgroup", Target: target, Options: []string{"mode=0755", "size=4k"}, Attr: attr})
		return
	}
	if len(c.host.Cgroup.V1) == 0 && len(leaves) == 1 {
		c.add(at, plan.Init, &plan.Bind{SourceRoot: c.src, Source: leaves[0].dir, Root: c.root, Target: target, Attr: attr, NoSymlinks: true})
		return
	}
	c.add(at, plan.Init, &plan.MountFS{Root: c.root, FSType: "tmpfs", Source: "cgroup", Target: target, Options: []string{"mode=0755", "size=64k"}, Attr: attrSafe | unix.MOUNT_ATTR_NOEXEC})
	slices.SortStableFunc(leaves, func(a, b cgroupLeaf) int { return strings.Compare(a.name, b.name) })
	for _, l := range leaves {
		c.add(at, plan.Init, &plan.Bind{SourceRoot: c.src, Source: l.dir, Root: c.root, Target: path.Join(target, l.name), Attr: attr, NoSymlinks: true})
	}
	// The tmpfs itself goes read-only once "/" is the new root (its mount
	// points are made by then), with the root's own attributes.
	c.readOnlyAfterPivot = append(c.readOnlyAfterPivot, plan.Step{Side: plan.Init, Pos: c.pos(at), Do: &plan.Setattr{Target: target, Attr: unix.MOUNT_ATTR_RDONLY}})
}
