package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/testenv"
)

// The controllers hugetlb, net_cls and net_prio are unattached on this
// project's hybrid CI host (hierarchy 0 in /proc/cgroups). These tests
// mount a v1 hierarchy of them in a mount namespace of their own, so that
// no other process of the host sees it, run cell there, and read the
// limits back through /proc/PID/root of the process that holds the
// namespace. The namespace dies with that process, which unmounts the
// hierarchy; the test removes its cgroups first (a v1 hierarchy with
// cgroups left outlives its last mount).

// privateNS is a mount namespace of the test's own, held by a sleeping
// process.
type privateNS struct {
	pid int
	end func()
}

// newPrivateNS makes the namespace and registers its end.
func newPrivateNS(t *testing.T) *privateNS {
	t.Helper()
	cmd := exec.Command("sleep", "3600")
	// Go makes / private in the new namespace for Unshareflags: mounts
	// made there never propagate to the host.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("a mount namespace for the test: %v", err)
	}
	ended := false
	end := func() {
		if !ended {
			ended = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	t.Cleanup(end)
	return &privateNS{pid: cmd.Process.Pid, end: end}
}

// path is p as seen from inside the namespace.
func (ns *privateNS) path(p string) string {
	return fmt.Sprintf("/proc/%d/root%s", ns.pid, p)
}

// run runs a command in the namespace.
func (ns *privateNS) run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(ns.pid), "-m", "--", name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in the test's mount namespace: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// cellCmd prepares cell with args to run in the namespace, in the
// working directory of the test (setns to a mount namespace moves to its
// root, under which every bind source would lie).
func (ns *privateNS) cellCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := cellCmd(t, args...)
	cmd.Args = append([]string{"nsenter", "-t", strconv.Itoa(ns.pid), "-m", "-w", "--", cmd.Path}, cmd.Args[1:]...)
	var err error
	if cmd.Path, err = exec.LookPath("nsenter"); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// controllerState reads /proc/cgroups: whether the kernel has controller c
// enabled, and its hierarchy (0: not bound to a v1 hierarchy).
func controllerState(t *testing.T, c string) (present bool, hierarchy int) {
	t.Helper()
	f, err := os.Open("/proc/cgroups")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 4 && fs[0] == c {
			h, _ := strconv.Atoi(fs[1])
			return fs[3] == "1", h
		}
	}
	return false, 0
}

// mountV1 mounts a v1 hierarchy of the controllers (comma-separated) in
// ns at a directory of the test, and registers the removal of every
// cgroup under parent there. It skips only where the kernel lacks a
// controller.
func mountV1(t *testing.T, ns *privateNS, controllers, parent string) string {
	t.Helper()
	for _, c := range strings.Split(controllers, ",") {
		if ok, _ := controllerState(t, c); !ok {
			testenv.Skip(t, "the kernel has no "+c+" controller (/proc/cgroups)")
		}
	}
	_, before := controllerState(t, strings.Split(controllers, ",")[0])
	dir := t.TempDir()
	t.Cleanup(func() {
		// The hierarchy dies with its last mount only if no cgroup is
		// left, not even a dying one (a removed cgroup whose sockets or
		// pages are still being released). Where it stays, mounting it
		// again and unmounting once the children are gone ends it.
		ns.end()
		if before != 0 {
			return // the host's own hierarchy: not ours to end
		}
		for try := 0; ; try++ {
			if _, h := controllerState(t, strings.Split(controllers, ",")[0]); h == 0 {
				return
			}
			if try == 50 {
				t.Errorf("the test's %s hierarchy outlived its mount", controllers)
				return
			}
			time.Sleep(100 * time.Millisecond)
			if try%5 == 2 {
				exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", `mount -t cgroup -o "$1" cell-test "$2" && umount "$2"`, "sh", controllers, dir).Run()
			}
		}
	})
	t.Cleanup(func() {
		p := ns.path(filepath.Join(dir, parent))
		leaves, _ := filepath.Glob(p + "/*/cgroup.procs")
		for _, l := range leaves {
			t.Errorf("cgroup left behind: %s", filepath.Dir(l))
			if err := syscall.Rmdir(filepath.Dir(l)); err != nil {
				t.Errorf("remove %s: %v", filepath.Dir(l), err)
			}
		}
		if err := syscall.Rmdir(p); err != nil && err != syscall.ENOENT {
			t.Errorf("remove the test's cgroup parent %s: %v", p, err)
		}
	})
	// Mounting the same set of controllers again joins their hierarchy
	// if the host has one; a controller bound elsewhere (another v1
	// hierarchy, or enabled in a cgroup2 subtree_control) gives EBUSY.
	ns.run(t, "mount", "-t", "cgroup", "-o", controllers, "cell-test", dir)
	return dir
}

// startInNS starts a named sandbox in ns that prints "ready" and sleeps,
// and returns a function that ends it and waits for cell.
func startInNS(t *testing.T, ns *privateNS, name string, sets ...string) (stop func() cellResult) {
	t.Helper()
	args := []string{"run", "-p", profile(t, ""), "--name", name}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	cmd := ns.cellCmd(t, append(args, "--", "sh", "-c", "echo ready; exec sleep 60")...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	var res cellResult
	stop = func() cellResult {
		if done {
			return res
		}
		done = true
		cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		res = cellResult{stderr: errb.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			res.code = ee.ExitCode()
		}
		return res
	}
	t.Cleanup(func() { stop() })
	if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("sandbox %s did not start: %s", name, stop())
	}
	return stop
}

// v1TestName names a test's cgroup parent and sandbox.
func v1TestName(kind string) string {
	return fmt.Sprintf("cell-test-%d-%d-%s", os.Getpid(), time.Now().UnixNano()%1e9, kind)
}

func TestHugetlbLimitV1(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	sizes, _ := filepath.Glob("/sys/kernel/mm/hugepages/hugepages-2048kB")
	if len(sizes) == 0 {
		testenv.Skip(t, "the kernel has no 2 MiB huge pages")
	}
	ns := newPrivateNS(t)
	parent, name := v1TestName("p"), v1TestName("s")
	dir := mountV1(t, ns, "hugetlb", parent)
	stop := startInNS(t, ns, name, "resources.parent="+parent, "resources.hugetlb={2MB: 4Mi}")
	leaf := ns.path(filepath.Join(dir, parent, name))
	if got := readTrim(t, leaf+"/hugetlb.2MB.limit_in_bytes"); got != strconv.Itoa(4<<20) {
		t.Errorf("hugetlb.2MB.limit_in_bytes = %s, want %d", got, 4<<20)
	}
	if got := readTrim(t, leaf+"/cgroup.procs"); got == "" {
		t.Error("the sandbox's processes are not in its hugetlb cgroup")
	}
	if r := stop(); r.code != 143 && r.code != 0 {
		t.Errorf("cell: %s", r)
	}
	if dirExists(leaf) {
		t.Errorf("%s remains after the sandbox ended", leaf)
	}
}

func TestNetClassPriorityV1(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	ns := newPrivateNS(t)
	parent, name := v1TestName("p"), v1TestName("s")
	dir := mountV1(t, ns, "net_cls,net_prio", parent)
	stop := startInNS(t, ns, name, "resources.parent="+parent, "resources.net={classID: 0x100001, priorities: {lo: 5}}")
	leaf := ns.path(filepath.Join(dir, parent, name))
	if got := readTrim(t, leaf+"/net_cls.classid"); got != "1048577" {
		t.Errorf("net_cls.classid = %s, want 1048577", got)
	}
	prio := readTrim(t, leaf+"/net_prio.ifpriomap")
	if !strings.Contains("\n"+prio+"\n", "\nlo 5\n") {
		t.Errorf("net_prio.ifpriomap = %q, want a line \"lo 5\"", prio)
	}
	if got := readTrim(t, leaf+"/cgroup.procs"); got == "" {
		t.Error("the sandbox's processes are not in its net_cls,net_prio cgroup")
	}
	stop()
	if dirExists(leaf) {
		t.Errorf("%s remains after the sandbox ended", leaf)
	}
}

// TestNetClassRefused runs cell where no net_cls hierarchy is mounted
// (the test's namespace drops any the host has): the profile's class is
// refused at its position, and nothing runs.
func TestNetClassRefused(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	ns := newPrivateNS(t)
	b, err := os.ReadFile(ns.path("/proc/self/mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if f, g := strings.Fields(pre), strings.Fields(post); ok && len(f) > 4 && len(g) > 2 && g[0] == "cgroup" && strings.Contains(","+g[2]+",", ",net_cls,") {
			ns.run(t, "umount", f[4])
		}
	}
	parent := v1TestName("p")
	args := []string{"run", "-p", profile(t, ""), "--set", "resources.parent=" + parent, "--set", "resources.net.classID=7", "--", "sh", "-c", "echo ran"}
	r := runCellCmd(t, ns.cellCmd(t, args...))
	if r.code == 0 || strings.Contains(r.stdout, "ran") {
		t.Fatalf("ran without its traffic class: %s", r)
	}
	if want := "--set:2:"; !strings.Contains(r.stderr, want) {
		t.Errorf("refusal without the position %q: %s", want, r)
	}
	if want := "resources.net.classID: cannot be enforced here: the net_cls controller is not mounted as a cgroup v1 hierarchy"; !strings.Contains(r.stderr, want) {
		t.Errorf("refusal does not say %q: %s", want, r)
	}
}

// TestHugetlbPageSizeRefused asks for a page size the kernel does not
// offer: refused, with the sizes it does.
func TestHugetlbPageSizeRefused(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	missing := ""
	for _, s := range []struct{ name, dir string }{{"16GB", "hugepages-16777216kB"}, {"1GB", "hugepages-1048576kB"}, {"64KB", "hugepages-64kB"}} {
		if _, err := os.Stat("/sys/kernel/mm/hugepages/" + s.dir); err != nil {
			missing = s.name
			break
		}
	}
	if missing == "" {
		t.Fatal("the kernel offers 16GB, 1GB and 64KB huge pages: pick another size")
	}
	ns := newPrivateNS(t)
	parent := v1TestName("p")
	mountV1(t, ns, "hugetlb", parent)
	args := []string{"run", "-p", profile(t, ""), "--set", "resources.parent=" + parent, "--set", "resources.hugetlb={" + missing + ": max}", "--", "sh", "-c", "echo ran"}
	r := runCellCmd(t, ns.cellCmd(t, args...))
	if r.code == 0 || strings.Contains(r.stdout, "ran") {
		t.Fatalf("ran without its huge page limit: %s", r)
	}
	if want := "resources.hugetlb." + missing + ": cannot be enforced here: the kernel has no " + missing + " huge pages; it offers"; !strings.Contains(r.stderr, want) {
		t.Errorf("refusal does not say %q: %s", want, r)
	}
}
