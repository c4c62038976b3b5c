package launcher_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cellsandbox/cell/launcher"
)

// Example_cgroup operates on a running sandbox through its cgroups, as
// `cell update`, `cell freeze` and an OCI runtime's ps, pause, update
// and kill --all do from another process: all it takes is the plan's
// cgroups (a record keeps them) and, optionally, the host facts. It
// needs root, which makes cgroups; the sandbox's go under a parent of
// the example's own.
func Example_cgroup() {
	parent := fmt.Sprintf("cell-example-%d", os.Getpid())
	defer removeParent(parent)
	src, err := launcher.Open("default")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := launcher.Prepare(src, []string{"resources.parent=" + parent, "resources.pids.max=64"},
		launcher.Invocation{Args: []string{"sleep", "60"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := launcher.Start(p, launcher.Stdio{}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Wait()
	defer s.Kill()

	cg := launcher.CgroupOf(p.Plan.Cgroup, p.Facts)
	pids, err := cg.Procs()
	fmt.Println("init is in it:", slices.Contains(pids, s.Pid()), err)

	// Only the limits set are written; a limit the host or the
	// sandbox's cgroups cannot have is refused before anything is.
	writes, err := cg.Update(launcher.Limits{PidsMax: launcher.Num(7)})
	for _, w := range writes {
		fmt.Println("wrote", w.File, w.Value)
	}
	fmt.Println("update:", err)
	// A CPU weight is refused (out of range, or no cpu controller in
	// a sandbox that set no CPU limit), so pids.max stays 7.
	_, err = cg.Update(launcher.Limits{PidsMax: launcher.Num(8), CPUWeight: 20000})
	var refused *launcher.LimitError
	if errors.As(err, &refused) {
		fmt.Println("refused:", refused.Limit)
	}

	ctx := context.Background() // each wait is bounded by CgroupWait
	if err := cg.Freeze(ctx); err != nil {
		fmt.Println(err)
		return
	}
	frozen, err := cg.Frozen()
	fmt.Println("frozen:", frozen, err)
	if err := cg.Thaw(ctx); err != nil {
		fmt.Println(err)
		return
	}
	frozen, err = cg.Frozen()
	fmt.Println("frozen:", frozen, err)

	// Kill returns once the cgroups are empty: init too is gone, which
	// Wait reports as an init that ended without saying how the
	// command did.
	fmt.Println("kill:", cg.Kill(ctx))
	_, err = s.Wait()
	fmt.Println("wait:", err)
	_, err = cg.Procs()
	fmt.Println("procs:", errors.Is(err, os.ErrNotExist))
	// Output:
	// init is in it: true <nil>
	// wrote pids.max 7
	// update: <nil>
	// refused: cpuWeight
	// frozen: true <nil>
	// frozen: false <nil>
	// kill: <nil>
	// wait: sandbox init ended without a report: signal: killed
	// procs: true
}

// removeParent removes the example's cgroup parent from every hierarchy
// once the sandbox's own cgroups are gone.
func removeParent(parent string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent))
	for _, d := range append(dirs, filepath.Join("/sys/fs/cgroup", parent)) {
		_ = os.Remove(d)
	}
}
