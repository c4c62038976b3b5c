package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/internal/testenv"
)

// cgroupParent makes a test's own cgroup parent name and registers the
// removal of that parent in every hierarchy, and a check that no cgroup
// of a sandbox is left under it.
func cgroupParent(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("cell-test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	t.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + name)
		if d := "/sys/fs/cgroup/" + name; dirExists(d) {
			dirs = append(dirs, d)
		}
		for _, d := range dirs {
			left, _ := filepath.Glob(d + "/*/cgroup.procs")
			if len(left) > 0 {
				t.Errorf("cgroups left behind: %v", left)
				for _, l := range left {
					syscall.Rmdir(filepath.Dir(l))
				}
			}
			if err := syscall.Rmdir(d); err != nil {
				t.Errorf("remove the test's cgroup parent %s: %v", d, err)
			}
		}
	})
	return name
}

// sweepStaleParents removes the cgroup parents that an earlier run of
// these tests left when it was killed or timed out before its cleanups
// ran: cell-test-PID-N with PID no longer alive, and the empty sandbox
// cgroups under them. Nothing else is touched.
func sweepStaleParents() {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/cell-test-*-*")
	top, _ := filepath.Glob("/sys/fs/cgroup/cell-test-*-*")
	for _, d := range append(dirs, top...) {
		f := strings.Split(filepath.Base(d), "-")
		if len(f) != 4 {
			continue
		}
		if pid, err := strconv.Atoi(f[2]); err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		leaves, _ := filepath.Glob(d + "/*/cgroup.procs")
		for _, l := range leaves {
			syscall.Rmdir(filepath.Dir(l))
		}
		syscall.Rmdir(d)
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// statsOf runs a sandbox with --stats and returns the result and stats.
func statsOf(t *testing.T, prof string, sets []string, command ...string) (cellResult, sandbox.Stats) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "stats.json")
	args := []string{"run", "-p", prof, "--stats", file}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	r := cell(t, append(append(args, "--"), command...)...)
	var s sandbox.Stats
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no stats file: %v\n%s", err, r)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("stats: %v\n%s", err, b)
	}
	return r, s
}

func TestMemoryLimit(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	r, s := statsOf(t, profile(t, ""), []string{"resources.parent=" + parent, "resources.memory={max: 32Mi, swap: 0}"},
		"sh", "-c", "x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done")
	if r.code != 137 || !strings.Contains(r.stderr, "cell: killed: memory.max 32Mi reached") {
		t.Errorf("memory hog: want exit 137 and the OOM explained; got %s", r)
	}
	if s.OOMKills == nil || *s.OOMKills < 1 || s.Signal != "SIGKILL" || s.Source != "cgroup" {
		t.Errorf("stats: %+v", s)
	}
	if s.MemoryPeakBytes == nil || *s.MemoryPeakBytes > 40<<20 || *s.MemoryPeakBytes < 16<<20 {
		t.Errorf("peak memory %v, want about 32 MiB", s.MemoryPeakBytes)
	}
}

func TestPidsLimit(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	// A fork bomb: the forks past the limit fail (dash may give up then,
	// hence any exit status), the tasks never exceed it.
	r, s := statsOf(t, profile(t, ""), []string{"resources.parent=" + parent, "resources.pids.max=16"},
		"sh", "-c", "i=0; while [ $i -lt 40 ]; do sleep 3 & i=$((i+1)); done 2>/dev/null; exit 0")
	if s.PidsMaxHits == nil || *s.PidsMaxHits == 0 || !strings.Contains(r.stderr, "pids.max 16 reached") {
		t.Errorf("stats %+v, stderr %q", s, r.stderr)
	}
	if s.PidsPeak != nil && *s.PidsPeak > 16 {
		t.Errorf("pids peak %d above pids.max 16", *s.PidsPeak)
	}
}

func TestCPULimit(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	_, s := statsOf(t, profile(t, ""), []string{"resources.parent=" + parent, "resources.cpu.max=0.5"},
		"timeout", "1.5", "sh", "-c", "while :; do :; done")
	if s.CPUUserUs == nil || s.CPUSystemUs == nil {
		t.Fatalf("no CPU time in %+v", s)
	}
	used := float64(*s.CPUUserUs+*s.CPUSystemUs) / float64(s.WallTimeUs)
	// The cgroup's own accounting over the sandbox's wall time; generous,
	// since the wall time includes setup and the machine may be loaded.
	if used < 0.25 || used > 0.7 {
		t.Errorf("a CPU hog under cpu.max 0.5 used %.2f CPUs (%+v)", used, s)
	}
}

// startNamed starts a named sandbox that prints "ready" and sleeps.
func startNamed(t *testing.T, name string, sets ...string) (kill func()) {
	t.Helper()
	args := []string{"run", "-p", profile(t, ""), "--name", name}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	cmd := cellCmd(t, append(args, "--", "sh", "-c", "echo ready; exec sleep 60")...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill = func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }
	t.Cleanup(kill)
	if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("sandbox %s did not start", name)
	}
	return kill
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestUpdateFreezeThaw(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	name := fmt.Sprintf("t-%d", time.Now().UnixNano()%1e9)
	startNamed(t, name, "resources.parent="+parent, "resources.pids.max=64")
	pids := "/sys/fs/cgroup/pids/" + parent + "/" + name
	if !dirExists(pids) {
		pids = "/sys/fs/cgroup/" + parent + "/" + name
	}
	if got := readTrim(t, pids+"/pids.max"); got != "64" {
		t.Fatalf("pids.max %s", got)
	}
	if r := cell(t, "update", "--pids-max", "7", name); r.code != 0 {
		t.Fatalf("update: %s", r)
	}
	if got := readTrim(t, pids+"/pids.max"); got != "7" {
		t.Errorf("pids.max after update: %s", got)
	}
	events := "/sys/fs/cgroup/unified/" + parent + "/" + name + "/cgroup.events"
	if !dirExists(filepath.Dir(events)) {
		events = "/sys/fs/cgroup/" + parent + "/" + name + "/cgroup.events"
	}
	if r := cell(t, "freeze", name); r.code != 0 {
		t.Fatalf("freeze: %s", r)
	}
	if got := readTrim(t, events); !strings.Contains(got, "frozen 1") {
		t.Errorf("after freeze: %q", got)
	}
	if r := cell(t, "thaw", name); r.code != 0 {
		t.Fatalf("thaw: %s", r)
	}
	if got := readTrim(t, events); !strings.Contains(got, "frozen 0") {
		t.Errorf("after thaw: %q", got)
	}
	if r := cell(t, "update", "--pids-max", "7", "no-such-sandbox"); r.code == 0 || !strings.Contains(r.stderr, `no sandbox named "no-such-sandbox"`) {
		t.Errorf("update of a missing sandbox: %s", r)
	}
}

// TestGCAfterSIGKILL kills cell so it cannot clean up, then checks that
// cell gc removes the cgroup and the record it left.
func TestGCAfterSIGKILL(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	name := fmt.Sprintf("t-%d", time.Now().UnixNano()%1e9)
	args := []string{"run", "-p", profile(t, ""), "--name", name, "--set", "resources.parent=" + parent, "--set", "resources.pids.max=64", "--", "sh", "-c", "echo ready; exec sleep 60"}
	cmd := cellCmd(t, args...)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "ready" {
		t.Fatal("sandbox did not start")
	}
	cmd.Process.Kill()
	cmd.Wait()
	leaves := sandboxCgroups(parent, name)
	if len(leaves) == 0 {
		t.Fatal("the killed cell left no cgroup: nothing for gc to do")
	}
	// Init dies with cell (parent-death signal) but its exit may take a
	// moment to show; gc removes only what no live process holds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := cell(t, "gc")
		if strings.Contains(r.stdout, "removed "+name) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gc did not remove %s: %s", name, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if left := sandboxCgroups(parent, name); len(left) > 0 {
		t.Errorf("after gc: %v", left)
	}
	if _, err := os.Stat("/run/cell/" + name + ".json"); err == nil {
		t.Error("after gc the record remains")
	}
}

func TestLimitNotEnforceable(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	// oomGroup has no v1 equivalent; on this hybrid host memory is on v1.
	// On a pure v2 host it is enforceable, so the test only checks that
	// the answer is either a run or a positioned refusal, never silence.
	r := sandboxRun(t, profile(t, ""), []string{"resources.parent=" + parent, "resources.memory={max: 64Mi, oomGroup: true}"}, "true")
	if r.code != 0 && !strings.Contains(r.stderr, "--set:2:") {
		t.Errorf("refusal without a position: %s", r)
	}
	if r.code != 0 && !strings.Contains(r.stderr, "resources.memory.oomGroup: cannot be enforced here") {
		t.Errorf("refusal does not name the limit: %s", r)
	}
}

// sandboxCgroups lists a sandbox's cgroup directories: under each v1
// hierarchy or the hybrid's unified one, or under the v2 root.
func sandboxCgroups(parent, name string) []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent + "/" + name)
	if d := "/sys/fs/cgroup/" + parent + "/" + name; dirExists(d) {
		dirs = append(dirs, d)
	}
	return dirs
}

// TestCgroupMount checks from inside that a cgroup mount shows the
// sandbox's own cgroups, with its limit, read-only: its pids leaf at
// /sys/fs/cgroup/pids on a host with v1 hierarchies, at /sys/fs/cgroup
// itself on cgroup v2 (make test-vm runs it there).
func TestCgroupMount(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	r := sandboxRun(t, profile(t, ""), []string{"resources.parent=" + parent, "resources.pids.max=23",
		"filesystem.mounts[+]={type: cgroup, target: /sys/fs/cgroup}"}, "sh", "-c", `
f=/sys/fs/cgroup/pids.max; [ -e /sys/fs/cgroup/pids ] && f=/sys/fs/cgroup/pids/pids.max
echo "max $(cat $f)"
if echo 100 2>/dev/null > $f; then echo "written"; else echo "write refused"; fi
echo "max $(cat $f)"
grep -c . $(dirname $f)/cgroup.procs | sed 's/^/procs /'
grep ' /sys/fs/cgroup' /proc/self/mountinfo | grep -vc ' ro,' | sed 's/^/writable mounts /'`)
	out := mustSucceed(t, r)
	for _, want := range []string{"max 23\nwrite refused\nmax 23\n", "writable mounts 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "procs ") || strings.Contains(out, "procs 0") {
		t.Errorf("the sandbox's own cgroup should hold its processes:\n%s", out)
	}
}

// TestHugetlbLimitV2 runs a sandbox with a huge page limit where cgroup
// v2 is the only hierarchy (make test-vm) and reads hugetlb.2MB.max back.
// On a host with v1 hierarchies the unified path would enable hugetlb in
// the host's own cgroup2 root, which no test may change: there
// TestHugetlbLimitV1 runs instead, on a v1 hierarchy of its own.
func TestHugetlbLimitV2(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), " - cgroup ") {
		t.Skip("cgroup v1 hierarchies are mounted: the v2 path would change the host's cgroup2 root (TestHugetlbLimitV1 covers this host)")
	}
	if b, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); !strings.Contains(" "+string(b)+" ", " hugetlb ") {
		testenv.Skip(t, "no hugetlb controller in /sys/fs/cgroup/cgroup.controllers")
	}
	if !dirExists("/sys/kernel/mm/hugepages/hugepages-2048kB") {
		testenv.Skip(t, "the kernel has no 2 MiB huge pages")
	}
	parent := cgroupParent(t)
	name := fmt.Sprintf("t-%d", time.Now().UnixNano()%1e9)
	startNamed(t, name, "resources.parent="+parent, "resources.hugetlb={2MB: 4Mi}")
	if got := readTrim(t, "/sys/fs/cgroup/"+parent+"/"+name+"/hugetlb.2MB.max"); got != strconv.Itoa(4<<20) {
		t.Errorf("hugetlb.2MB.max = %s, want %d", got, 4<<20)
	}
}
