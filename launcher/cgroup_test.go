package launcher_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/internal/testenv"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/launcher/plan"
)

// TestCgroupWithout: a sandbox without cgroups (its profile sets no
// limit) answers ErrNoCgroup to every operation, rather than a success
// that did nothing.
func TestCgroupWithout(t *testing.T) {
	ctx := context.Background()
	for _, g := range []*plan.Cgroup{nil, {}} {
		cg := launcher.CgroupOf(g, nil)
		if got := cg.String(); got != "no cgroup" {
			t.Errorf("String() = %q", got)
		}
		_, procs := cg.Procs()
		_, frozen := cg.Frozen()
		_, update := cg.Update(launcher.Limits{PidsMax: launcher.Num(1)})
		_, stats := cg.Stats()
		for name, err := range map[string]error{
			"Procs": procs, "Freeze": cg.Freeze(ctx), "Thaw": cg.Thaw(ctx), "Frozen": frozen,
			"Kill": cg.Kill(ctx), "Update": update, "Stats": stats,
		} {
			if !errors.Is(err, launcher.ErrNoCgroup) {
				t.Errorf("%v: %s() = %v, want ErrNoCgroup", g, name, err)
			}
		}
	}
	g := &plan.Cgroup{Unified: "/sys/fs/cgroup/unified/cell/x", V1: map[string]string{"pids": "/sys/fs/cgroup/pids/cell/x"}}
	if got, want := launcher.CgroupOf(g, nil).String(), "/sys/fs/cgroup/unified/cell/x, /sys/fs/cgroup/pids/cell/x"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestCgroupUpdateRefusesBeforeWriting: a limit that the sandbox's
// cgroups or the host cannot have is refused before anything is written
// (the directories here do not exist: a write would fail with ENOENT,
// a *CgroupError, instead).
func TestCgroupUpdateRefusesBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	g := &plan.Cgroup{V1: map[string]string{"pids": filepath.Join(dir, "pids"), "memory": filepath.Join(dir, "memory")}}
	facts := &launcher.Facts{Cgroup: &cgroup.Layout{V1: map[string]string{"pids": dir, "memory": dir}}}
	for _, tc := range []struct {
		lim  launcher.Limits
		want string
	}{
		{launcher.Limits{PidsMax: launcher.Num(7), CPUMax: launcher.CPUs(500)},
			"cpuMax: the sandbox's cgroup has no cpu controller (it gets its controllers when it is made)"},
		{launcher.Limits{PidsMax: launcher.Num(7), MemoryHigh: launcher.Num(1 << 20)},
			"memoryHigh: cgroup v1 has no memory.high (its soft limit only acts under global memory pressure and does not throttle); use memoryMax, or cgroup v2"},
	} {
		ws, err := launcher.CgroupOf(g, facts).Update(tc.lim)
		var le *launcher.LimitError
		if !errors.As(err, &le) || err.Error() != tc.want || ws != nil {
			t.Errorf("Update(%s) = %v, %v; want no writes and the *LimitError %q", tc.lim, ws, err, tc.want)
		}
	}
}

// TestCgroupUpdate: Update on a running sandbox makes exactly the
// writes that internal/cgroup's Limit reports for its cgroups on this
// host, or refuses with the same error, and the kernel then holds the
// values written.
func TestCgroupUpdate(t *testing.T) {
	testenv.Root(t)
	parent := fmt.Sprintf("cell-test-update-%d", os.Getpid())
	t.Cleanup(func() {
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent))
		for _, d := range append(dirs, filepath.Join("/sys/fs/cgroup", parent)) {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("remove the test's parent: %v", err)
			}
		}
	})
	src, err := launcher.Open("default")
	if err != nil {
		t.Fatal(err)
	}
	p, err := launcher.Prepare(src, []string{"resources.parent=" + parent, "resources.pids.max=64", "resources.memory.max=512Mi"},
		launcher.Invocation{Args: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := launcher.Start(p, launcher.Stdio{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Kill()
		_, _ = s.Wait()
	})
	layout := p.Facts.Cgroup
	if layout == nil {
		t.Fatal("Prepare did not probe the cgroup layout of a profile with limits")
	}
	for _, tc := range []struct {
		name string
		lim  launcher.Limits
	}{
		{"pids", launcher.Limits{PidsMax: launcher.Num(7)}},
		{"pids max", launcher.Limits{PidsMax: launcher.Max()}},
		{"memory", launcher.Limits{MemoryMax: launcher.Num(256 << 20)}},
		{"memory and swap", launcher.Limits{MemoryMax: launcher.Num(128 << 20), SwapMax: launcher.Num(64 << 20)}},
		{"memory high", launcher.Limits{MemoryHigh: launcher.Num(100 << 20)}},
		{"cpu", launcher.Limits{CPUMax: launcher.CPUs(500)}},
		{"nothing", launcher.Limits{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := cgroup.Limit(layout, p.Plan.Cgroup, tc.lim)
			// With the facts, and without (probed anew).
			for _, facts := range []*launcher.Facts{p.Facts, nil} {
				got, err := launcher.CgroupOf(p.Plan.Cgroup, facts).Update(tc.lim)
				if fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Fatalf("Update: %v, want the error %v", err, wantErr)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("writes (-want +got):\n%s", diff)
				}
			}
			last := map[string]string{} // a file may be written twice
			for _, w := range want {
				last[w.Path()] = w.Value
			}
			for file, value := range last {
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				// v1 reads "no limit" (-1) back as its largest
				// page-aligned number.
				if got := strings.TrimSpace(string(b)); got != value && !(value == "-1" && got == "9223372036854771712") {
					t.Errorf("%s holds %q after writing %q", file, got, value)
				}
			}
		})
	}
}
