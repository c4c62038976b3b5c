package devfilter

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/cgroup/cgroupfs"
	"github.com/cellsandbox/cell/internal/testenv"
	"github.com/cellsandbox/cell/launcher/plan"
)

// TestAttach attaches a program to a new cgroup v2 (on a hybrid host,
// in its cgroup2 mount: the kernel runs the programs there too) and
// starts a shell in it: it may read /dev/null, which the rules allow
// for reading, and gets EPERM for /dev/zero, for writing /dev/null, and
// for mknod of a block device, which CAP_MKNOD alone would allow.
func TestAttach(t *testing.T) {
	testenv.Root(t)
	l, err := cgroupfs.Probe()
	if err != nil {
		t.Fatal(err)
	}
	if l.Unified == "" {
		testenv.Skip(t, "no cgroup2 mount")
	}
	dir := filepath.Join(l.Unified, fmt.Sprintf("cell-test-devfilter-%d", os.Getpid()))
	t.Cleanup(func() {
		// The shell has exited; rmdir retried while the kernel lets go.
		for range 50 {
			if err := unix.Rmdir(dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("rmdir %s: still there", dir)
	})
	if err := unix.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Attach(dir, []plan.DeviceRule{{Type: 'c', Major: 1, Minor: 3, Access: "r"}}); err != nil {
		t.Fatal(err)
	}
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	nodes := t.TempDir()
	script := `cat /dev/null && echo null-read
echo x >/dev/null && echo null-write
head -c1 /dev/zero >` + nodes + `/z && echo zero-read
mknod ` + nodes + `/disk b 8 0 && echo mknod-block
true`
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, stderr.String())
	}
	if got := strings.Fields(string(out)); strings.Join(got, " ") != "null-read" {
		t.Errorf("the shell in the cgroup could do %q, want only null-read\n%s", got, stderr.String())
	}
	if n := strings.Count(stderr.String(), "Operation not permitted"); n != 3 {
		t.Errorf("%d EPERMs, want 3 (write /dev/null, read /dev/zero, mknod):\n%s", n, stderr.String())
	}
}

// TestAttachUnprivileged attaches as an unprivileged user (no
// CAP_BPF, CAP_SYS_ADMIN or CAP_NET_ADMIN, as a rootless cell is): the
// load fails with the call and EPERM, which is what stops the sandbox.
func TestAttachUnprivileged(t *testing.T) {
	testenv.Root(t)
	// nobody's IDs, which need no entry in /etc/passwd (the test VM
	// has none for the test user).
	const uid, gid = 65534, 65534
	// A copy the test user can run (go test's build directory is root's).
	bin := filepath.Join(t.TempDir(), "devfilter.test")
	for _, d := range []string{filepath.Dir(bin), filepath.Dir(filepath.Dir(bin))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), attachEnv+"="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got, "bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE) of the device program for ") || !strings.Contains(got, "EPERM") {
		t.Errorf("attach as uid %d: %q, want the load's EPERM", uid, got)
	}
}
