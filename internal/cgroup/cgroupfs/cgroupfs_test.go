package cgroupfs

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/cgroup"
)

// The privileged tests make real cgroups and put real processes in them:
// this test binary re-executed with CELL_CGROUP_TEST_ROLE set (see child).
// Every cgroup they make is under a parent named cell-test-<run>-<n>,
// where <run> is random per test binary run, in each hierarchy; each test
// registers that parent's removal before it makes it, and fails if a
// cell-test-<run>-* cgroup is left afterwards. TestMain checks again at
// the end.

const roleEnv = "CELL_CGROUP_TEST_ROLE"

// run is this test binary's random tag in the names of its cgroups.
var run = func() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}()

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(child(role))
	}
	// Orphans of the test children (the sleeps of "bomb" and "spawner")
	// come to this process rather than to PID 1, which need not expect
	// them (the test VM's init does not), and are reaped by reapOrphans.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "PR_SET_CHILD_SUBREAPER:", err)
		os.Exit(2)
	}
	code := m.Run()
	if l, err := Probe(); err == nil {
		if left := leftovers(l); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: cgroups left behind: %s\n", strings.Join(left, " "))
			code = 1
		}
	}
	os.Exit(code)
}

// child is the re-executed test binary. It waits for a line on stdin
// (sent once it is in its cgroups), then plays its role:
//
//	hog      allocates and touches memory until killed (exit 3 if 512 MiB fit)
//	bomb     starts "sleep" processes until fork fails; prints the errno
//	spin     prints "spinning", then burns CPU forever
//	spawner  starts 5 "sleep" processes, prints "ready" and waits forever
func child(role string) int {
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Println("no go:", err)
		return 2
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		fmt.Println(err)
		return 2
	}
	startSleep := func() (int, error) {
		return syscall.ForkExec(sleep, []string{"sleep", "1000"}, &syscall.ProcAttr{})
	}
	switch role {
	case "hog":
		var keep [][]byte
		for range 512 {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		fmt.Println("allocated", len(keep), "MiB")
		return 3
	case "bomb":
		for n := 0; n < 2000; n++ {
			if _, err := startSleep(); err != nil {
				fmt.Printf("fork %d: %s\n", n, unix.ErrnoName(errnoOf(err)))
				return 0
			}
		}
		fmt.Println("2000 forks, no limit")
		return 3
	case "spin":
		fmt.Println("spinning")
		for x := 0; ; x++ {
			_ = x * x
		}
	case "spawner":
		for range 5 {
			if _, err := startSleep(); err != nil {
				fmt.Println(err)
				return 2
			}
		}
		fmt.Println("ready")
		select {}
	}
	fmt.Println("unknown role", role)
	return 2
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	errors.As(err, &e)
	return e
}

// skip skips a test that this machine cannot run, unless
// CELL_TEST_STRICT is set: then it fails.
func skip(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CELL_TEST_STRICT") != "" {
		t.Fatalf("%s, and CELL_TEST_STRICT forbids skipping", why)
	}
	t.Skip(why)
}

// mode is a layout to run a test in, by name.
type mode struct {
	name string
	l    *cgroup.Layout
}

// modes returns the layouts the privileged tests run in: the host's, and
// on a hybrid host the same without its cgroup2 mount (a pure v1 host). A
// caller that is neither root nor in a delegated cgroup v2 cannot make
// cgroups: the test is skipped (failed under CELL_TEST_STRICT).
func modes(t *testing.T) []mode {
	t.Helper()
	l, err := Probe()
	if err != nil {
		t.Fatal(err)
	}
	if l.Rootless && l.Delegated == "" {
		skip(t, fmt.Sprintf("needs root, or a delegated cgroup v2 (%s)", l.NoDelegation))
	}
	ms := []mode{{l.Version(), l}}
	if l.Version() == "hybrid" && !l.Rootless {
		v1 := *l
		v1.Unified, v1.Self, v1.Controllers, v1.Enabled = "", "", nil, nil
		ms = append(ms, mode{"v1", &v1})
	}
	return ms
}

// each runs f as a subtest in every mode, with a fresh test parent.
func each(t *testing.T, f func(t *testing.T, l *cgroup.Layout, parent string)) {
	t.Helper()
	for _, m := range modes(t) {
		t.Run(m.name, func(t *testing.T) {
			f(t, m.l, testParent(t, m.l))
		})
	}
}

var parents int

// testParent returns a new cell-test-<run>-<n> parent for cgroup.Plan. Its
// removal (every cgroup under it, their processes killed) is registered
// before anything makes it, and after that a check that it is gone.
func testParent(t *testing.T, l *cgroup.Layout) string {
	t.Helper()
	parents++
	name := fmt.Sprintf("cell-test-%s-%d", run, parents)
	t.Cleanup(func() {
		for _, left := range leftovers(l) {
			if path.Base(left) == name {
				t.Errorf("cgroup %s is left behind", left)
			}
		}
	})
	t.Cleanup(func() {
		for _, top := range tops(l) {
			if err := removeTree(path.Join(top, name)); err != nil {
				t.Errorf("clean up: %v", err)
			}
		}
	})
	return name
}

// tops are the directories the test parents go in: the unified root (or
// the delegated cgroup) and each v1 mount.
func tops(l *cgroup.Layout) []string {
	var ts []string
	if l.Unified != "" {
		top := "/"
		if l.Rootless {
			top = l.Delegated
		}
		ts = append(ts, path.Join(l.Unified, top))
	}
	for _, m := range l.V1 {
		if !slices.Contains(ts, m) && !l.Rootless {
			ts = append(ts, m)
		}
	}
	slices.Sort(ts)
	return ts
}

// leftovers lists this run's cell-test-<run>-* cgroups.
func leftovers(l *cgroup.Layout) []string {
	var left []string
	for _, top := range tops(l) {
		m, _ := filepath.Glob(path.Join(top, "cell-test-"+run+"-*"))
		left = append(left, m...)
	}
	return left
}

// removeTree kills the processes of every cgroup under dir and removes
// them, children first, then dir; a dir that does not exist is fine.
func removeTree(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeTree(path.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	g := &cgroup.Group{V1: map[string]string{"memory": dir}}
	if strings.HasSuffix(path.Dir(dir), "unified") || exists(path.Join(dir, "cgroup.kill")) {
		g = &cgroup.Group{Unified: dir}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Kill(ctx, g); err != nil {
		return err
	}
	reapOrphans()
	return Remove(ctx, g)
}

// reapOrphans reaps the children of this process that have ended. It runs
// once a test's own children are waited for, so what it reaps are the
// orphans that came to this subreaper.
func reapOrphans() {
	for {
		var ws unix.WaitStatus
		if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid <= 0 || err != nil {
			return
		}
	}
}

// sandbox plans and creates the cgroups of a test sandbox, registering
// their removal first.
func sandbox(t *testing.T, l *cgroup.Layout, parent string, lim cgroup.Limits) *cgroup.Setup {
	t.Helper()
	s, err := cgroup.Plan(l, parent, "sbx", lim)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("setup:\n%s", s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := Kill(ctx, &s.Group); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("kill: %v", err)
		}
		reapOrphans()
		if err := Remove(ctx, &s.Group); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	if err := Create(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// proc is a child started in a sandbox's cgroups.
type proc struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan error
}

// start runs this binary as role inside s's cgroups: cloned into s.Clone
// (CLONE_INTO_CGROUP), moved into each of s.Join, then told to go. It
// checks that the child is in every cgroup before it goes.
func start(t *testing.T, s *cgroup.Setup, role string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{roleEnv + "=" + role}, env...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if s.Clone != "" {
		f, err := OpenDir(s.Clone)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			t.Logf("%s: %s", role, sc.Text())
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	for _, d := range s.Join {
		if err := Join(d, cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range s.Group.Dirs() {
		ps, err := procs(d)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(ps, cmd.Process.Pid) {
			t.Fatalf("pid %d is not in %s (%v)", cmd.Process.Pid, d, ps)
		}
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	return p
}

// line waits for the child's next line of output.
func (p *proc) line(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatal("the child ended without saying what it was asked")
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("no word from the child in %s", timeout)
	}
	return ""
}

// wait waits for the child to end.
func (p *proc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	for {
		select {
		case _, ok := <-p.lines:
			if !ok {
				p.lines = nil
			}
		case err := <-p.done:
			p.done <- err // for the cleanup
			return err
		case <-time.After(timeout):
			t.Fatalf("the child did not end in %s", timeout)
		}
	}
}

func stats(t *testing.T, g *cgroup.Group) *cgroup.Stats {
	t.Helper()
	st, err := ReadStats(g)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %s", st)
	return st
}

func TestMemoryMaxOOMKill(t *testing.T) {
	each(t, func(t *testing.T, l *cgroup.Layout, parent string) {
		const limit = 32 << 20
		lim := cgroup.Limits{MemoryMax: cgroup.Num(limit)}
		if l.Swap {
			lim.SwapMax = cgroup.Num(0)
		}
		s := sandbox(t, l, parent, lim)
		p := start(t, s, "hog", "GOGC=off")
		err := p.wait(t, 2*time.Minute)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("the hog ended with %v, want SIGKILL by the OOM killer", err)
		}
		st := stats(t, &s.Group)
		if st.OOMKills == nil || *st.OOMKills < 1 {
			t.Errorf("OOMKills unknown or 0, want >= 1: %s", st)
		}
		// v2 memory.peak may pass memory.max by the page being charged
		// when the OOM killer was called.
		if p := st.MemoryPeak; p == nil || *p > limit+limit/16 || *p < limit/2 {
			t.Errorf("MemoryPeak = %s, want about %d", st, limit)
		}
	})
}

func TestPidsMaxStopsForkBomb(t *testing.T) {
	each(t, func(t *testing.T, l *cgroup.Layout, parent string) {
		const limit = 32
		s := sandbox(t, l, parent, cgroup.Limits{PidsMax: cgroup.Num(limit)})
		p := start(t, s, "bomb", "GOMAXPROCS=1")
		got := p.line(t, time.Minute)
		if !strings.HasSuffix(got, ": EAGAIN") {
			t.Fatalf("the bomb said %q, want fork N: EAGAIN", got)
		}
		if err := p.wait(t, time.Minute); err != nil {
			t.Errorf("the bomb: %v", err)
		}
		st := stats(t, &s.Group)
		if st.PidsMaxHits == nil || *st.PidsMaxHits < 1 {
			t.Errorf("PidsMaxHits unknown or 0, want >= 1: %s", st)
		}
		if st.PidsPeak != nil && *st.PidsPeak != limit {
			t.Errorf("PidsPeak = %d, want %d", *st.PidsPeak, limit)
		}
	})
}

func TestCPUMaxHalfACPU(t *testing.T) {
	each(t, func(t *testing.T, l *cgroup.Layout, parent string) {
		s := sandbox(t, l, parent, cgroup.Limits{CPUMax: cgroup.CPUs(500)})
		p := start(t, s, "spin")
		if got := p.line(t, time.Minute); got != "spinning" {
			t.Fatalf("the child said %q", got)
		}
		u0, t0 := stats(t, &s.Group).CPUUsec, time.Now()
		time.Sleep(time.Second)
		u1, t1 := stats(t, &s.Group).CPUUsec, time.Now()
		if u0 == nil || u1 == nil {
			t.Fatal("CPU time unknown")
		}
		share := float64(*u1-*u0) / float64(t1.Sub(t0).Microseconds())
		t.Logf("CPU share under cpu.max 0.5: %.3f", share)
		if share < 0.3 || share > 0.7 {
			t.Errorf("the spinner used %.2f CPUs, want 0.5 (0.3 to 0.7)", share)
		}
	})
}

func TestFreezeThaw(t *testing.T) {
	each(t, func(t *testing.T, l *cgroup.Layout, parent string) {
		s := sandbox(t, l, parent, cgroup.Limits{})
		g := &s.Group
		p := start(t, s, "spin")
		p.line(t, time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := Freeze(ctx, g); err != nil {
			t.Fatal(err)
		}
		// Frozen: no CPU time at all.
		u0 := stats(t, g).CPUUsec
		time.Sleep(300 * time.Millisecond)
		u1 := stats(t, g).CPUUsec
		if *u1-*u0 > 5000 {
			t.Errorf("the frozen spinner used %d µs of CPU in 300 ms", *u1-*u0)
		}
		if err := Thaw(ctx, g); err != nil {
			t.Fatal(err)
		}
		// Thawed: it runs again (however slow the machine is).
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if u := stats(t, g).CPUUsec; *u > *u1+1000 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the thawed spinner does not run")
			}
		}
	})
}

func TestKillAndRemove(t *testing.T) {
	each(t, func(t *testing.T, l *cgroup.Layout, parent string) {
		s := sandbox(t, l, parent, cgroup.Limits{PidsMax: cgroup.Num(100)})
		g := &s.Group
		p := start(t, s, "spawner")
		if got := p.line(t, time.Minute); got != "ready" {
			t.Fatalf("the child said %q", got)
		}
		ps, err := Procs(g)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 6 {
			t.Errorf("Procs() = %v, want the spawner and its 5 sleeps", ps)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := Kill(ctx, g); err != nil {
			t.Fatal(err)
		}
		if ps, err := Procs(g); err != nil || len(ps) != 0 {
			t.Errorf("after Kill, Procs() = %v, %v", ps, err)
		}
		if err := p.wait(t, time.Minute); err == nil {
			t.Error("the spawner survived Kill")
		}
		if err := Remove(ctx, g); err != nil {
			t.Fatal(err)
		}
		for _, d := range g.Dirs() {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s is still there (%v)", d, err)
			}
		}
	})
}

func TestCreateUndoesOnFailure(t *testing.T) {
	each(t, func(t *testing.T, l *cgroup.Layout, parent string) {
		s, err := cgroup.Plan(l, parent, "sbx", cgroup.Limits{PidsMax: cgroup.Num(5)})
		if err != nil {
			t.Fatal(err)
		}
		last := s.Writes[len(s.Writes)-1]
		s.Writes[len(s.Writes)-1].Value = "lots"
		err = Create(s)
		want := fmt.Sprintf(`write "lots" to %s: EINVAL (invalid argument)`, last.Path())
		if err == nil || err.Error() != want {
			t.Fatalf("Create: %v, want %s", err, want)
		}
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("%v is not EINVAL", err)
		}
		for _, d := range s.Dirs {
			if _, err := os.Stat(d); path.Base(d) != cgroup.SupervisorName && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s is left after the failed Create (%v)", d, err)
			}
		}
	})
}

func TestCreateTwiceFails(t *testing.T) {
	each(t, func(t *testing.T, l *cgroup.Layout, parent string) {
		s := sandbox(t, l, parent, cgroup.Limits{})
		err := Create(s)
		want := fmt.Sprintf("mkdir %s: EEXIST (file exists): a sandbox of that name exists already (or an earlier one was not removed)", s.Group.Dirs()[0])
		if err == nil || err.Error() != want {
			t.Fatalf("second Create: %v, want %s", err, want)
		}
		for _, d := range s.Group.Dirs() {
			if _, err := os.Stat(d); err != nil {
				t.Errorf("the failed Create removed the first sandbox's %s: %v", d, err)
			}
		}
	})
}

func TestUpdate(t *testing.T) {
	each(t, func(t *testing.T, l *cgroup.Layout, parent string) {
		s := sandbox(t, l, parent, cgroup.Limits{PidsMax: cgroup.Num(10), MemoryMax: cgroup.Num(64 << 20)})
		lim := cgroup.Limits{PidsMax: cgroup.Num(20), MemoryMax: cgroup.Max()}
		if l.Swap {
			lim.MemoryMax, lim.SwapMax = cgroup.Num(128<<20), cgroup.Num(16<<20)
		}
		ws, err := cgroup.Limit(l, &s.Group, lim)
		if err != nil {
			t.Fatal(err)
		}
		if err := Update(ws); err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			b, err := os.ReadFile(w.Path())
			if err != nil {
				t.Fatal(err)
			}
			got, want := strings.TrimSpace(string(b)), w.Value
			if want == "-1" {
				continue // read back as a large number; overwritten next
			}
			if got != want {
				t.Errorf("%s = %q after Update, want %q", w.Path(), got, want)
			}
		}
	})
}

func TestCpusetPinsTheChild(t *testing.T) {
	each(t, func(t *testing.T, l *cgroup.Layout, parent string) {
		s := sandbox(t, l, parent, cgroup.Limits{Cpus: "0"})
		p := start(t, s, "spin")
		p.line(t, time.Minute)
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		_, v, _ := strings.Cut(string(b), "Cpus_allowed_list:")
		if v, _, _ = strings.Cut(v, "\n"); strings.TrimSpace(v) != "0" {
			t.Errorf("Cpus_allowed_list: %q, want 0", v)
		}
	})
}

// TestIOLimitsTakeEffect sets an IO weight and a device throttle and
// reads them back: the kernel parsed them for a real device.
func TestIOLimitsTakeEffect(t *testing.T) {
	each(t, func(t *testing.T, l *cgroup.Layout, parent string) {
		major, minor := blockDevice(t)
		lim := cgroup.Limits{IODevices: []cgroup.IODevice{{Major: major, Minor: minor, RBPS: 1 << 20, WIOPS: 100}}}
		if l.BFQ || l.IOCost || l.BlkioWeight {
			lim.IOWeight = 500
		}
		s := sandbox(t, l, parent, lim)
		n := 0
		for _, w := range s.Writes {
			if !strings.HasPrefix(w.File, "io.") && !strings.HasPrefix(w.File, "blkio.") {
				continue
			}
			n++
			b, err := os.ReadFile(w.Path())
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range strings.Fields(w.Value) {
				if !strings.Contains(string(b), tok) {
					t.Errorf("%s reads %q after %s", w.Path(), b, w)
				}
			}
		}
		if n == 0 {
			t.Error("no IO writes in the setup")
		}
	})
}

// blockDevice returns the number of the first block device in
// /sys/block (in the test VM, a loop device: .ci/test-vm loads the
// module).
func blockDevice(t *testing.T) (uint32, uint32) {
	t.Helper()
	devs, _ := filepath.Glob("/sys/block/*/dev")
	if len(devs) == 0 {
		t.Fatal("no block device in /sys/block to set IO limits on")
	}
	b, err := os.ReadFile(devs[0])
	if err != nil {
		t.Fatal(err)
	}
	var major, minor uint32
	if _, err := fmt.Sscanf(string(b), "%d:%d", &major, &minor); err != nil {
		t.Fatalf("%s: %q: %v", devs[0], b, err)
	}
	return major, minor
}

// TestKillRemoveOfMissingGroup: a group that was never made (or made in
// part, or removed already) is killed and removed without error, so that
// teardown after a failed start needs no bookkeeping.
func TestKillRemoveOfMissingGroup(t *testing.T) {
	d := t.TempDir()
	g := &cgroup.Group{Unified: path.Join(d, "u", "sbx"), V1: map[string]string{"memory": path.Join(d, "m", "sbx"), "freezer": path.Join(d, "f", "sbx")}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Kill(ctx, g); err != nil {
		t.Errorf("Kill: %v", err)
	}
	if err := Remove(ctx, g); err != nil {
		t.Errorf("Remove: %v", err)
	}
}

// TestKillWhileRemoved: Kill of a group that its owner removes as soon
// as it is empty (a sandbox's supervisor tears its cgroups down when its
// init ends, while an OCI runtime's kill --all or launcher's Cgroup.Kill
// waits in another process) succeeds: a removed cgroup holds nothing,
// even when it goes while Kill waits for the kernel to say it is empty.
// The removal races with Kill's wait, so the test repeats it.
func TestKillWhileRemoved(t *testing.T) {
	each(t, func(t *testing.T, l *cgroup.Layout, parent string) {
		for i := range 10 {
			s := sandbox(t, l, parent, cgroup.Limits{})
			g := &s.Group
			p := start(t, s, "spin")
			p.line(t, time.Minute)
			removed := make(chan error, 1)
			go func() {
				// rmdir fails with EBUSY until the group is empty:
				// the owner's teardown, without its backoff.
				left := g.Dirs()
				for deadline := time.Now().Add(time.Minute); len(left) > 0; {
					err := unix.Rmdir(left[0])
					switch {
					case err == nil || errors.Is(err, unix.ENOENT):
						left = left[1:]
					case !errors.Is(err, unix.EBUSY) || time.Now().After(deadline):
						removed <- fmt.Errorf("rmdir %s: %w", left[0], err)
						return
					}
				}
				removed <- nil
			}()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := Kill(ctx, g)
			cancel()
			if err != nil {
				t.Fatalf("round %d: Kill of a group removed meanwhile: %v", i, err)
			}
			if err := <-removed; err != nil {
				t.Fatal(err)
			}
			p.wait(t, time.Minute)
		}
	})
}

// TestHugetlbV2 sets a huge page limit on cgroup v2 (make test-vm),
// reads it back, and changes it. On a hybrid host the unified path would
// enable hugetlb in the host's own cgroup2 root, which no test may
// change: there cmd/cell's TestHugetlbLimitV1 covers hugetlb on a v1
// hierarchy of its own. A rootless caller (systemd delegates no hugetlb)
// gets a refusal that names the controller.
func TestHugetlbV2(t *testing.T) {
	l, err := Probe()
	if err != nil {
		t.Fatal(err)
	}
	if l.Version() != "v2" {
		t.Skipf("a %s host: the v2 path would change its cgroup2 root; see cmd/cell's TestHugetlbLimitV1", l.Version())
	}
	if len(l.HugePageSizes) == 0 {
		skip(t, "the kernel offers no huge pages")
	}
	size := l.HugePageSizes[0]
	lim := cgroup.Limits{HugeTLB: []cgroup.HugeTLB{{PageSize: size, Max: cgroup.Num(4 << 20)}}}
	if !slices.Contains(l.Controllers, "hugetlb") {
		if !l.Rootless {
			skip(t, "no hugetlb controller in the cgroup2 root")
		}
		_, err := cgroup.Plan(l, testParent(t, l), "sbx", lim)
		var le *cgroup.LimitError
		if !errors.As(err, &le) || le.Limit != "hugetlb."+size || !strings.Contains(le.Why, "hugetlb controller is not delegated") {
			t.Fatalf("plan without a delegated hugetlb controller: %v, want a refusal naming it", err)
		}
		return
	}
	s := sandbox(t, l, testParent(t, l), lim)
	file := path.Join(s.Group.Unified, "hugetlb."+size+".max")
	read := func() string {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := read(); got != strconv.Itoa(4<<20) {
		t.Errorf("%s = %s, want %d", file, got, 4<<20)
	}
	ws, err := cgroup.Limit(l, &s.Group, cgroup.Limits{HugeTLB: []cgroup.HugeTLB{{PageSize: size, Max: cgroup.Max()}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := Update(ws); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "max" {
		t.Errorf("%s = %s after lifting the limit, want max", file, got)
	}
}
