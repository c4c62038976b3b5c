package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/internal/testenv"
)

// asUser is cell as the unprivileged user celltest: a copy of the test
// binary it can run, a rootless profile and a working directory of its
// own, and no XDG_RUNTIME_DIR (as after su -, or from cron).
type asUser struct {
	uid, gid  uint32
	bin, prof string
	work      string
}

func newAsUser(t *testing.T) *asUser {
	t.Helper()
	requirePrivilege(t)
	u := &asUser{}
	u.uid, u.gid = testenv.Other(t)
	dir, err := os.MkdirTemp("/var/tmp", "cell-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	self, _ := os.Executable()
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	u.bin = filepath.Join(dir, "cell")
	if err := os.WriteFile(u.bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	u.work = filepath.Join(dir, "work")
	os.Mkdir(u.work, 0o755)
	os.Chown(u.work, int(u.uid), int(u.gid))
	u.prof = filepath.Join(dir, "p.yaml")
	os.WriteFile(u.prof, []byte(strings.Replace(fmt.Sprintf(baseProfile, u.bin), "name: test\n", "name: test\nids: {uid: \"${UID}\", gid: \"${GID}\"}\n", 1)), 0o644)
	return u
}

func (u *asUser) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(u.bin, args...)
	cmd.Args[0] = "cell"
	cmd.Env = []string{"CELL_TEST_MAIN=1", "HOME=/", "USER=celltest", "PATH=/usr/bin:/bin"}
	cmd.Dir = u.work
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}}
	return cmd
}

// TestNoRuntimeDir: without XDG_RUNTIME_DIR a user's sandboxes are
// recorded in a private directory of the user's, with a notice, and a
// directory there that others can use is refused.
func TestNoRuntimeDir(t *testing.T) {
	u := newAsUser(t)
	dir := state.FallbackDir(int(u.uid))
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	name := fmt.Sprintf("fallback-%d", os.Getpid())
	run := u.cmd("run", "-T", "--name", name, "-p", u.prof, "--", "sleep", "3")
	var runErr strings.Builder
	run.Stderr = &runErr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill(); run.Wait() })
	var listed bool
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && !listed; time.Sleep(50 * time.Millisecond) {
		r := runCellCmd(t, u.cmd("ps", "--json"))
		var rows []struct{ Name string }
		if json.Unmarshal([]byte(r.stdout), &rows) == nil {
			for _, x := range rows {
				listed = listed || x.Name == name
			}
		}
	}
	if !listed {
		t.Errorf("cell ps does not list the named sandbox %s run without XDG_RUNTIME_DIR", name)
	}
	if err := run.Wait(); err != nil {
		t.Fatalf("named run without XDG_RUNTIME_DIR: %v: %s", err, runErr.String())
	}
	if want := "cell: notice: XDG_RUNTIME_DIR is not set; the state of your sandboxes is kept in " + dir; !strings.Contains(runErr.String(), want) {
		t.Errorf("stderr %q lacks %q", runErr.String(), want)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil || st.Uid != u.uid || st.Mode&0o7777 != 0o700 || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		t.Fatalf("%s: uid %d mode %o (%v), want a directory of uid %d, mode 0700", dir, st.Uid, st.Mode, err, u.uid)
	}
	// One that others can enter, or another user's, is refused.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := runCellCmd(t, u.cmd("ps"))
	os.Chmod(dir, 0o700)
	if r.code != 1 || !strings.Contains(r.stderr, "mode 0755 and lets its group or others in") {
		t.Errorf("a fallback directory of mode 0755: %s", r)
	}
}

// TestPsFrozenDeadDamaged: ps shows a frozen sandbox as frozen and a
// dead record as dead (with cell gc as the hint); exec into a frozen
// sandbox is refused at once; a damaged record makes neither ps nor gc
// fail.
func TestPsFrozenDeadDamaged(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	name := fmt.Sprintf("t-%d", time.Now().UnixNano()%1e9)
	startNamed(t, name, "resources.parent="+parent, "resources.pids.max=64")
	// Records as a killed cell and a crash mid-write leave them.
	dead, damaged := "/run/cell/"+name+"-dead.json", "/run/cell/"+name+"-damaged.json"
	t.Cleanup(func() { os.Remove(dead); os.Remove(damaged) })
	if err := os.WriteFile(dead, []byte(`{"name":"`+name+`-dead","profile":"test","pid":0,"cellPid":0}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(damaged, []byte(`{"name":"`+name+`-dam`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := cell(t, "freeze", name); r.code != 0 {
		t.Fatalf("freeze: %s", r)
	}
	t.Cleanup(func() { cell(t, "thaw", name) }) // before startNamed's kill
	r := cell(t, "ps")
	if r.code != 0 {
		t.Errorf("ps with a damaged record: %s", r)
	}
	if !regexp.MustCompile(`(?m)^` + name + `\s+frozen\s`).MatchString(r.stdout) {
		t.Errorf("ps does not show %s frozen: %s", name, r)
	}
	if !regexp.MustCompile(`(?m)^` + name + `-dead\s+dead\s`).MatchString(r.stdout) {
		t.Errorf("ps does not show the dead record: %s", r)
	}
	if !strings.Contains(r.stderr, "cell gc removes") || !strings.Contains(r.stderr, "cell: warning: state: "+damaged) {
		t.Errorf("ps: no hint of gc or warning of the damaged record: %s", r)
	}
	var rows []struct{ Name, State string }
	if r := cell(t, "ps", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil {
		t.Errorf("ps --json: %s", r)
	}
	states := map[string]string{}
	for _, x := range rows {
		states[x.Name] = x.State
	}
	if states[name] != "frozen" || states[name+"-dead"] != "dead" {
		t.Errorf("ps --json states: %v", states)
	}

	cmd := cellCmd(t, "exec", "-T", name, "--", "true")
	// The frozen command would hold the output pipes that cell exec
	// handed it: Wait must not wait for them after the kill.
	cmd.WaitDelay = 2 * time.Second
	timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
	r = runCellCmd(t, cmd)
	timer.Stop()
	if want := name + " is frozen; cell thaw " + name + " first"; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("exec into a frozen sandbox: want status 1 and %q: %s", want, r)
	}
	if r := cell(t, "thaw", name); r.code != 0 {
		t.Fatalf("thaw: %s", r)
	}
	if r := cell(t, "exec", "-T", name, "--", "true"); r.code != 0 {
		t.Errorf("exec after thaw: %s", r)
	}
	r = cell(t, "gc")
	if r.code != 0 || !strings.Contains(r.stdout, "removed "+name+"-dead") || !strings.Contains(r.stderr, "cell: warning: state: "+damaged) {
		t.Errorf("gc with a damaged record: %s", r)
	}
	if _, err := os.Stat(damaged); err != nil {
		t.Errorf("gc removed the damaged record, whose cgroup is unknown: %v", err)
	}
}

// TestUpdateBelowUsage: a memory limit below what the sandbox uses and
// cannot give back is refused with the usage and the reason, not a bare
// EBUSY. (cgroup v2 takes such a limit and reclaims or OOM-kills.)
func TestUpdateBelowUsage(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	name := fmt.Sprintf("t-%d", time.Now().UnixNano()%1e9)
	args := []string{"run", "-p", profile(t, ""), "--name", name, "--set", "resources.parent=" + parent,
		"--set", "resources.memory.max=256Mi", "--set", "filesystem.mounts[+]={type: tmpfs, target: /tmp}",
		"--", "sh", "-c", "head -c 24000000 /dev/zero > /tmp/f; echo ready; exec sleep 60"}
	cmd := cellCmd(t, args...)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "ready" {
		t.Fatal("sandbox did not start")
	}
	r := cell(t, "update", "--memory-max", "4Mi", name)
	if r.code == 0 {
		if dirExists("/sys/fs/cgroup/memory") {
			t.Fatalf("a v1 memory limit below unreclaimable usage was taken: %s", r)
		}
		t.Skipf("cgroup v2 takes a limit below usage: %s", r)
	}
	if !regexp.MustCompile(`update: the sandbox uses 2\d\.\d MiB of memory now, more than the new limit of 4.0 MiB, and the kernel could not reclaim the difference`).MatchString(r.stderr) ||
		!strings.Contains(r.stderr, "cell: hint: give a limit above") {
		t.Errorf("update below usage: %s", r)
	}
}

// TestClosedOutput: cell run --trace ... | head -1 closes cell's output
// early; cell must not die of SIGPIPE but tear the sandbox down: no
// record and no cgroup remain.
func TestClosedOutput(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	name := fmt.Sprintf("t-%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { os.Remove("/run/cell/" + name + ".json") })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	cmd := cellCmd(t, "run", "-T", "--trace", "--name", name, "-p", profile(t, ""),
		"--set", "resources.parent="+parent, "--set", "resources.pids.max=64",
		"--", "sh", "-c", "echo one; sleep 0.2; echo two")
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Run()
	w.Close()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Errorf("cell was killed by %v writing to a closed pipe", ws.Signal())
		}
	}
	if _, err := os.Stat("/run/cell/" + name + ".json"); err == nil {
		t.Error("the record of the sandbox remains")
	}
	if left := sandboxCgroups(parent, name); len(left) > 0 {
		t.Errorf("cgroups remain: %v", left)
	}
}

// TestPoolTimeout: --timeout belongs to the run, pooled or not: SIGTERM,
// then the command is killed after --kill-after; cell exits 124.
func TestPoolTimeout(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	name, _ := startPool(t, "resources.parent="+parent, "resources.pids.max=64")
	r := cell(t, "run", "-T", "--pool", name, "--timeout", "0.3", "--", "sleep", "30")
	if r.code != 124 || !strings.Contains(r.stderr, "cell: timeout: 300ms elapsed, sending SIGTERM") {
		t.Errorf("pooled run with --timeout: %s", r)
	}
	start := time.Now()
	r = cell(t, "run", "-T", "--pool", name, "--timeout", "300ms", "--kill-after", "0.3", "--", "sh", "-c", "trap '' TERM; sleep 30")
	if r.code != 124 || !strings.Contains(r.stderr, "killing the command") || time.Since(start) > 20*time.Second {
		t.Errorf("pooled run with --kill-after: %s", r)
	}
	if r := cell(t, "run", "-T", "--pool", name, "--timeout", "10", "--", "true"); r.code != 0 {
		t.Errorf("pooled run that ends in time: %s", r)
	}
}

// TestKeepUpperAgain: --keep-upper DIR used twice keeps each run's layers
// in a directory of its own, DIR/1 and DIR/2.
func TestKeepUpperAgain(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	lower, keep := t.TempDir(), t.TempDir()
	set := fmt.Sprintf("filesystem.mounts[+]={type: overlay, target: /w, lower: [%s], size: 4Mi}", lower)
	for run := 1; run <= 2; run++ {
		r := cell(t, "run", "-T", "-p", profile(t, ""), "--keep-upper", keep, "--set", set, "--", "sh", "-c", fmt.Sprintf("echo %d > /w/result", run))
		if r.code != 0 || strings.Contains(r.stderr, "/oldroot") {
			t.Fatalf("run %d with --keep-upper %s: %s", run, keep, r)
		}
		dir := filepath.Join(keep, fmt.Sprint(run))
		if !strings.Contains(r.stderr, "cell: the overlays' upper layers are kept in "+dir+"\n") {
			t.Errorf("run %d does not say where its layers are: %s", run, r)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "0", "upper", "result")); err != nil || string(b) != fmt.Sprintf("%d\n", run) {
			t.Errorf("run %d: %q %v", run, b, err)
		}
	}
}
