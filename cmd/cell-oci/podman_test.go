package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cellsandbox/cell/internal/testenv"
)

// podman runs Debian's podman (4.3) with cell-oci as its runtime, its
// storage, run root, temporary files and configuration all in a
// directory of the test's own, so that nothing of the host's podman is
// read or touched: as root, or rootless as the user celltest.
type podman struct {
	t   *testing.T
	dir string
	env []string
	// uid and gid are celltest's for a rootless podman, else 0.
	uid, gid uint32
	// cgroupParent is where a root podman puts its containers' cgroups
	// and conmon's: a parent of the test's (podman's default,
	// libpod_parent, is shared and stays behind).
	cgroupParent string
}

// podmanOpts are the options every container here is run with: no
// network (the host's would need netavark and its firewall rules).
// Everything else is podman's default: its cgroup mount at
// /sys/fs/cgroup, and its default capabilities (CAP_SETFCAP among them)
// beside its writable binds of /etc/hosts and /etc/resolv.conf, since a
// bundle runs without cell's set-ID guard, as the runtime spec says.
var podmanOpts = []string{"--network", "none"}

// newPodman makes a podman of the test's with runtime as cell-oci; with
// rootless, one that runs as celltest, whose home, XDG runtime directory
// and copy of the runtime are in the test's directory.
func newPodman(t *testing.T, runtime string, rootless bool) *podman {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		testenv.Skip(t, "podman is not installed (apt-get install podman)")
	}
	p := &podman{t: t}
	if rootless {
		p.uid, p.gid = testenv.Other(t)
		for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
			if b, _ := os.ReadFile(f); !strings.Contains("\n"+string(b), "\n"+testenv.OtherUser+":") {
				testenv.Skip(t, f+" gives "+testenv.OtherUser+" no range (.ci/run adds one)")
			}
		}
		if _, err := exec.LookPath("newuidmap"); err != nil {
			testenv.Skip(t, "newuidmap is not installed (apt-get install uidmap)")
		}
		// The user reaches the directory, which t.TempDir would make
		// root's alone.
		dir, err := os.MkdirTemp("", "cell-podman-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := os.RemoveAll(dir); err != nil {
				t.Errorf("remove %s: %v", dir, err)
			}
		})
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p.dir = dir
		for _, d := range []string{"home", "run"} {
			if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(filepath.Join(dir, d), int(p.uid), int(p.gid)); err != nil {
				t.Fatal(err)
			}
		}
		rt := filepath.Join(dir, "cell-oci")
		if err := copyFile(runtime, rt, 0o755); err != nil {
			t.Fatal(err)
		}
		runtime = rt
		p.env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + filepath.Join(dir, "home"),
			"XDG_RUNTIME_DIR=" + filepath.Join(dir, "run"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "home", ".config")}
	} else {
		p.dir = t.TempDir()
		p.env = os.Environ()
		p.cgroupParent = fmt.Sprintf("cell-test-podman-%d", os.Getpid())
	}
	dir := p.dir
	// The ulimits are this host's hard limits or below: podman's own
	// default (1048576) would need CAP_SYS_RESOURCE to raise them.
	conf := fmt.Sprintf(`[containers]
default_sysctls = []
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "%[1]s/events.log"
runtime = "cell"
[engine.runtimes]
cell = [%[2]q]
`, p.state(), runtime)
	storage := fmt.Sprintf("[storage]\ndriver = \"vfs\"\nrunroot = %q\ngraphroot = %q\n", p.path("runroot"), p.path("root"))
	for name, data := range map[string]string{"containers.conf": conf, "storage.conf": storage} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.env = append(p.env,
		"CONTAINERS_CONF="+filepath.Join(dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(dir, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF="+filepath.Join(dir, "registries.conf"))
	t.Cleanup(func() {
		_, _ = p.cmd("rm", "--all", "--force").CombinedOutput()
		if rootless {
			// Rootless podman leaves a pause process that holds its
			// user and mount namespaces (and the mounts in them).
			if b, err := os.ReadFile(filepath.Join(p.path("tmp"), "pause.pid")); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return
		}
		// podman's vfs layers and run root are the test's; unmount
		// what podman may have left mounted there.
		_ = exec.Command("umount", "-R", p.path("runroot")).Run()
		removeCgroupParent(t, p.cgroupParent)
	})
	return p
}

// args returns podman's arguments args followed by podmanOpts (and a
// root podman's cgroup parent): those of a run of a container here.
func (p *podman) args(args ...string) []string {
	args = append(args, podmanOpts...)
	if p.cgroupParent != "" {
		args = append(args, "--cgroup-parent", "/"+p.cgroupParent)
	}
	return args
}

// state is the directory of what podman writes: the user's own where
// podman is rootless.
func (p *podman) state() string {
	if p.uid != 0 {
		return filepath.Join(p.dir, "home")
	}
	return p.dir
}

func (p *podman) path(name string) string {
	if p.uid != 0 && (name == "runroot" || name == "tmp") {
		return filepath.Join(p.dir, "run", name)
	}
	return filepath.Join(p.state(), name)
}

func (p *podman) cmd(args ...string) *exec.Cmd {
	argv := append([]string{"podman", "--root", p.path("root"), "--runroot", p.path("runroot"), "--tmpdir", p.path("tmp")}, args...)
	if p.uid != 0 {
		argv = append([]string{"setpriv", "--reuid", strconv.Itoa(int(p.uid)), "--regid", strconv.Itoa(int(p.gid)), "--clear-groups"}, argv...)
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = p.env
	c.Dir = p.dir
	return c
}

// run runs podman and returns its combined output and exit status.
func (p *podman) run(args ...string) (string, int) {
	p.t.Helper()
	out, err := p.cmd(args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		p.t.Fatalf("podman %s: %v", strings.Join(args, " "), err)
	}
	return string(out), code
}

func (p *podman) must(args ...string) string {
	p.t.Helper()
	out, code := p.run(args...)
	if code != 0 {
		p.t.Fatalf("podman %s: status %d\n%s", strings.Join(args, " "), code, out)
	}
	return strings.TrimSpace(out)
}

// busyboxImage imports a tarball of a busybox root (busyboxRootfs) as
// localhost/cell-busybox: no registry is used.
func busyboxImage(t *testing.T, p *podman) string {
	t.Helper()
	path := filepath.Join(p.dir, "busybox.tar")
	if err := os.WriteFile(path, busyboxRootfs(t), 0o644); err != nil {
		t.Fatal(err)
	}
	p.must("import", path, "localhost/cell-busybox")
	return "localhost/cell-busybox"
}

// TestPodman drives podman (as root) with cell-oci as its runtime:
// run --rm, run -d, exec, kill, rm -f, and the limits of --memory and
// --pids-limit in the container's cgroups.
func TestPodman(t *testing.T) {
	testenv.Root(t)
	bin := buildRuntime(t)
	p := newPodman(t, bin, false)
	img := busyboxImage(t, p)

	// run --rm: output and exit status come back; no network but lo.
	out, code := p.run(append(p.args("run", "--rm"), img, "sh", "-c", "echo hello; ls /sys/class/net; exit 3")...)
	if code != 3 || !strings.HasPrefix(out, "hello\nlo\n") {
		t.Errorf("run --rm: status %d, output %q; want 3 and hello, then only lo", code, out)
	}

	// run -d with limits, then exec, kill and rm -f.
	id := p.must(append(p.args("run", "-d", "--memory", "64m", "--pids-limit", "50"), img, "sleep", "300")...)
	out, code = p.run("exec", id, "sh", "-c", "echo in-exec; exit 4")
	if code != 4 || strings.TrimSpace(out) != "in-exec" {
		t.Errorf("exec: status %d, output %q; want 4 and in-exec", code, out)
	}
	pid, err := strconv.Atoi(p.must("inspect", "-f", "{{.State.Pid}}", id))
	if err != nil || pid <= 0 {
		t.Fatalf("inspect pid: %v", err)
	}
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	limits := map[string]string{"memory": "memory.limit_in_bytes=67108864", "pids": "pids.max=50"}
	for _, line := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		f := strings.SplitN(line, ":", 3)
		want, ok := limits[f[1]]
		if !ok {
			continue
		}
		if !strings.HasPrefix(f[2], "/"+p.cgroupParent+"/") {
			t.Errorf("the container's %s cgroup %s is not under the test's parent %s", f[1], f[2], p.cgroupParent)
		}
		file, value, _ := strings.Cut(want, "=")
		got, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", f[1], f[2], file))
		if err != nil || strings.TrimSpace(string(got)) != value {
			t.Errorf("%s of the container: %q, %v; want %s", file, got, err, value)
		}
		delete(limits, f[1])
	}
	for c := range limits {
		t.Errorf("the container is in no v1 %s cgroup: %s", c, cg)
	}
	p.must("kill", id)
	if st := p.must("wait", id); st != "137" {
		t.Errorf("status after kill: %s, want 137 (SIGKILL)", st)
	}
	p.must("rm", "-f", id)
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", p.cgroupParent, "libpod-"+id)); !os.IsNotExist(err) {
		t.Errorf("the container's memory cgroup outlived rm -f: %v", err)
	}

	// rm -f of a running container.
	id = p.must(append(p.args("run", "-d"), img, "sleep", "300")...)
	p.must("rm", "-f", id)
	if out := p.must("ps", "-a", "-q"); out != "" {
		t.Errorf("containers left after rm -f: %q", out)
	}

	podmanStop(t, p, img)
	podmanTTY(t, p, img)
}

// TestPodmanRootless drives a rootless podman, run by the user celltest,
// with cell-oci as its runtime (which runs as root of podman's user
// namespace): run --rm, --userns keep-id, exec, stop, and run -it with a
// real terminal.
func TestPodmanRootless(t *testing.T) {
	testenv.Root(t)
	bin := buildRuntime(t)
	p := newPodman(t, bin, true)
	img := busyboxImage(t, p)

	// Root inside is the user outside; the rest of its range follows.
	out, code := p.run(append(p.args("run", "--rm"), img, "sh", "-c", "echo hello $(id -u); cat /proc/self/uid_map; exit 3")...)
	want := fmt.Sprintf("hello 0\n%10d%11d%11d\n", 0, p.uid, 1)
	if code != 3 || !strings.HasPrefix(out, want) {
		t.Errorf("run --rm: status %d, output %q; want 3 and %q", code, out, want)
	}

	// --userns keep-id: the command runs as the user's own IDs.
	out = p.must(append(p.args("run", "--rm", "--userns", "keep-id"), img, "sh", "-c", "echo $(id -u) $(id -g)")...)
	if want := fmt.Sprintf("%d %d", p.uid, p.gid); out != want {
		t.Errorf("run --userns keep-id: %q, want %q", out, want)
	}

	id := p.must(append(p.args("run", "-d"), img, "sleep", "300")...)
	out, code = p.run("exec", id, "sh", "-c", "echo in-exec $(id -u); exit 4")
	if code != 4 || strings.TrimSpace(out) != "in-exec 0" {
		t.Errorf("exec: status %d, output %q; want 4 and in-exec 0", code, out)
	}
	p.must("rm", "-f", id)

	podmanStop(t, p, img)
	podmanTTY(t, p, img)
}

// podmanStop checks podman stop: SIGTERM reaches the command, whose
// status (143) is the container's, and rm leaves no container.
func podmanStop(t *testing.T, p *podman, img string) {
	t.Helper()
	id := p.must(append(p.args("run", "-d"), img, "sleep", "300")...)
	p.must("stop", "--time", "20", id)
	if st := p.must("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", id); st != "exited 143" {
		t.Errorf("after podman stop: %q, want exited 143 (SIGTERM, not the SIGKILL after the timeout)", st)
	}
	p.must("rm", id)
	if out := p.must("ps", "-a", "-q"); out != "" {
		t.Errorf("containers left after stop and rm: %q", out)
	}
}

// ptyDriver runs argv[1:] on a new terminal of size 31x97, waits for a
// shell's prompt, types a line, and prints what the terminal showed; it
// exits with the command's status. The line waits (up to 5 s) for the
// terminal to have a size: engines set it after the start (ctr run -t
// calls the shim's resize once the task runs), so the shell may come
// first.
const ptyDriver = `import fcntl, os, pty, select, struct, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 31, 97, 0, 0))
    os.execvp(sys.argv[1], sys.argv[1:])
out = b""
def read(until, timeout):
    global out
    end = time.time() + timeout
    while time.time() < end:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                b = os.read(fd, 4096)
            except OSError:
                return False
            if not b:
                return False
            out += b
            if until and until in out:
                return True
    return False
prompt = read(b"# ", 60)
if prompt:
    os.write(fd, b"tty; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do stty size 2>/dev/null | grep -q '^[1-9]' && break; sleep 0.25; done; stty size; echo $((6*7)); exit 5\n")
    read(None, 60)
os.kill(pid, 9) if not prompt else None
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status) if prompt else 100)
`

// podmanTTY checks podman run -it (checkTTY).
func podmanTTY(t *testing.T, p *podman, img string) {
	t.Helper()
	checkTTY(t, "podman run -it", p.dir, p.cmd(append(p.args("run", "-it", "--rm"), img, "sh")...))
}

// checkTTY runs an engine's command that starts a shell on a terminal
// (podman run -it, ctr run -t), driven through a real terminal by a
// script (ptyDriver, written in dir): the pty cell-oci sends over the
// console socket is the shell's controlling terminal, of the caller's
// size, and the shell's status comes back.
func checkTTY(t *testing.T, what, dir string, c *exec.Cmd) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		testenv.Skip(t, "no python3, which drives the terminal")
	}
	script := filepath.Join(dir, "pty-driver.py")
	if err := os.WriteFile(script, []byte(ptyDriver), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Args = append([]string{py, script}, c.Args...)
	c.Path = py
	raw, err := c.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	// The caller's own terminal may add carriage returns (ctr leaves
	// it cooked).
	out := strings.ReplaceAll(string(raw), "\r", "")
	for _, want := range []string{"\n/dev/pts/0\n", "\n31 97\n", "\n42\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("%s: the terminal shows no %q", what, want)
		}
	}
	if code != 5 {
		t.Errorf("%s: status %d, want 5", what, code)
	}
	if t.Failed() {
		t.Logf("%s: the terminal showed %q", what, raw)
	}
}
