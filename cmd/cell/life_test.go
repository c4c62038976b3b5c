package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/internal/stamp"
	"github.com/cellsandbox/cell/launcher/plan"
)

// TestTrace checks that --trace reports every step of the plan, in order,
// each once (runs of steps done together as one range).
func TestTrace(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	prof := profile(t, "")
	pl := cell(t, "plan", "--json", "-p", prof, "--", "true")
	var plan struct{ Steps []json.RawMessage }
	if err := json.Unmarshal([]byte(pl.stdout), &plan); err != nil {
		t.Fatal(err)
	}
	r := cell(t, "run", "--trace", "-p", prof, "--", "true")
	if r.code != 0 {
		t.Fatal(r)
	}
	re := regexp.MustCompile(`(?m)^level=INFO msg=step sandbox=\S+ steps=(\d+)(?:-(\d+))? `)
	next := 1
	for _, m := range re.FindAllStringSubmatch(r.stderr, -1) {
		first, _ := strconv.Atoi(m[1])
		last := first
		if m[2] != "" {
			last, _ = strconv.Atoi(m[2])
		}
		if first != next {
			t.Fatalf("trace jumps to step %d, want %d:\n%s", first, next, r.stderr)
		}
		next = last + 1
	}
	if next != len(plan.Steps)+1 {
		t.Errorf("trace ends before step %d of %d:\n%s", next, len(plan.Steps), r.stderr)
	}
	r = cell(t, "run", "--trace", "--log-format", "json", "-p", prof, "--", "true")
	first := strings.SplitN(r.stderr, "\n", 2)[0]
	var line map[string]any
	if err := json.Unmarshal([]byte(first), &line); err != nil || line["steps"] == nil || line["us"] == nil {
		t.Errorf("JSON trace line %q: %v", first, err)
	}
}

// lifePhases are the phases --trace reports for each process, in the
// order each process goes through them (see stamp.Mark's callers).
var lifePhases = map[string][]string{
	"cell": {"start", "runtime", "main", "flags", "probe", "parse", "validate", "compile", "record", "parent-steps", "clone", "started", "wait", "teardown"},
	"init": {"runtime", "main", "plan", "steps", "exec"},
}

// TestTraceLife checks that --trace covers the whole life of a launch:
// every phase of cell's and of init's, each once, in order on the clock
// they share, init's between cell's clone and cell's wait.
func TestTraceLife(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	prof := profile(t, "")
	r := cell(t, "run", "--trace", "--log-format", "json", "-p", prof, "--", "true")
	if r.code != 0 {
		t.Fatal(r)
	}
	type phase struct {
		Msg   string `json:"msg"`
		Phase string `json:"phase"`
		Side  string `json:"side"`
		At    *int64 `json:"at_us"`
		Us    *int64 `json:"us"`
	}
	got := map[string][]string{}
	at := map[string]int64{}
	for line := range strings.Lines(r.stderr) {
		var p phase
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("trace line %q: %v", line, err)
		}
		if p.Msg != "phase" {
			continue
		}
		if p.At == nil || p.Us == nil || *p.Us < 0 {
			t.Errorf("phase record without at_us or with a negative us: %q", line)
			continue
		}
		key := p.Side + " " + p.Phase
		if _, dup := at[key]; dup {
			t.Errorf("phase %s reported twice", key)
		}
		if prev := got[p.Side]; len(prev) > 0 && *p.At < at[p.Side+" "+prev[len(prev)-1]] {
			t.Errorf("phase %s at %d µs, before %s", key, *p.At, prev[len(prev)-1])
		}
		got[p.Side] = append(got[p.Side], p.Phase)
		at[key] = *p.At
	}
	for _, side := range []string{"cell", "init"} {
		if !slices.Equal(lifePhases[side], got[side]) {
			t.Fatalf("%s's phases: got %v, want %v\n%s", side, got[side], lifePhases[side], r.stderr)
		}
	}
	if at["init runtime"] < at["cell clone"] || at["init exec"] > at["cell wait"] || at["cell start"] > at["cell runtime"] {
		t.Errorf("init's phases are not between cell's clone and wait, or cell's start is after its runtime: %v", at)
	}
}

func TestTimeout(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	prof := profile(t, "")
	// The command obeys SIGTERM: 124, as timeout(1).
	r := cell(t, "run", "--timeout", "300ms", "-p", prof, "--", "sleep", "30")
	if r.code != 124 || !strings.Contains(r.stderr, "cell: timeout: 300ms elapsed, sending SIGTERM") {
		t.Errorf("timeout: %s", r)
	}
	// It ignores SIGTERM: the sandbox is killed after the grace.
	start := time.Now()
	r = cell(t, "run", "--timeout", "300ms", "--kill-after", "300ms", "-p", prof, "--", "sh", "-c", "trap '' TERM; sleep 30")
	if r.code != 124 || !strings.Contains(r.stderr, "killing the sandbox") || time.Since(start) > 20*time.Second {
		t.Errorf("kill-after: %s", r)
	}
}

// TestPsKillWait names a running sandbox, finds it with ps, signals it
// with kill and waits for it with wait.
func TestPsKillWait(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	name := fmt.Sprintf("life-%d", time.Now().UnixNano()%1e9)
	cmd := cellCmd(t, "run", "--name", name, "-p", profile(t, ""), "--", "sh", "-c", `trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done`)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatal("sandbox did not start")
	}
	ps := cell(t, "ps", "--json")
	var rows []struct {
		Name string
		Pid  int
	}
	if err := json.Unmarshal([]byte(ps.stdout), &rows); err != nil {
		t.Fatalf("ps --json: %v\n%s", err, ps)
	}
	found := false
	for _, r := range rows {
		found = found || r.Name == name && r.Pid > 0
	}
	if !found {
		t.Fatalf("ps does not list %s: %s", name, ps.stdout)
	}
	if text := cell(t, "ps"); !strings.Contains(text.stdout, name) || !strings.HasPrefix(text.stdout, "NAME") {
		t.Errorf("ps: %s", text)
	}
	// cell wait, once it has found the record and holds a pidfd of the
	// sandbox's cell: a kill sent before that could end the sandbox
	// first, and wait would rightly find no sandbox of that name.
	wcmd := cellCmd(t, "wait", name)
	var wout, werr strings.Builder
	wcmd.Stdout, wcmd.Stderr = &wout, &werr
	if err := wcmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan cellResult, 1)
	go func() {
		err := wcmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		waited <- cellResult{code: code, stdout: wout.String(), stderr: werr.String()}
	}()
	holdsPidfd := func() bool {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", wcmd.Process.Pid))
		for _, e := range ents {
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", wcmd.Process.Pid, e.Name())); l == "anon_inode:[pidfd]" {
				return true
			}
		}
		return false
	}
	for start := time.Now(); !holdsPidfd(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 20*time.Second {
			t.Fatal("cell wait did not start waiting")
		}
	}
	if r := cell(t, "kill", name, "TERM"); r.code != 0 {
		t.Fatalf("kill: %s", r)
	}
	rest := ""
	for sc.Scan() {
		rest += sc.Text() + "\n"
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || rest != "got-term\n" {
		t.Errorf("after cell kill: %v, output %q; want the trap's exit 3", err, rest)
	}
	select {
	case r := <-waited:
		if r.code != 0 {
			t.Errorf("wait: %s", r)
		}
	case <-time.After(20 * time.Second):
		t.Error("cell wait did not return after the sandbox ended")
	}
	if r := cell(t, "kill", name); r.code == 0 {
		t.Error("kill of an ended sandbox succeeded")
	}
}

// TestStatuses checks cell's own exit statuses against the command's.
func TestStatuses(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	dir := t.TempDir()
	bad := dir + "/bad.yaml"
	writeFile(t, bad, "apiVersion: cell/v1\nname: bad\nnope: 1\n")
	missing := dir + "/missing.yaml"
	writeFile(t, missing, "apiVersion: cell/v1\nname: m\nfilesystem:\n  mounts: [{type: bind, source: /no/such, target: /x}]\n")
	for _, tt := range []struct {
		name string
		args []string
		code int
	}{
		{"invalid profile", []string{"run", "-p", bad, "--", "true"}, StatusProfile},
		{"validate", []string{"validate", bad}, StatusProfile},
		{"usage", []string{"run", "--no-such-flag"}, StatusProfile},
		{"setup", []string{"run", "-p", missing, "--", "true"}, StatusSetup},
		{"the command's own", []string{"run", "-p", profile(t, ""), "--", "sh", "-c", "exit 7"}, 7},
	} {
		if r := cell(t, tt.args...); r.code != tt.code {
			t.Errorf("%s: exit %d, want %d: %s", tt.name, r.code, tt.code, r)
		}
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestExec runs a command in a running sandbox and checks it is inside
// every defence of the sandbox's own: the same namespaces, uid map,
// seccomp mode, capabilities and no_new_privs.
func TestExec(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	name := fmt.Sprintf("exec-%d", time.Now().UnixNano()%1e9)
	facts := `for n in user mnt pid net uts ipc cgroup time; do readlink /proc/self/ns/$n; done; cat /proc/self/uid_map; grep -E '^(Seccomp|CapEff|CapBnd|NoNewPrivs):' /proc/self/status`
	cmd := cellCmd(t, "run", "--name", name, "-p", profile(t, ""), "--", "sh", "-c", facts+"; echo ready; sleep 30")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	var original []string
	for sc.Scan() && sc.Text() != "ready" {
		original = append(original, sc.Text())
	}
	if len(original) < 12 {
		t.Fatalf("the sandbox said %q", original)
	}
	r := cell(t, "exec", name, "--", "sh", "-c", facts)
	if r.code != 0 {
		t.Fatalf("exec: %s", r)
	}
	if got := strings.Split(strings.TrimSpace(r.stdout), "\n"); strings.Join(got, "\n") != strings.Join(original, "\n") {
		t.Errorf("exec'd command:\n%s\nwant what the sandbox's command has:\n%s", strings.Join(got, "\n"), strings.Join(original, "\n"))
	}
	if r := cell(t, "exec", name, "--", "sh", "-c", "exit 9"); r.code != 9 {
		t.Errorf("exit status through exec: %s", r)
	}
	if r := cell(t, "exec", name, "--", "no-such-command"); r.code != StatusNotFound {
		t.Errorf("missing command through exec: %s", r)
	}
}

// startPool starts a pool of size 2 of the test profile (plus sets) and
// returns its name and process.
func startPool(t testing.TB, sets ...string) (string, *exec.Cmd) {
	t.Helper()
	name := fmt.Sprintf("pool%d", time.Now().UnixNano()%1e9)
	args := []string{"pool", "start", "-p", profile(t, ""), "--name", name, "--size", "2"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	pool := cellCmd(t, args...)
	out, _ := pool.StdoutPipe()
	if err := pool.Start(); err != nil {
		t.Fatal(err)
	}
	// Stopped as cell pool stop does, so that its sandboxes' cgroups
	// and records go; killed only if it does not stop.
	t.Cleanup(func() {
		exited := make(chan struct{})
		go func() { pool.Wait(); close(exited) }()
		pool.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("pool %s did not stop on SIGTERM", name)
			pool.Process.Kill()
			<-exited
		}
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "pool "+name+": 2 sandboxes") {
		t.Fatalf("pool did not start: %q", sc.Text())
	}
	return name, pool
}

// TestPool runs commands in a pool's sandboxes, each used once, and stops
// the pool while a command runs: that command ends as it would have, and
// nothing is left.
func TestPool(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	name, pool := startPool(t, "resources.parent="+parent, "resources.pids.max=64")
	seen := map[string]bool{}
	for i := range 3 {
		r := cell(t, "run", "--pool", name, "--", "sh", "-c", fmt.Sprintf("grep Seccomp: /proc/self/status; cat /proc/sys/kernel/hostname; readlink /proc/self/ns/pid; exit %d", i))
		lines := strings.Split(r.stdout, "\n")
		if r.code != i || len(lines) != 4 || lines[0] != "Seccomp:\t2" || lines[1] != "testbox" {
			t.Errorf("pooled run %d: %s", i, r)
		} else if seen[lines[2]] {
			t.Errorf("pooled run %d reused a sandbox (%s)", i, lines[2])
		} else {
			seen[lines[2]] = true
		}
	}
	if r := cell(t, "run", "--pool", name, "--", "no-such-command"); r.code != StatusNotFound {
		t.Errorf("missing command in a pool: %s", r)
	}
	// In flight at stop: it runs to its end.
	busy := cellCmd(t, "run", "--pool", name, "--", "sh", "-c", "echo started; sleep 1; exit 5")
	out, _ := busy.StdoutPipe()
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "started" {
		t.Fatal("the in-flight command did not start")
	}
	if r := cell(t, "pool", "stop", name); r.code != 0 {
		t.Errorf("pool stop: %s", r)
	}
	if err := busy.Wait(); busy.ProcessState.ExitCode() != 5 {
		t.Errorf("the command in flight at stop: %v", err)
	}
	if err := pool.Wait(); err != nil {
		t.Errorf("pool exit: %v", err)
	}
	if left, _ := filepath.Glob("/run/cell/*" + name + "*"); len(left) > 0 {
		t.Errorf("left in the state directory: %v", left)
	}
}

// TestPoolKilled SIGKILLs a pool's daemon: its sandboxes die with it and
// cell gc removes their records and cgroups.
func TestPoolKilled(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	name, pool := startPool(t, "resources.parent="+parent, "resources.pids.max=64")
	pool.Process.Kill()
	pool.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cell(t, "gc")
		left, _ := filepath.Glob("/run/cell/*" + name + "*")
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the pool was killed, gc left %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := cell(t, "run", "--pool", name, "--", "true"); r.code == 0 {
		t.Errorf("a run in a killed pool succeeded: %s", r)
	}
}

// TestLifeTraceInitFirst checks that init's phases, when they reach the
// tracer before cell's first (they come on another goroutine), are held
// and printed against cell's origin, not taken as the origin.
func TestLifeTraceInitFirst(t *testing.T) {
	var out strings.Builder
	tr := tracer(&plan.Plan{Name: "x"}, &out, true)
	const base = int64(1_000_000_000_000)
	tr(sandbox.Trace{Phases: []stamp.Stamp{{Name: "runtime", Side: "init", Unix: base + 5_000_000}}})
	if out.Len() != 0 {
		t.Fatalf("init's phases printed before cell's origin is known: %s", out.String())
	}
	tr(sandbox.Trace{Phases: []stamp.Stamp{{Name: "runtime", Side: "cell", Unix: base}, {Name: "clone", Side: "cell", Unix: base + 4_000_000}}})
	at := map[string]int64{}
	for line := range strings.Lines(out.String()) {
		var r struct {
			Phase, Side string
			At          int64 `json:"at_us"`
			NS          int64 `json:"ns"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		at[r.Side+" "+r.Phase] = r.At
	}
	if at["cell runtime"] != 0 || at["cell clone"] != 4000 || at["init runtime"] != 5000 {
		t.Errorf("at_us: %v, want cell runtime 0, cell clone 4000, init runtime 5000\n%s", at, out.String())
	}
}
