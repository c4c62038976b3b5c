package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/testenv"
)

// mountPointsUnder returns the mount points at or below dir in the
// test's mount namespace, in the order of /proc/self/mountinfo.
func mountPointsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 4 && (fs[4] == dir || strings.HasPrefix(fs[4], dir+"/")) {
			out = append(out, fs[4])
		}
	}
	return out
}

// TestHostMountRoot runs a profile that shares the host's mount
// namespace with a read-only root directory: inside, "/" is that
// directory, read-only, with /proc and a writable /tmp mounted in it;
// the mount namespace is the host's; when cell run ends, also after
// the command was SIGKILLed, nothing stays mounted under the directory.
func TestHostMountRoot(t *testing.T) {
	requirePrivilege(t)
	bb, err := exec.LookPath("busybox")
	if err != nil {
		testenv.Skip(t, "no busybox (apt-get install busybox-static)")
	}
	if out, err := exec.Command("ldd", bb).CombinedOutput(); err == nil {
		testenv.Skip(t, "busybox is not static: "+string(out))
	}
	rootfs, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Before anything is mounted: whatever a failure leaves under the
	// directory goes, so that the test never leaves a mount on the host.
	t.Cleanup(func() {
		for _, m := range slices.Backward(mountPointsUnder(t, rootfs)) {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	})
	for _, d := range []string{"bin", "proc", "dev", "tmp"} {
		if err := os.Mkdir(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(rootfs, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(t.TempDir(), "hostroot.yaml")
	doc := "apiVersion: cell/v1\nname: hostroot\nnamespaces: {mount: host, user: host}\n" +
		"filesystem:\n  root: {path: " + rootfs + ", readOnly: true}\n  mounts:\n" +
		"    - {type: proc, target: /proc}\n    - {type: dev, target: /dev}\n    - {type: tmpfs, target: /tmp}\n" +
		"process:\n  env: {PATH: /bin}\n"
	if err := os.WriteFile(prof, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	host := hostNamespaces(t)
	script := `test -f /marker && busybox grep -q "^proc /proc proc" /proc/mounts && ! busybox touch /x 2>/dev/null && busybox touch /tmp/y && echo inside; busybox readlink /proc/self/ns/mnt`
	out := mustSucceed(t, cell(t, "run", "-p", prof, "--", "sh", "-c", script))
	if want := "inside\n" + host["mnt"] + "\n"; out != want {
		t.Errorf("the command printed %q, want %q (the root directory as a read-only /, /proc mounted, /tmp writable, the host's mount namespace)", out, want)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "x")); err == nil {
		t.Error("the command wrote to the read-only root directory")
	}
	if left := mountPointsUnder(t, rootfs); len(left) > 0 {
		t.Errorf("after cell run, still mounted under the root directory: %q", left)
	}
	r := cell(t, "run", "-p", prof, "--", "sh", "-c", "busybox kill -9 $$")
	if r.code == 0 {
		t.Errorf("a command that SIGKILLed itself: %s", r)
	}
	if left := mountPointsUnder(t, rootfs); len(left) > 0 {
		t.Errorf("after a SIGKILLed command, still mounted under the root directory: %q", left)
	}
}
