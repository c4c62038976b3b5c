package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/testenv"
)

// buildRuntime builds cell-oci once per test binary run.
func buildRuntime(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cell-oci")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// bundle makes a bundle of the host's static busybox with a config.json
// running args; edit changes the config before it is written.
func bundle(t *testing.T, args []string, edit func(map[string]any)) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		testenv.Skip(t, "no busybox (apt-get install busybox-static)")
	}
	if out, err := exec.Command("ldd", bb).CombinedOutput(); err == nil {
		testenv.Skip(t, "busybox is not static: "+string(out))
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "cat", "echo", "sleep", "hostname", "ls", "id", "true"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := map[string]any{
		"ociVersion": "1.0.2",
		"root":       map[string]any{"path": "rootfs"},
		"hostname":   "box",
		"process": map[string]any{
			"args": args, "cwd": "/", "env": []string{"PATH=/bin"},
			"user": map[string]any{"uid": 0, "gid": 0},
		},
		"mounts": []any{
			map[string]any{"destination": "/proc", "type": "proc", "source": "proc"},
			map[string]any{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "mode=755"}},
			map[string]any{"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
		},
		"linux": map[string]any{
			"namespaces": []any{
				map[string]any{"type": "pid"}, map[string]any{"type": "mount"}, map[string]any{"type": "uts"},
				map[string]any{"type": "ipc"}, map[string]any{"type": "network"},
			},
		},
	}
	if edit != nil {
		edit(cfg)
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

type rt struct {
	t         *testing.T
	bin, root string
}

func newRT(t *testing.T) *rt {
	testenv.Root(t)
	return &rt{t: t, bin: buildRuntime(t), root: t.TempDir()}
}

// run runs the runtime and returns its stdout; failing is fatal unless
// fail says it is expected (then stderr comes back).
func (r *rt) run(fail bool, args ...string) string {
	r.t.Helper()
	// Files, not pipes: create hands its stdout and stderr to the
	// container, which keeps a pipe open after create has exited.
	cmd := exec.Command(r.bin, append([]string{"--root", r.root}, args...)...)
	dir := r.t.TempDir()
	stdoutF, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer stdoutF.Close()
	stderrF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer stderrF.Close()
	cmd.Stdout, cmd.Stderr = stdoutF, stderrF
	err = cmd.Run()
	stdout, _ := os.ReadFile(stdoutF.Name())
	stderr, _ := os.ReadFile(stderrF.Name())
	switch {
	case fail && err == nil:
		r.t.Fatalf("cell-oci %s succeeded; want an error (stdout %q)", strings.Join(args, " "), stdout)
	case fail:
		return string(stderr)
	case err != nil:
		r.t.Fatalf("cell-oci %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(stdout)
}

func (r *rt) state(id string) map[string]any {
	r.t.Helper()
	var st map[string]any
	if err := json.Unmarshal([]byte(r.run(false, "state", id)), &st); err != nil {
		r.t.Fatal(err)
	}
	return st
}

// subreaper makes the test process a child subreaper, as containerd's
// shim and conmon are: a container's init is reparented to it.
func subreaper(t *testing.T) {
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		runtime.UnlockOSThread()
	})
}

// waitPid reaps pid (a process reparented to the test) and returns its
// wait status.
func waitPid(t *testing.T, pid int) unix.WaitStatus {
	t.Helper()
	var ws unix.WaitStatus
	done := make(chan error, 1)
	go func() {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("wait4 %d: %v", pid, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("pid %d did not end", pid)
	}
	return ws
}

// TestLifecycle: create leaves init (whose pid the pid file and state
// give) for the caller to reap, start runs the process, whose exit
// status is init's, and delete removes the container.
func TestLifecycle(t *testing.T) {
	r := newRT(t)
	subreaper(t)
	out := filepath.Join(t.TempDir(), "out")
	b := bundle(t, []string{"sh", "-c", "echo started; hostname; exit 7"}, nil)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := exec.Command(r.bin, "--root", r.root, "create", "--bundle", b, "--pid-file", pidFile, "c1")
	cmd.Stdout, cmd.Stderr = f, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { exec.Command(r.bin, "--root", r.root, "delete", "--force", "c1").Run() })
	st := r.state("c1")
	pidData, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(pidData))
	if st["status"] != "created" || int(st["pid"].(float64)) != pid || st["bundle"] != b {
		t.Fatalf("state after create: %v (pid file %d)", st, pid)
	}
	if data, _ := os.ReadFile(out); len(data) != 0 {
		t.Fatalf("the process ran before start: %q", data)
	}
	if msg := r.run(true, "delete", "c1"); !strings.Contains(msg, "not stopped") {
		t.Errorf("delete of a created container: %q, want it refused", msg)
	}
	if got := r.run(false, "list", "-q"); got != "c1\n" {
		t.Errorf("list -q: %q, want the ID alone", got)
	}
	r.run(false, "start", "c1")
	ws := waitPid(t, pid)
	if !ws.Exited() || ws.ExitStatus() != 7 {
		t.Errorf("init's status %v, want exit 7 (the process's)", ws)
	}
	if got := r.state("c1")["status"]; got != "stopped" {
		t.Errorf("status %v after the process ended, want stopped", got)
	}
	if data, _ := os.ReadFile(out); string(data) != "started\nbox\n" {
		t.Errorf("the process wrote %q, want started and its hostname", data)
	}
	r.run(false, "delete", "c1")
	if msg := r.run(true, "state", "c1"); !strings.Contains(msg, "does not exist") {
		t.Errorf("state of a deleted container: %q, want \"does not exist\"", msg)
	}
}

// TestExecReapable: exec --detach leaves a process that the caller reaps
// with the exec'd command's status; a signal to it reaches the command.
func TestExecReapable(t *testing.T) {
	r := newRT(t)
	subreaper(t)
	b := bundle(t, []string{"sleep", "60"}, nil)
	r.run(false, "create", "--bundle", b, "c2")
	t.Cleanup(func() { exec.Command(r.bin, "--root", r.root, "delete", "--force", "c2").Run() })
	r.run(false, "start", "c2")
	proc := func(args ...string) string {
		p := filepath.Join(t.TempDir(), "process.json")
		b, _ := json.Marshal(map[string]any{"args": args, "cwd": "/", "env": []string{"PATH=/bin"}, "user": map[string]any{"uid": 0, "gid": 0}})
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	r.run(false, "exec", "--process", proc("sh", "-c", "exit 5"), "--detach", "--pid-file", pidFile, "c2")
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(string(data))
	if ws := waitPid(t, pid); !ws.Exited() || ws.ExitStatus() != 5 {
		t.Errorf("exec'd process's status %v, want exit 5", ws)
	}
	r.run(false, "exec", "--process", proc("sleep", "30"), "--detach", "--pid-file", pidFile, "c2")
	data, _ = os.ReadFile(pidFile)
	pid, _ = strconv.Atoi(string(data))
	time.Sleep(300 * time.Millisecond)
	if err := unix.Kill(pid, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ws := waitPid(t, pid); !ws.Signaled() || ws.Signal() != unix.SIGTERM {
		t.Errorf("exec'd process's status %v, want killed by SIGTERM", ws)
	}
	// Without --detach, exec's own status is the command's.
	cmd := exec.Command(r.bin, "--root", r.root, "exec", "--process", proc("sh", "-c", "echo hi; exit 3"), "c2")
	outb, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || string(outb) != "hi\n" {
		t.Errorf("exec: %v, output %q; want exit status 3 and hi", err, outb)
	}
	var pids []int
	if err := json.Unmarshal([]byte(r.run(false, "ps", "--format", "json", "c2")), &pids); err != nil || len(pids) < 2 {
		t.Errorf("ps: %v %v, want init and sleep", pids, err)
	}
	init := int(r.state("c2")["pid"].(float64))
	r.run(false, "kill", "c2", "KILL")
	waitPid(t, init)
	r.run(false, "delete", "c2")
}

// TestConsoleSocket: with process.terminal, create sends a pty master to
// the console socket, and the process has the pty as its terminal.
func TestConsoleSocket(t *testing.T) {
	r := newRT(t)
	subreaper(t)
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan *os.File, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- nil
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if len(msgs) != 1 {
			got <- nil
			return
		}
		fds, _ := unix.ParseUnixRights(&msgs[0])
		got <- os.NewFile(uintptr(fds[0]), "master")
	}()
	b := bundle(t, []string{"sh", "-c", "test -t 0 && echo tty-yes"}, func(c map[string]any) {
		c["process"].(map[string]any)["terminal"] = true
	})
	r.run(false, "create", "--bundle", b, "--console-socket", sock, "c3")
	t.Cleanup(func() { exec.Command(r.bin, "--root", r.root, "delete", "--force", "c3").Run() })
	master := <-got
	if master == nil {
		t.Fatal("no pty master came to the console socket")
	}
	defer master.Close()
	pid := int(r.state("c3")["pid"].(float64))
	r.run(false, "start", "c3")
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		b := make([]byte, 256)
		for {
			n, err := master.Read(b)
			buf.Write(b[:n])
			if err != nil || strings.Contains(buf.String(), "tty-yes") {
				close(done)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	if !strings.Contains(buf.String(), "tty-yes") {
		t.Errorf("the process's output on the pty: %q, want tty-yes", buf.String())
	}
	waitPid(t, pid)
}

// TestRefusals: what cell cannot apply is an error at its place in
// config.json; an unknown key is ignored; --systemd-cgroup is refused.
func TestRefusals(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"true"}, func(c map[string]any) {
		c["linux"].(map[string]any)["intelRdt"] = map[string]string{"closID": "x"}
		c["someFutureKey"] = true
	})
	msg := r.run(true, "create", "--bundle", b, "c4")
	if !strings.Contains(msg, "config.json:") || !strings.Contains(msg, "linux.intelRdt") || strings.Contains(msg, "someFutureKey") {
		t.Errorf("create: %q, want linux.intelRdt refused at its position and the unknown key ignored", msg)
	}
	if _, err := os.Stat(filepath.Join(r.root, "c4")); !os.IsNotExist(err) {
		t.Errorf("a refused create left its state: %v", err)
	}
	// delete of a container that is gone fails, unless forced (as
	// runc's: containerd's shim deletes once more when it cleans up).
	if msg := r.run(true, "delete", "c4"); !strings.Contains(msg, "does not exist") {
		t.Errorf("delete of no container: %q, want \"does not exist\"", msg)
	}
	r.run(false, "delete", "--force", "c4")
	if msg := r.run(true, "--systemd-cgroup", "state", "c4"); !strings.Contains(msg, "cgroupfs") {
		t.Errorf("--systemd-cgroup: %q, want it refused", msg)
	}
	var f map[string]any
	if err := json.Unmarshal([]byte(r.run(false, "features")), &f); err != nil || f["ociVersionMin"] == nil {
		t.Errorf("features: %v %v", f, err)
	}
}

// TestLongStatePath: a state directory whose monitor socket's path is
// longer than a sockaddr_un holds (containerd's CRI: /run/containerd/
// runc/k8s.io/ and a 64-character ID) still works.
func TestLongStatePath(t *testing.T) {
	r := newRT(t)
	r.root = filepath.Join(r.root, strings.Repeat("r", 40))
	id := strings.Repeat("0123456789abcdef", 4)
	if n := len(filepath.Join(r.root, id, "monitor.sock")); n <= 108 {
		t.Fatalf("the socket's path is %d bytes, which fits a sockaddr_un", n)
	}
	b := bundle(t, []string{"sh", "-c", "echo long; exit 3"}, nil)
	out, err := exec.Command(r.bin, "--root", r.root, "run", "--bundle", b, id).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || string(out) != "long\n" {
		t.Errorf("run: %v, output %q; want exit status 3 and long", err, out)
	}
	if _, err := os.Stat(filepath.Join(r.root, id)); !os.IsNotExist(err) {
		t.Errorf("the container's state outlived run: %v", err)
	}
}

// TestCgroupControl: ps, pause, resume, update and kill --all act on
// the container's cgroup (through launcher's Cgroup), with the answers
// that callers read: ps's JSON array of host pids, the paused status,
// update's refusals, and kill --all ending every process.
func TestCgroupControl(t *testing.T) {
	r := newRT(t)
	subreaper(t)
	parent := fmt.Sprintf("cell-test-%d", os.Getpid())
	t.Cleanup(func() { removeTestCgroups(parent) })
	b := bundle(t, []string{"sh", "-c", "sleep 60 & sleep 60"}, func(c map[string]any) {
		linux(c)["cgroupsPath"] = "/" + parent + "/ctl"
		linux(c)["resources"] = map[string]any{"pids": map[string]any{"limit": 64}}
	})
	r.run(false, "create", "--bundle", b, "c5")
	t.Cleanup(func() { exec.Command(r.bin, "--root", r.root, "delete", "--force", "c5").Run() })
	r.run(false, "start", "c5")
	init := int(r.state("c5")["pid"].(float64))

	var pids []int
	for deadline := time.Now().Add(10 * time.Second); len(pids) < 3; time.Sleep(10 * time.Millisecond) {
		if err := json.Unmarshal([]byte(r.run(false, "ps", "--format", "json", "c5")), &pids); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("ps: %v, want init, sh and its two sleeps", pids)
		}
	}
	if !slices.Contains(pids, init) {
		t.Errorf("ps: %v does not hold init (%d)", pids, init)
	}

	r.run(false, "pause", "c5")
	if st := r.state("c5")["status"]; st != "paused" {
		t.Errorf("status after pause: %v", st)
	}
	if msg := r.run(true, "pause", "c5"); !strings.Contains(msg, "container c5 is paused") {
		t.Errorf("pause of a paused container: %q", msg)
	}
	r.run(false, "resume", "c5")
	if st := r.state("c5")["status"]; st != "running" {
		t.Errorf("status after resume: %v", st)
	}

	pidsMax := filepath.Join("/sys/fs/cgroup/pids", parent, "ctl", "pids.max")
	if _, err := os.Stat(pidsMax); err != nil {
		pidsMax = filepath.Join("/sys/fs/cgroup", parent, "ctl", "pids.max")
	}
	update := func(fail bool, res string) string {
		f := filepath.Join(t.TempDir(), "resources.json")
		if err := os.WriteFile(f, []byte(res), 0o644); err != nil {
			t.Fatal(err)
		}
		return r.run(fail, "update", "--resources", f, "c5")
	}
	update(false, `{"pids": {"limit": 7}}`)
	if b, err := os.ReadFile(pidsMax); err != nil || strings.TrimSpace(string(b)) != "7" {
		t.Errorf("pids.max after update: %q %v, want 7", b, err)
	}
	if msg := update(true, `{"pids": {"limit": 9}, "memory": {"swap": 1048576}}`); !strings.Contains(msg, "memory.swap (memory plus swap) needs memory.limit") {
		t.Errorf("update with swap and no memory limit: %q, want it refused", msg)
	}
	if b, _ := os.ReadFile(pidsMax); strings.TrimSpace(string(b)) != "7" {
		t.Errorf("pids.max after a refused update: %q, want 7 still", b)
	}

	r.run(false, "kill", "--all", "c5", "KILL")
	waitPid(t, init)
	for _, p := range pids {
		if err := unix.Kill(p, 0); err == nil {
			t.Errorf("pid %d of the container lives after kill --all", p)
		}
	}
	if got := strings.TrimSpace(r.run(false, "ps", "--format", "json", "c5")); got != "[]" {
		t.Errorf("ps of a stopped container: %s, want []", got)
	}
	r.run(false, "delete", "c5")
}

// TestKillAll: kill --all with a signal other than SIGKILL reaches every
// process of the container's cgroup, as runc's does, not only its
// process (which here ignores it: only its child ending lets it exit);
// without a cgroup of its own it is refused, not sent to one process.
func TestKillAll(t *testing.T) {
	r := newRT(t)
	subreaper(t)
	parent := fmt.Sprintf("cell-test-%d", os.Getpid())
	t.Cleanup(func() { removeTestCgroups(parent) })
	b := bundle(t, []string{"sh", "-c", `trap "" TERM; (trap - TERM; exec sleep 60) & wait $!; exit $?`}, func(c map[string]any) {
		linux(c)["cgroupsPath"] = "/" + parent + "/all"
		linux(c)["resources"] = map[string]any{"pids": map[string]any{"limit": 64}}
	})
	r.run(false, "create", "--bundle", b, "k1")
	t.Cleanup(func() { exec.Command(r.bin, "--root", r.root, "delete", "--force", "k1").Run() })
	r.run(false, "start", "k1")
	init := int(r.state("k1")["pid"].(float64))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var pids []int
		if err := json.Unmarshal([]byte(r.run(false, "ps", "--format", "json", "k1")), &pids); err != nil {
			t.Fatal(err)
		}
		if len(pids) >= 3 { // init, sh, sleep
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ps: %v, want init, sh and sleep", pids)
		}
	}
	r.run(false, "kill", "--all", "k1", "TERM")
	if ws := waitPid(t, init); !ws.Exited() || ws.ExitStatus() != 128+int(unix.SIGTERM) {
		t.Errorf("init's status %#x, want exit 143 (sleep ended by SIGTERM, its status passed on)", ws)
	}
	r.run(false, "delete", "k1")

	b = bundle(t, []string{"sleep", "60"}, nil)
	r.run(false, "create", "--bundle", b, "k2")
	t.Cleanup(func() { exec.Command(r.bin, "--root", r.root, "delete", "--force", "k2").Run() })
	r.run(false, "start", "k2")
	init = int(r.state("k2")["pid"].(float64))
	if msg := r.run(true, "kill", "--all", "k2", "TERM"); !strings.Contains(msg, "the container has no cgroup of its own") {
		t.Errorf("kill --all without a cgroup: %q, want refused", msg)
	}
	r.run(false, "kill", "--all", "k2", "KILL")
	waitPid(t, init)
}

// TestUpdateHugetlbNetwork: update changes limits a container's cgroups
// can take, and refuses, naming them, huge page limits and a traffic
// class its cgroups were not made with (a v1 hierarchy cannot be added
// to a running container), and a class of 0 (cell does not clear one).
func TestUpdateHugetlbNetwork(t *testing.T) {
	r := newRT(t)
	parent := fmt.Sprintf("cell-test-%d-upd", os.Getpid())
	t.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
		for _, d := range dirs {
			if err := os.Remove(d); err != nil {
				t.Errorf("remove the test's cgroup parent: %v", err)
			}
		}
	})
	b := bundle(t, []string{"sleep", "60"}, func(c map[string]any) {
		l := c["linux"].(map[string]any)
		l["cgroupsPath"] = "/" + parent + "/c6"
		l["resources"] = map[string]any{"pids": map[string]any{"limit": 64}}
	})
	r.run(false, "create", "--bundle", b, "c6")
	t.Cleanup(func() { r.run(false, "delete", "--force", "c6") })
	res := func(s string) string {
		f := filepath.Join(t.TempDir(), "resources.json")
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	r.run(false, "update", "--resources", res(`{"pids": {"limit": 32}}`), "c6")
	for _, tc := range []struct{ json, want string }{
		{`{"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}`, "hugetlb.2MB: the sandbox's cgroup has no hugetlb controller"},
		{`{"network": {"classID": 7}}`, "netClassID: the sandbox's cgroup has no net_cls controller"},
		{`{"network": {"classID": 0}}`, "network.classID: cell does not clear a container's traffic class"},
		{`{"hugepageLimits": [{"pageSize": "2MB", "limit": 1}, {"pageSize": "2MB", "limit": 2}]}`, "hugepageLimits[1].pageSize: a second limit of page size 2MB"},
	} {
		if msg := r.run(true, "update", "--resources", res(tc.json), "c6"); !strings.Contains(msg, tc.want) {
			t.Errorf("update %s: %q, want %q", tc.json, msg, tc.want)
		}
	}
}
