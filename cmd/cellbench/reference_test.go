package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cellsandbox/cell/spec"
)

// TestRefProfile checks that the reference profile, with and without
// added binds, is a valid profile with bwrap's reference set: its
// namespaces, mounts in order, no seccomp, and the added binds last.
func TestRefProfile(t *testing.T) {
	for _, binds := range []int{0, 3} {
		t.Run(fmt.Sprint(binds), func(t *testing.T) {
			p, err := spec.Parse("reference.yaml", []byte(refProfile(binds, "/src")), spec.Options{Vars: spec.Vars{Home: "/root", User: "root", PWD: "/tmp"}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range p.Filesystem.Mounts {
				got = append(got, m.Type.String()+" "+m.Target)
			}
			want := []string{"bind /usr", "symlink /bin", "symlink /lib", "symlink /lib64", "symlink /sbin", "bind /etc", "tmpfs /tmp", "proc /proc", "dev /dev"}
			for i := range binds {
				want = append(want, fmt.Sprintf("bind /m/%d", i))
			}
			if !slices.Equal(got, want) {
				t.Errorf("mounts: got %v, want %v", got, want)
			}
			if p.Security.Seccomp.Mode.String() != "unconfined" {
				t.Errorf("seccomp mode %s, want unconfined", p.Security.Seccomp.Mode)
			}
			if p.Namespaces.Time.String() != "host" {
				t.Errorf("time namespace %s, want host: bwrap has none", p.Namespaces.Time)
			}
		})
	}
}

func TestRefBwrapArgs(t *testing.T) {
	got := strings.Join(refBwrapArgs("bwrap", 2, "/src", "/bin/true"), " ")
	want := "bwrap --unshare-user --unshare-pid --unshare-uts --unshare-ipc --unshare-net --unshare-cgroup " +
		"--ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin " +
		"--ro-bind /etc /etc --tmpfs /tmp --proc /proc --dev /dev --ro-bind /src /m/0 --ro-bind /src /m/1 --chdir / --die-with-parent /bin/true"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestParseCounts(t *testing.T) {
	got, err := parseCounts("binds", "0, 1,10")
	if err != nil || !slices.Equal(got, []int{0, 1, 10}) {
		t.Errorf("parseCounts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1,,2", "-1", "x"} {
		if _, err := parseCounts("binds", bad); err == nil {
			t.Errorf("parseCounts(%q) accepted", bad)
		}
	}
}

func TestParseFlagsModes(t *testing.T) {
	c, err := parseFlags([]string{"-growth", "-binds", "0,2", "-running", "1"}, &strings.Builder{})
	if err != nil || !c.growth || !slices.Equal(c.binds, []int{0, 2}) || !slices.Equal(c.running, []int{1}) {
		t.Errorf("growth flags: %+v, %v", c, err)
	}
	if c, err := parseFlags([]string{"-trace"}, &strings.Builder{}); err != nil || !c.trace {
		t.Errorf("trace flag: %+v, %v", c, err)
	}
	if _, err := parseFlags([]string{"-trace", "-growth"}, &strings.Builder{}); err == nil {
		t.Error("-trace with -growth accepted")
	}
}

// phaseLine is a phase record as cell run --trace --log-format json
// prints it.
func phaseLine(side, phase string, ns int64) string {
	return fmt.Sprintf(`{"time":"x","level":"INFO","msg":"phase","sandbox":"s","phase":%q,"side":%q,"at_us":0,"us":0,"ns":%d}`+"\n", phase, side, ns)
}

func TestSegments(t *testing.T) {
	trace := `{"level":"INFO","msg":"step","steps":"1-6","us":5}` + "\n" +
		phaseLine("cell", "start", 50) + phaseLine("cell", "runtime", 110) + phaseLine("cell", "main", 130) +
		phaseLine("cell", "clone", 200) + phaseLine("cell", "started", 260) +
		// init's arrive later, but happened between cell's.
		phaseLine("init", "runtime", 240) + phaseLine("init", "exec", 300) +
		phaseLine("cell", "wait", 400) + phaseLine("cell", "teardown", 420)
	got, err := segments([]byte(trace), 100, 450)
	if err != nil {
		t.Fatal(err)
	}
	want := []segment{{"cell runtime", 10}, {"cell main", 20}, {"cell clone", 70}, {"init runtime", 40}, {"cell started", 20},
		{"init exec", 40}, {"cell wait", 100}, {"cell teardown", 20}, {"cell exit", 30}}
	if !slices.Equal(got, want) {
		t.Errorf("segments:\ngot  %v\nwant %v", got, want)
	}
	if _, err := segments([]byte(phaseLine("cell", "main", 130)), 100, 200); err == nil {
		t.Error("a trace without cell's runtime stamp accepted")
	}
	if _, err := segments([]byte(`{"msg":"step"}`), 100, 200); err == nil {
		t.Error("a trace without phases accepted")
	}
}

func TestCostOf(t *testing.T) {
	runs := [][]segment{
		{{"cell runtime", 2e6}, {"cell main", 6e6}, {"cell exit", 2e6}},
		{{"cell runtime", 4e6}, {"cell main", 4e6}, {"cell exit", 2e6}},
		{{"cell runtime", 3e6}, {"cell main", 5e6}, {"cell exit", 4e6}},
	}
	c := costOf("cell run", []string{"cell", "run"}, runs)
	if c.TotalMS != 10 {
		t.Errorf("total %v ms, want 10", c.TotalMS)
	}
	var names []string
	for _, r := range c.Rows {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"cell runtime", "cell main", "cell exit"}) {
		t.Errorf("rows in order %v, want the order of the phases", names)
	}
	if r := c.Rows[1]; r.MedianMS != 5 || r.Share != 0.5 || r.MeanMS != 5 {
		t.Errorf("cell main: %+v, want median 5 ms, share 0.5, mean 5 ms", r)
	}
	var shares float64
	for _, r := range c.Rows {
		shares += r.MeanShare
	}
	if c.MeanTotalMS != 32.0/3 || shares < 0.999 || shares > 1.001 {
		t.Errorf("mean total %v ms, shares of means %v; want 10.67 ms and 1", c.MeanTotalMS, shares)
	}
	for _, r := range c.Rows {
		if phaseDescriptions[r.Name] == "" {
			t.Errorf("phase %s has no description", r.Name)
		}
	}
}

// TestOnceCPU checks that a launch's CPU time covers its whole tree: a
// shell that leaves a busy orphan behind and exits at once is charged
// the orphan's time, which cellbench reaps.
func TestOnceCPU(t *testing.T) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	if err := subreap(); err != nil {
		t.Fatal(err)
	}
	r := runner{dir: t.TempDir(), stdio: devnull}
	busy := "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"
	s, err := r.once(context.Background(), launcher{name: "sh", argv: []string{"/bin/sh", "-c", "(" + busy + ") & exit 0"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.orphans != 1 {
		t.Fatalf("%d orphans, want the busy subshell", s.orphans)
	}
	// The loop takes tens of ms of CPU on any machine; the shell alone
	// about a millisecond.
	if s.cpu < 10*time.Millisecond {
		t.Errorf("CPU %v, want the orphan's loop counted (≥ 10 ms)", s.cpu)
	}
}

// TestPhaseDescriptions checks that every phase cell run --trace prints
// (see cmd/cell's TestTraceLife) has a description in the cost table.
func TestPhaseDescriptions(t *testing.T) {
	for _, p := range []string{"cell runtime", "cell main", "cell flags", "cell probe", "cell parse", "cell validate", "cell compile",
		"cell record", "cell parent-steps", "cell clone", "cell started", "cell wait", "cell teardown", lastSegment,
		"init runtime", "init main", "init plan", "init steps", "init exec"} {
		if phaseDescriptions[p] == "" {
			t.Errorf("phase %q has no description", p)
		}
	}
}
