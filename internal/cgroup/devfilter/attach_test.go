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
