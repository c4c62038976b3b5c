package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cellsandbox/cell/internal/testenv"
)

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
	testenv.UnmountUnderAtEnd(t, rootfs)
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
	if left := testenv.MountsUnder(t, rootfs); len(left) > 0 {
		t.Errorf("after cell run, still mounted under the root directory: %q", left)
	}
	r := cell(t, "run", "-p", prof, "--", "sh", "-c", "busybox kill -9 $$")
	if r.code == 0 {
		t.Errorf("a command that SIGKILLed itself: %s", r)
	}
	if left := testenv.MountsUnder(t, rootfs); len(left) > 0 {
		t.Errorf("after a SIGKILLed command, still mounted under the root directory: %q", left)
	}
}
