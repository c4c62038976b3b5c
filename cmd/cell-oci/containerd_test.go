package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/testenv"
)

// containerdExample is the containerd configuration README shows (between
// its ```toml fence): the runc shim with cell-oci as BinaryName.
const containerdExample = "testdata/containerd.toml"

// readContainerdExample returns the example and the runtime type and
// binary it names, after checking that README shows it as it is.
func readContainerdExample(t *testing.T) (example, runtimeType, binary string) {
	t.Helper()
	b, err := os.ReadFile(containerdExample)
	if err != nil {
		t.Fatal(err)
	}
	example = string(b)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```toml\n"+example+"```\n") {
		t.Fatalf("README.md does not show %s as it is (in a ```toml block): the example is what TestContainerd runs", containerdExample)
	}
	m := regexp.MustCompile(`(?m)^\s*runtime_type = "([^"]+)"$[\s\S]*^\s*BinaryName = "([^"]+)"$`).FindStringSubmatch(example)
	if m == nil {
		t.Fatalf("%s names no runtime_type and BinaryName", containerdExample)
	}
	return example, m[1], m[2]
}

// TestContainerdExampleInREADME checks, without root, that README shows
// the containerd configuration TestContainerd and TestCRI run, and a
// RuntimeClass whose handler is its runtime.
func TestContainerdExampleInREADME(t *testing.T) {
	_, typ, bin := readContainerdExample(t)
	if typ != "io.containerd.runc.v2" || filepath.Base(bin) != "cell-oci" {
		t.Errorf("example: runtime_type %q, BinaryName %q; want the runc shim running cell-oci", typ, bin)
	}
	// TestCRI runs a pod with the RuntimeClass's handler.
	_, handler := criConfig(t, t.TempDir(), "/nonexistent.sock", bin)
	if handler != "cell" {
		t.Errorf("README's RuntimeClass and containerd example name the runtime %q, want cell", handler)
	}
}

// containerd is a containerd (Debian's 1.6) of the test's own: its root,
// state, sockets, plugin directory, the shim's runtime root and the FIFOs
// of ctr are in a directory of the test's, its containers in a namespace
// and cgroup parent named after the test's pid. It runs in a mount
// namespace of its own, so the snapshots and root filesystems it mounts
// never reach the host's mount table and go with it.
type containerd struct {
	t        *testing.T
	dir      string
	addr     string
	ns       string
	log      string
	runtime  []string // ctr run's flags choosing the runtime
	runcRoot string
	fifo     string
	ids      []string
}

func (c *containerd) ctr(args ...string) *exec.Cmd {
	return exec.Command("ctr", append([]string{"--address", c.addr, "--namespace", c.ns}, args...)...)
}

// run runs ctr and returns its stdout, stderr and exit status.
func (c *containerd) run(args ...string) (string, string, int) {
	c.t.Helper()
	cmd := c.ctr(args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		c.t.Fatalf("ctr %s: no answer in 60 s\nstderr: %s", strings.Join(args, " "), stderr.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("ctr %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), code
}

func (c *containerd) must(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("ctr %s: status %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// runFlags are ctr run's flags for container id: the runtime, its root,
// the FIFOs' directory and the cgroup under the test's parent.
func (c *containerd) runFlags(id string) []string {
	c.ids = append(c.ids, id)
	return append(append([]string{}, c.runtime...), "--fifo-dir", c.fifo, "--cgroup", "/"+c.ns+"/"+id)
}

func newContainerd(t *testing.T, bin string) *containerd {
	t.Helper()
	for _, p := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "unshare"} {
		if _, err := exec.LookPath(p); err != nil {
			testenv.Skip(t, p+" is not installed (apt-get install containerd)")
		}
	}
	example, typ, _ := readContainerdExample(t)
	// The example's BinaryName is where `make install` puts cell-oci;
	// this test's is the one it built.
	example = regexp.MustCompile(`(?m)^(\s*BinaryName = )"[^"]+"$`).ReplaceAllString(example, fmt.Sprintf("${1}%q", bin))
	// Unix socket paths are short: the directory is under /tmp.
	dir, err := os.MkdirTemp("", "cell-ctd-")
	if err != nil {
		t.Fatal(err)
	}
	c := &containerd{t: t, dir: dir, addr: filepath.Join(dir, "containerd.sock"), ns: fmt.Sprintf("cell-test-%d", os.Getpid()),
		log: filepath.Join(dir, "containerd.log"), runcRoot: filepath.Join(dir, "runc"), fifo: filepath.Join(dir, "fifo")}
	c.runtime = []string{"--runtime", typ, "--runc-binary", bin, "--runc-root", c.runcRoot}
	// The shims of containerd 1.6 listen in /run/containerd/s (a name
	// derived from the daemon's address, so unique); what the test makes
	// there it removes.
	_, statErr := os.Stat("/run/containerd")
	madeRun := errors.Is(statErr, os.ErrNotExist)
	var daemon *exec.Cmd
	t.Cleanup(func() {
		for _, id := range c.ids {
			_, _, _ = c.run("tasks", "kill", "--signal", "SIGKILL", id)
			_, _, _ = c.run("tasks", "delete", "--force", id)
			_, _, _ = c.run("containers", "delete", id)
		}
		if daemon != nil {
			_ = daemon.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = daemon.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = daemon.Process.Kill()
				<-done
			}
		}
		// Shims and containers left by a failure, by the pids
		// containerd recorded.
		pidFiles, _ := filepath.Glob(filepath.Join(dir, "state", "io.containerd.runtime.v2.task", c.ns, "*", "*.pid"))
		for _, f := range pidFiles {
			if b, err := os.ReadFile(f); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		removeCgroupParent(t, c.ns)
		if madeRun {
			_ = os.Remove("/run/containerd/s")
			_ = os.Remove("/run/containerd")
		}
		removeDaemonDir(t, dir, c.log)
	})
	base := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.addr, c.addr+".ttrpc", filepath.Join(dir, "opt"))
	// The daemon runs without its CRI plugin, which would want CNI and a
	// pause image (ctr does not use it): the example is checked as
	// containerd reads it, with `config dump` of a configuration where
	// the plugin is on, and ctr runs the runtime it names.
	dump := filepath.Join(dir, "dump.toml")
	if err := os.WriteFile(dump, []byte(base+example), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("containerd", "--config", dump, "config", "dump").CombinedOutput()
	if err != nil {
		t.Fatalf("containerd config dump: %v\n%s", err, out)
	}
	section := `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.cell]`
	if i := strings.Index(string(out), section); i < 0 || !strings.Contains(string(out[i:]), fmt.Sprintf("runtime_type = %q", typ)) ||
		!strings.Contains(string(out[i:]), fmt.Sprintf("BinaryName = %q", bin)) {
		t.Fatalf("containerd config dump does not show the example's runtime:\n%s", out)
	}
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte("disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"+base+example), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{c.runcRoot, c.fifo} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	logf, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	daemon = exec.Command("unshare", "--mount", "--propagation", "private", "containerd", "--config", cfg)
	daemon.Stdout, daemon.Stderr = logf, logf
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err := c.ctr("version").Run(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd did not answer in 30 s")
		}
	}
	return c
}

// removeDaemonDir ends a test's containerd: its log when the test failed,
// then its directory, retried for a while, since the daemon's mount
// namespace, and the mounts in dir, go with the last of its processes.
func removeDaemonDir(t *testing.T, dir, log string) {
	t.Helper()
	if t.Failed() {
		if b, err := os.ReadFile(log); err == nil {
			t.Logf("containerd's log:\n%s", b)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err := os.RemoveAll(dir); err == nil || time.Now().After(deadline) {
			if err != nil {
				t.Errorf("remove %s: %v", dir, err)
			}
			return
		}
	}
}

// removeCgroupParent removes the cgroup parent /name of every hierarchy
// and what is left under it.
func removeCgroupParent(t *testing.T, name string) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
	if d := filepath.Join("/sys/fs/cgroup", name); isDir(d) {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		subs, _ := filepath.Glob(filepath.Join(d, "*", ""))
		for _, s := range subs {
			if isDir(s) {
				_ = os.Remove(s)
			}
		}
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("remove the test's cgroup parent: %v", err)
		}
	}
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// TestContainerd drives containerd's runc shim with cell-oci as its
// BinaryName, configured as README shows: ctr run (output and exit status
// come back), ctr run -d, ctr task exec, kill with SIGTERM and SIGKILL,
// delete; the image is imported from an OCI archive built here.
func TestContainerd(t *testing.T) {
	testenv.Root(t)
	bin := buildRuntime(t)
	c := newContainerd(t, bin)
	img := "localhost/cell-busybox:latest"
	archive := filepath.Join(c.dir, "busybox.tar")
	if err := os.WriteFile(archive, ociArchive(t, img, busyboxRootfs(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	c.must("images", "import", archive)

	// ctr run: the output and exit status come back; no network but lo.
	out, errOut, code := c.run(append(append([]string{"run", "--rm"}, c.runFlags("cell-run")...), img, "cell-run", "sh", "-c", "echo hello; ls /sys/class/net; exit 3")...)
	if code != 3 || out != "hello\nlo\n" {
		t.Errorf("ctr run: status %d, output %q (stderr %q); want 3 and hello, then only lo", code, out, errOut)
	}

	// ctr run -t: the pty cell-oci sends over the shim's console socket
	// is the command's terminal, of ctr's size (a script drives ctr's).
	checkTTY(t, "ctr run -t", c.dir, c.ctr(append(append([]string{"run", "-t", "--rm"}, c.runFlags("cell-tty")...), img, "cell-tty", "sh")...))

	// ctr run -d, then ctr task exec.
	c.must(append(append([]string{"run", "-d"}, c.runFlags("cell-d")...), img, "cell-d", "sleep", "300")...)
	out, errOut, code = c.run("tasks", "exec", "--fifo-dir", c.fifo, "--exec-id", "e1", "cell-d", "sh", "-c", "echo in-exec; exit 4")
	if code != 4 || out != "in-exec\n" {
		t.Errorf("ctr task exec: status %d, output %q (stderr %q); want 4 and in-exec", code, out, errOut)
	}
	// ctr task exec -t: a pty for the exec'd shell, through the console
	// socket of cell-oci exec --detach.
	checkTTY(t, "ctr task exec -t", c.dir, c.ctr("tasks", "exec", "-t", "--fifo-dir", c.fifo, "--exec-id", "e2", "cell-d", "sh"))
	// The container is cell-oci's, in its cgroup under the test's parent.
	st := exec.Command(bin, "--root", filepath.Join(c.runcRoot, c.ns), "state", "cell-d")
	if b, err := st.Output(); err != nil || !strings.Contains(string(b), `"status": "running"`) {
		t.Errorf("cell-oci state cell-d: %s, %v; want it running", b, err)
	}
	pid := taskPid(t, c, "cell-d")
	if cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid)); err != nil || !strings.Contains(string(cg), "/"+c.ns+"/cell-d\n") {
		t.Errorf("the task's cgroups: %q, %v; want /%s/cell-d", cg, err, c.ns)
	}

	// ctr task ps (the shim's runc ps --format json) lists the task's
	// processes; pause and resume freeze and thaw its cgroup.
	if ps := c.must("tasks", "ps", "cell-d"); !regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s`, pid)).MatchString(ps) {
		t.Errorf("ctr task ps: %q, want pid %d", ps, pid)
	}
	c.must("tasks", "pause", "cell-d")
	if st := taskStatus(t, c, "cell-d"); st != "PAUSED" {
		t.Errorf("after ctr task pause: %s, want PAUSED", st)
	}
	c.must("tasks", "resume", "cell-d")
	if st := taskStatus(t, c, "cell-d"); st != "RUNNING" {
		t.Errorf("after ctr task resume: %s, want RUNNING", st)
	}

	// ctr task kill (SIGTERM, which init relays to sleep), then delete
	// reports the status and removes the container's cgroup.
	c.must("tasks", "kill", "cell-d")
	waitStopped(t, c, "cell-d")
	_, errOut, code = c.run("tasks", "delete", "cell-d")
	if code != 0 || !strings.Contains(errOut, "exit code 143") {
		t.Errorf("ctr task delete: status %d, stderr %q; want 0 and exit code 143 (SIGTERM)", code, errOut)
	}
	c.must("containers", "delete", "cell-d")
	if d, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", c.ns, "cell-d")); len(d) > 0 {
		t.Errorf("cgroups left after ctr task delete: %v", d)
	}

	// SIGKILL ends init and the whole sandbox; a running task is not
	// deleted without --force.
	c.must(append(append([]string{"run", "-d"}, c.runFlags("cell-k")...), img, "cell-k", "sh", "-c", "sleep 300 & sleep 300")...)
	if _, _, code := c.run("tasks", "delete", "cell-k"); code == 0 {
		t.Errorf("ctr task delete of a running task succeeded")
	}
	c.must("tasks", "kill", "--signal", "SIGKILL", "cell-k")
	waitStopped(t, c, "cell-k")
	_, errOut, _ = c.run("tasks", "delete", "cell-k")
	if !strings.Contains(errOut, "exit code 137") {
		t.Errorf("ctr task delete after SIGKILL: stderr %q; want exit code 137", errOut)
	}
	c.must("containers", "delete", "cell-k")
	if ents, err := os.ReadDir(filepath.Join(c.runcRoot, c.ns)); err != nil || len(ents) != 0 {
		t.Errorf("cell-oci's state left after delete: %v, %v", ents, err)
	}
	// No call of the shim's failed with an error of cell-oci's, its
	// cleanup's delete --force of a deleted container included (as
	// runc's, it succeeds). containerd 1.6's cleanup says the runtime
	// exited with 255 whichever runtime it is, runc too: not counted.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		b, err := os.ReadFile(c.log)
		if err != nil {
			t.Fatal(err)
		}
		if i := strings.Index(string(b), "cell-oci: error"); i >= 0 {
			t.Errorf("the shim ran cell-oci and it failed: %s", b[max(0, i-300):min(len(b), i+300)])
			break
		}
		if strings.Count(string(b), "cleaning up dead shim") >= 3 || time.Now().After(deadline) {
			break
		}
	}
}

// taskPid returns the pid of a task, as ctr task ls shows it.
func taskPid(t *testing.T, c *containerd, id string) int {
	t.Helper()
	for _, line := range strings.Split(c.must("tasks", "ls"), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("ctr task ls: %q", line)
			}
			return pid
		}
	}
	t.Fatalf("ctr task ls shows no %s", id)
	return 0
}

// taskStatus returns a task's status as ctr task ls shows it.
func taskStatus(t *testing.T, c *containerd, id string) string {
	t.Helper()
	for _, line := range strings.Split(c.must("tasks", "ls"), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	t.Fatalf("ctr task ls shows no %s", id)
	return ""
}

// waitStopped waits until ctr shows the task stopped.
func waitStopped(t *testing.T, c *containerd, id string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, line := range strings.Split(c.must("tasks", "ls"), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == id && f[2] == "STOPPED" {
				return
			}
		}
	}
	t.Fatalf("task %s did not stop in 20 s", id)
}
