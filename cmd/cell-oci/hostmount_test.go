package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/testenv"
)

// hostRootfs makes a bundle without any namespace (the runtime-tools
// test linux_ns_itype's), whose process runs args, and registers, before
// anything is mounted, the removal of whatever stays mounted under its
// rootfs: the test must not leave a mount on the host even when it fails.
func hostRootfs(t *testing.T, args []string, edit func(map[string]any)) (bundleDir, rootfs string) {
	t.Helper()
	b := bundle(t, args, func(c map[string]any) {
		delete(c, "hostname")
		c["linux"].(map[string]any)["namespaces"] = []any{}
		c["linux"].(map[string]any)["maskedPaths"] = []string{"/proc/kcore", "/proc/keys"}
		c["linux"].(map[string]any)["readonlyPaths"] = []string{"/proc/sys"}
		if edit != nil {
			edit(c)
		}
	})
	rootfs, err := filepath.EvalSymlinks(filepath.Join(b, "rootfs"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.UnmountUnderAtEnd(t, rootfs)
	if err := os.WriteFile(filepath.Join(rootfs, "marker"), []byte("rootfs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return b, rootfs
}

// TestNoMountNamespace runs a container that has no namespace of its
// own, as the OCI runtime spec's linux_ns_itype test does: its process
// is chrooted into the rootfs with /proc mounted there (seen from
// inside), it is in the test's mount namespace (from outside), and once
// its init is SIGKILLed and the container deleted, nothing stays mounted
// under the rootfs. A create that fails halfway leaves nothing mounted
// either.
func TestNoMountNamespace(t *testing.T) {
	r := newRT(t)
	subreaper(t)
	script := `if test -f /marker && grep -q "^proc /proc proc " /proc/mounts && test ! -e /rootfs/marker; then echo inside > /result; fi; sleep 60`
	b, rootfs := hostRootfs(t, []string{"sh", "-c", script}, nil)
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.run(false, "create", "--bundle", b, "--pid-file", pidFile, "h1")
	t.Cleanup(func() { r.run(false, "delete", "--force", "h1") })
	pidData, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(pidData))
	made := testenv.MountsUnder(t, rootfs)
	if len(made) < 3 || made[0] != rootfs {
		t.Fatalf("mounts under the rootfs after create: %q, want its bind first, then /proc and /dev among others", made)
	}
	for _, ns := range []string{"mnt", "pid", "net", "ipc", "uts"} {
		mine, err1 := os.Readlink("/proc/self/ns/" + ns)
		its, err2 := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + ns)
		if err1 != nil || err2 != nil || mine != its {
			t.Errorf("%s namespace: the container's %q (%v), the test's %q (%v); want the same", ns, its, err2, mine, err1)
		}
	}
	if root, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/root"); err != nil || root != rootfs {
		t.Errorf("init's root is %q (%v), want the rootfs %s", root, err, rootfs)
	}
	r.run(false, "start", "h1")
	result := filepath.Join(rootfs, "result")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if data, err := os.ReadFile(result); err == nil && string(data) == "inside\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the process did not see the rootfs as its root with /proc mounted there")
		}
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitPid(t, pid)
	if left := testenv.MountsUnder(t, rootfs); len(left) == 0 {
		t.Fatal("the mounts went with the process; delete has nothing to undo, which this test means to check")
	}
	r.run(false, "delete", "h1")
	if left := testenv.MountsUnder(t, rootfs); len(left) > 0 {
		t.Errorf("after delete, still mounted under the rootfs: %q", left)
	}

	// A bind whose source is missing fails create after /proc and /dev
	// were mounted: create's own teardown unmounts them.
	b2, rootfs2 := hostRootfs(t, []string{"true"}, func(c map[string]any) {
		c["mounts"] = append(c["mounts"].([]any), map[string]any{"destination": "/missing", "type": "bind", "source": "/nonexistent-" + strconv.Itoa(os.Getpid())})
	})
	if msg := r.run(true, "create", "--bundle", b2, "h2"); !strings.Contains(msg, "nonexistent") {
		t.Errorf("create with a missing bind source: %q, want it to fail on that bind", msg)
	}
	if left := testenv.MountsUnder(t, rootfs2); len(left) > 0 {
		t.Errorf("after a failed create, still mounted under the rootfs: %q", left)
	}
}
