package launcher

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/internal/cgroup/cgroupfs"
	"github.com/cellsandbox/cell/internal/host/probe"
	"github.com/cellsandbox/cell/launcher/plan"
)

// A running sandbox's cgroups are named by its plan (plan.Plan.Cgroup,
// which a state record and an OCI runtime's record keep), so any
// process that has the plan operates on them, not only the one that
// started the sandbox: `cell update`, `cell freeze`, `cell ps`, and
// cell-oci's ps, pause, resume, update and kill --all each run in a
// process of their own. Cgroup is that one implementation.

// CgroupWait bounds how long Cgroup's Freeze, Thaw and Kill wait for the
// kernel when their context has no deadline of its own.
const CgroupWait = 10 * time.Second

// ErrNoCgroup is what a Cgroup without directories answers: the
// sandbox's profile set no limit, so it has no cgroup of its own.
var ErrNoCgroup = errors.New("the sandbox has no cgroup: its profile sets no limit")

// Cgroup operates on the cgroups of a running sandbox: it lists,
// freezes, thaws and kills its processes, changes its limits and reads
// its counters. It holds no descriptor: each call reads or writes the
// cgroup files anew. Make one with CgroupOf.
type Cgroup struct {
	g     *plan.Cgroup
	facts *Facts
}

// CgroupOf returns the Cgroup of the sandbox whose plan's cgroups are g
// (plan.Plan.Cgroup, nil for a sandbox without limits, whose Cgroup
// answers ErrNoCgroup). facts are the host facts the plan was compiled
// for (Prepared.Facts); nil, or facts without the cgroup layout, makes
// Update probe the layout when it needs it.
func CgroupOf(g *plan.Cgroup, facts *Facts) *Cgroup {
	return &Cgroup{g: g, facts: facts}
}

// String names the cgroup's directories, comma-separated ("no cgroup"
// without any), as errors about them do.
func (c *Cgroup) String() string {
	if c.g == nil || len(c.g.Dirs()) == 0 {
		return "no cgroup"
	}
	return strings.Join(c.g.Dirs(), ", ")
}

// group returns the sandbox's cgroups, or ErrNoCgroup.
func (c *Cgroup) group() (*plan.Cgroup, error) {
	if c.g == nil || len(c.g.Dirs()) == 0 {
		return nil, ErrNoCgroup
	}
	return c.g, nil
}

// bounded gives ctx the deadline CgroupWait when it has none: the
// kernel's notifications that Freeze, Thaw and Kill wait for never come
// for a group that cannot settle (a task in uninterruptible sleep).
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, CgroupWait)
}

// Procs returns the host pids of the sandbox's processes, the union of
// its cgroups' cgroup.procs, sorted (nil when they hold none).
func (c *Cgroup) Procs() ([]int, error) {
	g, err := c.group()
	if err != nil {
		return nil, err
	}
	return cgroupfs.Procs(g)
}

// Freeze stops every process of the sandbox and returns once they are
// all stopped: cgroup.freeze with a unified leaf (Linux 5.2), else the
// v1 freezer. A sandbox with neither is refused. It waits until ctx
// ends, or CgroupWait without a deadline.
func (c *Cgroup) Freeze(ctx context.Context) error {
	g, err := c.group()
	if err != nil {
		return err
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	return cgroupfs.Freeze(ctx, g)
}

// Thaw lets the processes of a frozen sandbox run again and returns once
// the kernel says they do, waiting as Freeze does.
func (c *Cgroup) Thaw(ctx context.Context) error {
	g, err := c.group()
	if err != nil {
		return err
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	return cgroupfs.Thaw(ctx, g)
}

// Frozen reports whether the sandbox is frozen or being frozen: its
// processes cannot run until it is thawed. A sandbox without a freezer
// is never frozen.
func (c *Cgroup) Frozen() (bool, error) {
	g, err := c.group()
	if err != nil {
		return false, err
	}
	return cgroupfs.Frozen(g)
}

// Kill sends SIGKILL to every process of the sandbox, forks in flight
// included (cgroup.kill, Linux 5.14; before it, and on v1, a loop of
// kill(2) under the freezer), and returns once its cgroups hold none:
// what an OCI runtime's `kill --all KILL` does. It waits until ctx ends,
// or CgroupWait without a deadline, then fails naming what it waited
// for. A cgroup already removed holds nothing.
func (c *Cgroup) Kill(ctx context.Context) error {
	g, err := c.group()
	if err != nil {
		return err
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	return cgroupfs.Kill(ctx, g)
}

// Update sets lim on the running sandbox and returns the writes it made,
// in order. Only the limits that lim sets are written; to lift one, set
// it to Max. The writes are computed for the host's cgroup layout before
// any is made, and nothing is written when one limit cannot be had: a
// limit whose controller the sandbox's cgroups lack (they got their
// controllers when they were made), a device rule on cgroup v2 (a BPF
// program that is not replaced), a value out of the kernel's range, or a
// v1 host without the limit's file are *LimitError-s, joined. A write
// that the kernel refuses is a *CgroupError; the writes before it stay.
// A lim that sets nothing writes nothing and returns no writes.
func (c *Cgroup) Update(lim Limits) ([]CgroupWrite, error) {
	g, err := c.group()
	if err != nil {
		return nil, err
	}
	layout, err := c.layout()
	if err != nil {
		return nil, err
	}
	ws, err := cgroup.Limit(layout, g, lim)
	if err != nil {
		return nil, err
	}
	if err := cgroupfs.Update(ws); err != nil {
		return nil, err
	}
	return ws, nil
}

// layout is the host's cgroup layout: the facts', else probed now.
func (c *Cgroup) layout() (*cgroup.Layout, error) {
	if c.facts != nil && c.facts.Cgroup != nil {
		return c.facts.Cgroup, nil
	}
	f := &Facts{}
	if err := probe.Cgroup(f); err != nil {
		return nil, err
	}
	return f.Cgroup, nil
}

// Stats reads what the sandbox's cgroups have counted so far: peak
// memory, OOM kills, peak tasks, refused forks, CPU time. A counter the
// host does not keep is nil.
func (c *Cgroup) Stats() (*CgroupStats, error) {
	g, err := c.group()
	if err != nil {
		return nil, err
	}
	return cgroupfs.ReadStats(g)
}

// Num returns the limit n, in bytes or tasks, for a field of Limits.
func Num(n uint64) *LimitValue { return cgroup.Num(n) }

// Max returns "no limit" for a field of Limits: Update lifts the limit.
func Max() *LimitValue { return cgroup.Max() }

// CPUs returns the CPU limit of millis thousandths of a CPU over the
// kernel's default period (CPUs(1500) is one and a half CPUs) for
// Limits.CPUMax; CPUs(0) is no limit.
func CPUs(millis uint64) *CPULimit { return cgroup.CPUs(millis) }
