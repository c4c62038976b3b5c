package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/cgroup/cgroupfs"
	"github.com/cellsandbox/cell/internal/ids"
	"github.com/cellsandbox/cell/internal/ids/slots"
	"github.com/cellsandbox/cell/internal/network/lease"
	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/spec"
)

func openStore() (*state.Store, error) {
	dir, err := stateDir()
	if err != nil {
		return nil, err
	}
	return state.Open(dir)
}

// stateDir is state.Dir for this process; where a user has no
// XDG_RUNTIME_DIR, it says once where the state goes instead.
func stateDir() (string, error) {
	dir, err := state.Dir(os.Geteuid(), os.Getenv("XDG_RUNTIME_DIR"))
	if err == nil && dir == state.FallbackDir(os.Geteuid()) {
		fallbackNotice()
	}
	return dir, err
}

var fallbackNotice = sync.OnceFunc(func() {
	fmt.Fprintf(os.Stderr, "cell: notice: XDG_RUNTIME_DIR is not set; the state of your sandboxes is kept in %s\n", state.FallbackDir(os.Geteuid()))
})

// writeStats writes s to path ("-" is stderr).
func writeStats(path string, s *sandbox.Stats) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = os.Stderr.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("--stats: %w", err)
	}
	return nil
}

// explainLimits says in plain words which limit the command ran into; p
// is nil where the profile is not known (a pool's client).
func explainLimits(w io.Writer, p *spec.Profile, s *sandbox.Stats) {
	if s.OOMKills != nil && *s.OOMKills > 0 {
		limit := "the memory limit"
		if p != nil && p.Resources.Memory.Max != nil {
			limit = "memory.max " + p.Resources.Memory.Max.String()
		}
		fmt.Fprintf(w, "cell: killed: %s reached (the OOM killer ended %d process(es))\n", limit, *s.OOMKills)
	}
	if s.PidsMaxHits != nil && *s.PidsMaxHits > 0 {
		limit := "the task limit"
		if p != nil && p.Resources.Pids.Max != nil {
			limit = "pids.max " + p.Resources.Pids.Max.String()
		}
		fmt.Fprintf(w, "cell: %s reached: %d fork(s) failed with EAGAIN\n", limit, *s.PidsMaxHits)
	}
}

// lookupRunning finds a running sandbox's record.
func lookupRunning(name string) (*state.Record, error) {
	r, err := liveRecord(name, (*state.Record).Alive)
	if err != nil {
		return nil, err
	}
	if r.Cgroup == nil {
		return nil, fmt.Errorf("sandbox %q has no cgroup: its profile sets no limit", name)
	}
	return r, nil
}

func controlCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "update",
			Usage:     "change the limits of a running sandbox",
			ArgsUsage: "NAME",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "memory-max", Usage: "memory.max: a size such as 256Mi, or max"},
				&cli.StringFlag{Name: "memory-high", Usage: "memory.high: a size or max"},
				&cli.StringFlag{Name: "swap-max", Usage: "swap limit: a size or max"},
				&cli.StringFlag{Name: "cpu-max", Usage: "CPUs, such as 0.5, or max"},
				&cli.Uint64Flag{Name: "cpu-weight", Usage: "CPU weight, 1 to 10000"},
				&cli.StringFlag{Name: "pids-max", Usage: "most tasks, or max"},
			},
			Action: update,
		},
		{
			Name: "freeze", Usage: "stop every process of a running sandbox", ArgsUsage: "NAME",
			Action: func(c *cli.Context) error { return freeze(c, true) },
		},
		{
			Name: "thaw", Usage: "resume a frozen sandbox", ArgsUsage: "NAME",
			Action: func(c *cli.Context) error { return freeze(c, false) },
		},
		doctorCommand(),
		{
			Name:   "gc",
			Usage:  "remove the records and cgroups of sandboxes whose cell was killed",
			Action: gc,
		},
	}
}

func oneName(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", usageError(fmt.Sprintf("%s: name one sandbox", c.Command.Name))
	}
	return c.Args().First(), nil
}

// parseLimit reads a --flag value in the profile's syntax.
func parseLimit(flag, v string) (*launcher.LimitValue, error) {
	if v == "max" {
		return launcher.Max(), nil
	}
	n, err := spec.ParseSize(v)
	if err != nil {
		return nil, usageError(fmt.Sprintf("--%s: %v", flag, err))
	}
	return launcher.Num(uint64(n)), nil
}

func update(c *cli.Context) error {
	name, err := oneName(c)
	if err != nil {
		return err
	}
	var lim launcher.Limits
	for _, f := range []struct {
		flag string
		dst  **launcher.LimitValue
	}{{"memory-max", &lim.MemoryMax}, {"memory-high", &lim.MemoryHigh}, {"swap-max", &lim.SwapMax}, {"pids-max", &lim.PidsMax}} {
		if c.IsSet(f.flag) {
			if *f.dst, err = parseLimit(f.flag, c.String(f.flag)); err != nil {
				return err
			}
		}
	}
	if c.IsSet("cpu-max") {
		cpus, err := spec.ParseCPUs(c.String("cpu-max"))
		if err != nil {
			return usageError(fmt.Sprintf("--cpu-max: %v", err))
		}
		lim.CPUMax = launcher.CPUs(cpus.Millis)
	}
	lim.CPUWeight = c.Uint64("cpu-weight")
	r, err := lookupRunning(name)
	if err != nil {
		return err
	}
	writes, err := launcher.CgroupOf(r.Cgroup, nil).Update(lim)
	if err != nil {
		return explainUpdate(err)
	}
	if len(writes) == 0 {
		return usageError("update: give at least one limit to change")
	}
	for _, w := range writes {
		fmt.Fprintln(c.App.Writer, w)
	}
	return nil
}

func freeze(c *cli.Context, on bool) error {
	name, err := oneName(c)
	if err != nil {
		return err
	}
	r, err := lookupRunning(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if on {
		return launcher.CgroupOf(r.Cgroup, nil).Freeze(ctx)
	}
	return launcher.CgroupOf(r.Cgroup, nil).Thaw(ctx)
}

// gc removes what a cell that could not clean up (SIGKILL, a crash, a
// reboot of the host's cell but not its cgroups) left behind.
func gc(c *cli.Context) error {
	st, err := openStore()
	if err != nil {
		return err
	}
	// A record that cannot be read is named, not removed: its cgroup is
	// unknown, and a person should look before it goes. The others are
	// collected all the same.
	records, err := st.List()
	warnDamaged(c.App.ErrWriter, warnForeign(c.App.ErrWriter, err))
	var errs []error
	for _, t := range st.RemoveStaleTemps() {
		fmt.Fprintf(c.App.Writer, "removed %s\n", t)
	}
	for _, r := range records {
		// A sandbox being started has a record before its init (Pid 0):
		// its cell is alive, and its cgroup is not garbage.
		if r.Alive() || r.CellAlive() {
			continue
		}
		if r.Cgroup != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := errors.Join(cgroupfs.Kill(ctx, r.Cgroup), cgroupfs.Remove(ctx, r.Cgroup))
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("sandbox %s: %w", r.Name, err))
				continue
			}
		}
		if err := st.Delete(r.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(c.App.Writer, "removed %s\n", r.Name)
	}
	orphans, err := st.RemoveOrphans()
	for _, p := range orphans {
		fmt.Fprintf(c.App.Writer, "removed %s\n", p)
	}
	if err != nil {
		errs = append(errs, err)
	}
	if os.Geteuid() == 0 {
		// Bridged sandboxes are root's; their leases name what they left
		// on the host (rules, a veth) when they died before cleanup.
		_, err := lease.Sweep(func(bridge string, h lease.Holder) error {
			if err := sandbox.Reclaim(h.Owner); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "removed lease %s of %s on %s\n", h.Addr, h.Owner, bridge)
			return nil
		})
		errs = append(errs, err)
		// The ID slots of killed cells (outside: pick), once no process
		// runs with their IDs.
		n, err := slots.Sweep(ids.LeaseFile)
		if n > 0 {
			fmt.Fprintf(c.App.Writer, "removed %d ID lease(s) of dead sandboxes\n", n)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// usageFiles names, for each memory limit file, the file of the usage it
// limits.
var usageFiles = map[string]string{
	"memory.max":                  "memory.current",
	"memory.swap.max":             "memory.swap.current",
	"memory.limit_in_bytes":       "memory.usage_in_bytes",
	"memory.memsw.limit_in_bytes": "memory.memsw.usage_in_bytes",
}

// explainUpdate says why the kernel refused a memory limit with EBUSY: a
// cgroup v1 limit below the current usage makes the kernel reclaim the
// difference, and when it cannot (tmpfs or anonymous memory without
// swap, locked pages) the write fails rather than kill anything. (v2
// takes the limit and reclaims, then OOM-kills.)
func explainUpdate(err error) error {
	var ce *launcher.CgroupError
	if !errors.As(err, &ce) || ce.Op != "write" || !errors.Is(ce.Err, unix.EBUSY) {
		return err
	}
	usage, ok := usageFiles[filepath.Base(ce.Path)]
	if !ok {
		return err
	}
	b, rerr := os.ReadFile(filepath.Join(filepath.Dir(ce.Path), usage))
	used, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	limit, lerr := strconv.ParseUint(ce.Value, 10, 64)
	if rerr != nil || perr != nil || lerr != nil {
		return err
	}
	return &hinted{
		err: fmt.Errorf("update: the sandbox uses %s of memory now, more than the new limit of %s, and the kernel could not reclaim the difference, so it refused to set %s (EBUSY)",
			mib(used), mib(limit), ce.Path),
		hint: fmt.Sprintf("give a limit above %s, or free memory in the sandbox first (files in its tmpfs count, and cannot be reclaimed without swap)", mib(used)),
	}
}

// mib prints n bytes in MiB.
func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
