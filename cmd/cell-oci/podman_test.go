package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cellsandbox/cell/internal/testenv"
)

// podman runs Debian's podman (4.3) with cell-oci as its runtime, its
// storage, run root, temporary files and configuration all in a
// directory of the test's own, so that nothing of the host's podman is
// read or touched.
type podman struct {
	t   *testing.T
	dir string
	env []string
}

// podmanOpts are the options every container here is run with: no
// network (the host's would need netavark and its firewall rules), and
// two that cell needs where podman's defaults ask for what it refuses:
// podman's cgroup mount at /sys/fs/cgroup (cell has no cgroup mount; a
// tmpfs covers the place instead), and CAP_SETFCAP, which with podman's
// writable binds of /etc/hosts and /etc/resolv.conf would let the
// command give host files capabilities that the host honours.
var podmanOpts = []string{"--network", "none", "--cap-drop", "SETFCAP", "--mount", "type=tmpfs,destination=/sys/fs/cgroup,notmpcopyup"}

func newPodman(t *testing.T, runtime string) *podman {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		testenv.Skip(t, "podman is not installed (apt-get install podman)")
	}
	dir := t.TempDir()
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
`, dir, runtime)
	storage := fmt.Sprintf("[storage]\ndriver = \"vfs\"\nrunroot = %q\ngraphroot = %q\n", filepath.Join(dir, "runroot"), filepath.Join(dir, "root"))
	for name, data := range map[string]string{"containers.conf": conf, "storage.conf": storage} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &podman{t: t, dir: dir, env: append(os.Environ(),
		"CONTAINERS_CONF="+filepath.Join(dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(dir, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF="+filepath.Join(dir, "registries.conf"))}
	t.Cleanup(func() {
		_, _ = p.cmd("rm", "--all", "--force").CombinedOutput()
		// podman's vfs layers and run root are the test's; unmount
		// what podman may have left mounted there.
		_ = exec.Command("umount", "-R", filepath.Join(dir, "runroot")).Run()
	})
	return p
}

func (p *podman) cmd(args ...string) *exec.Cmd {
	base := []string{"--root", filepath.Join(p.dir, "root"), "--runroot", filepath.Join(p.dir, "runroot"), "--tmpdir", filepath.Join(p.dir, "tmp")}
	c := exec.Command("podman", append(base, args...)...)
	c.Env = p.env
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
	p := newPodman(t, bin)
	img := busyboxImage(t, p)

	// run --rm: output and exit status come back; no network but lo.
	out, code := p.run(append(append([]string{"run", "--rm"}, podmanOpts...), img, "sh", "-c", "echo hello; ls /sys/class/net; exit 3")...)
	if code != 3 || !strings.HasPrefix(out, "hello\nlo\n") {
		t.Errorf("run --rm: status %d, output %q; want 3 and hello, then only lo", code, out)
	}

	// run -d with limits, then exec, kill and rm -f.
	id := p.must(append(append([]string{"run", "-d", "--memory", "64m", "--pids-limit", "50"}, podmanOpts...), img, "sleep", "300")...)
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
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory/libpod_parent", "libpod-"+id)); !os.IsNotExist(err) {
		t.Errorf("the container's memory cgroup outlived rm -f: %v", err)
	}

	// rm -f of a running container.
	id = p.must(append(append([]string{"run", "-d"}, podmanOpts...), img, "sleep", "300")...)
	p.must("rm", "-f", id)
	if out := p.must("ps", "-a", "-q"); out != "" {
		t.Errorf("containers left after rm -f: %q", out)
	}
}
