package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// soakKind is one kind of action a build farm throws at cell.
type soakKind struct {
	name    string
	profile string   // build-worker unless set
	args    []string // cell run flags before the command
	cmd     []string
	// ok says whether a run that was not SIGKILLed ended as it should.
	ok func(r cellResult) bool
}

var soakKinds = []soakKind{
	{"ok", "", nil, []string{"true"}, func(r cellResult) bool { return r.code == 0 }},
	// The default profile binds /etc files that are symlinks with "..",
	// whose resolution in the new root races with other sandboxes' mounts.
	{"default-profile", "default", nil, []string{"true"}, func(r cellResult) bool { return r.code == 0 }},
	{"exit", "", nil, []string{"sh", "-c", "exit 7"}, func(r cellResult) bool { return r.code == 7 }},
	{"fork-bomb", "", nil, []string{"sh", "-c", "i=0; while [ $i -lt 100 ]; do sleep 5 & i=$((i+1)); done 2>/dev/null; exit 0"},
		func(r cellResult) bool { return r.code != 125 && strings.Contains(r.stderr, "pids.max 32 reached") }},
	{"memory-hog", "", nil, []string{"sh", "-c", "x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done"},
		func(r cellResult) bool { return r.code == 137 && strings.Contains(r.stderr, "memory.max 32Mi reached") }},
	{"hang", "", []string{"--timeout", "300ms", "--kill-after", "300ms"}, []string{"sleep", "30"},
		func(r cellResult) bool { return r.code == 124 }},
	// On a bridge with NAT and a published port, in the soak's own
	// network namespace: a lease, a veth and rules per launch.
	{"bridge", "", []string{"--set", `network={mode: bridge, nat: true, dns: [192.0.2.53], ports: ["18500:80"]}`}, []string{"sh", "-c", "ip -4 -o addr show dev eth0 | grep -q 10.88.0."},
		func(r cellResult) bool { return r.code == 0 }},
}

// TestSoak launches many build-worker sandboxes with cgroup limits, 2 and
// then 8 at a time, SIGKILLs some of the cell processes at random
// moments, and then checks that nothing is left: cgroups, state records,
// mounts, sandbox processes, zombies, descriptors of this process. CI
// runs a short form; make soak runs thousands (CELL_SOAK_N).
func TestSoak(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	n := 40
	if s := os.Getenv("CELL_SOAK_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 2 {
			t.Fatalf("CELL_SOAK_N=%q", s)
		}
		n = v
	}
	parent := cgroupParent(t)
	net := newTestNet(t)
	// The workers' root is a subordinate ID: the bound directory must be
	// reachable by others.
	work := t.TempDir()
	for _, d := range []string{work, filepath.Dir(work)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	prefix := fmt.Sprintf("soak-%d-", os.Getpid())
	fdsBefore := countFDs(t)
	initsBefore := countInits(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	var rngMu sync.Mutex
	randN := func(k int) int { rngMu.Lock(); defer rngMu.Unlock(); return rng.IntN(k) }

	var mu sync.Mutex
	counts := map[string]int{}
	var bad []string
	launch := func(i int) {
		k := soakKinds[i%len(soakKinds)]
		prof := k.profile
		if prof == "" {
			prof = "build-worker"
		}
		args := []string{"run", "-p", prof, "--name", prefix + strconv.Itoa(i),
			"--set", "resources.parent=" + parent,
			"--set", "resources.memory={max: 32Mi, swap: 0}",
			"--set", "resources.pids.max=32"}
		args = append(append(append(args, k.args...), "--"), k.cmd...)
		cmd := cellCmd(t, args...)
		cmd.Dir = work
		cmd.Env = append(cmd.Env, "PWD="+work)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := cmd.Start
		if k.name == "bridge" {
			start = func() error { return net.do(cmd.Start) }
		}
		if err := start(); err != nil {
			t.Error(err)
			return
		}
		killed := randN(6) == 0
		if killed {
			time.AfterFunc(time.Duration(randN(150))*time.Millisecond, func() { _ = cmd.Process.Kill() })
		}
		err := cmd.Wait()
		r := cellResult{out.String(), errb.String(), 0}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case killed && r.code == -1:
			counts["sigkilled"]++
		case k.ok(r):
			counts[k.name]++
		default:
			bad = append(bad, fmt.Sprintf("%s #%d (sigkill sent: %v): %s", k.name, i, killed, r))
		}
	}
	for _, par := range []int{2, 8} {
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range par {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					launch(i)
				}
			}()
		}
		for i := range n / 2 {
			jobs <- par*n + i // unique names across both rounds
		}
		close(jobs)
		wg.Wait()
	}
	for _, b := range bad {
		t.Errorf("wrong outcome: %s", b)
	}

	// A SIGKILLed cell leaves its cgroup and record to cell gc; the
	// sandbox itself dies with cell (parent-death signal), a moment later.
	var left []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		cell(t, "gc")
		net.cell("gc") // the bridge's leases and rules are in its namespace
		left = soakLeft(parent, prefix)
		if len(left) == 0 && countInits(t) <= initsBefore || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	zombies := countZombies(t)
	fds := countFDs(t) - fdsBefore
	inits := countInits(t) - initsBefore
	t.Logf("soak: %d launches (%d at 2, %d at 8 in parallel): %v; left: %d cgroups or records, %d sandbox processes, %d zombies, %+d descriptors",
		n/2*2, n/2, n/2, counts, len(left), inits, zombies, fds)
	if len(left) > 0 || inits > 0 || zombies > 0 || fds > 0 {
		t.Errorf("leaks after the soak: %v, %d cell-init processes, %d zombies, %d descriptors", left, inits, zombies, fds)
	}
	leases := net.leases("cell0")
	rules := slices.DeleteFunc(net.ruleOwners(), func(o string) bool { return strings.HasPrefix(o, "bridge:") })
	links := net.settledLinks("cell0", "lo")
	t.Logf("soak: bridge: %d leases, %d rules of sandboxes, links %v", len(leases), len(rules), links)
	if len(leases) > 0 || len(rules) > 0 || !slices.Equal(links, []string{"cell0", "lo"}) {
		t.Errorf("network leaks after the soak: leases %+v, rules of %v, links %v", leases, rules, links)
	}
}

// soakLeft lists the soak's cgroups and state records still present.
func soakLeft(parent, prefix string) []string {
	left, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent + "/" + prefix + "*")
	more, _ := filepath.Glob("/sys/fs/cgroup/" + parent + "/" + prefix + "*")
	recs, _ := filepath.Glob("/run/cell/" + prefix + "*")
	return append(append(left, more...), recs...)
}

func countFDs(t *testing.T) int {
	t.Helper()
	e, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(e)
}

// countInits counts cell's sandbox init processes on the machine (the
// package's tests do not run in parallel, so these are the soak's).
func countInits(t *testing.T) int {
	t.Helper()
	n := 0
	forProcs(t, func(pid int, stat string) {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.HasPrefix(b, []byte("cell-init\x00")) {
			n++
		}
	})
	return n
}

// countZombies counts this process's unreaped children.
func countZombies(t *testing.T) int {
	t.Helper()
	n := 0
	me := os.Getpid()
	forProcs(t, func(pid int, stat string) {
		// stat: pid (comm) state ppid ...; comm may hold spaces.
		f := strings.Fields(stat[strings.LastIndexByte(stat, ')')+1:])
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(me) {
			t.Logf("zombie child: %s", stat)
			n++
		}
	})
	return n
}

func forProcs(t *testing.T, f func(pid int, stat string)) {
	t.Helper()
	e, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range e {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f(pid, string(b))
	}
}

// TestConcurrentLaunches runs the default profile 8 at a time: every
// launch must succeed. Path resolution in a sandbox's new root races with
// the mounts of the others (openat2 EAGAIN), which cell must absorb.
func TestConcurrentLaunches(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	work := t.TempDir()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	for range 8 {
		wg.Go(func() {
			for range 25 {
				cmd := cellCmd(t, "run", "--", "true")
				cmd.Dir = work
				cmd.Env = append(cmd.Env, "PWD="+work)
				if out, err := cmd.CombinedOutput(); err != nil {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("%v: %s", err, out))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Errorf("%d of 200 concurrent launches failed, first: %s", len(failed), failed[0])
	}
}
