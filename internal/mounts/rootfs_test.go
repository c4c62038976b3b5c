package mounts

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/testenv"
)

// hostTemp returns a temporary directory whose mounts are removed when
// the test ends, whatever it left: the test mounts in the host's mount
// namespace, as a sandbox without one of its own does.
func hostTemp(t *testing.T) string {
	t.Helper()
	testenv.Root(t)
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testenv.UnmountUnderAtEnd(t, dir)
	return dir
}

func mountTmpfs(t *testing.T, dir string) {
	t.Helper()
	if err := unix.Mount("cell-test", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
}

// TestRootfsBindAndUndo: BindRootfs makes a private bind of the
// directory onto itself, which OwnRootfs recognises; UmountRootfs
// unmounts a mount under it and then the bind, and is a no-op once they
// are gone.
func TestRootfsBindAndUndo(t *testing.T) {
	base := hostTemp(t)
	root := filepath.Join(base, "rootfs")
	if err := os.MkdirAll(filepath.Join(root, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if ours, err := OwnRootfs(root); err != nil || ours {
		t.Fatalf("OwnRootfs before the bind: %v, %v; want false", ours, err)
	}
	if err := BindRootfs(root); err != nil {
		t.Fatal(err)
	}
	if ours, err := OwnRootfs(root); err != nil || !ours {
		t.Fatalf("OwnRootfs after the bind: %v, %v; want true", ours, err)
	}
	// A second sandbox on the same directory is refused.
	if err := BindRootfs(root); err == nil || !strings.Contains(err.Error(), "already cell's bind") {
		t.Errorf("a second BindRootfs: %v, want it refused", err)
	}
	mountTmpfs(t, filepath.Join(root, "proc"))
	if err := UmountRootfs(root, "/proc"); err != nil {
		t.Fatal(err)
	}
	if got := testenv.MountsUnder(t, root); !slices.Equal(got, []string{root}) {
		t.Fatalf("after umount-rootfs /proc: %q mounted, want the bind alone", got)
	}
	if err := UmountRootfs(root, "/"); err != nil {
		t.Fatal(err)
	}
	if got := testenv.MountsUnder(t, root); len(got) > 0 {
		t.Fatalf("after umount-rootfs /: %q mounted", got)
	}
	// Once more, as a second teardown would: nothing to do; nor for a
	// root directory that is gone (its bundle removed).
	for _, target := range []string{"/proc", "/", "/missing"} {
		if err := UmountRootfs(root, target); err != nil {
			t.Errorf("second umount-rootfs %s: %v", target, err)
		}
	}
	if err := UmountRootfs(filepath.Join(base, "gone"), "/"); err != nil {
		t.Errorf("umount-rootfs of a directory that does not exist: %v", err)
	}
}

// TestRootfsNotOurs: a mount that was at the directory before (a
// snapshotter's rootfs) is not cell's bind, so UmountRootfs leaves it and
// what is under it alone; a symlink in the directory does not lead an
// unmount out of it.
func TestRootfsNotOurs(t *testing.T) {
	base := hostTemp(t)
	root := filepath.Join(base, "rootfs")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mountTmpfs(t, root)
	if err := os.Mkdir(filepath.Join(root, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, filepath.Join(root, "proc"))
	for _, target := range []string{"/proc", "/"} {
		if err := UmountRootfs(root, target); err != nil {
			t.Fatal(err)
		}
	}
	if got := testenv.MountsUnder(t, root); len(got) != 2 {
		t.Fatalf("a rootfs that is not cell's bind: %q mounted after umount-rootfs, want both of its mounts kept", got)
	}
	// cell's bind over it; a link in it to a mount outside.
	if err := BindRootfs(root); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, outside)
	if err := os.Symlink(outside, filepath.Join(root, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := UmountRootfs(root, "/evil"); err != nil {
		t.Fatal(err)
	}
	if got := testenv.MountsUnder(t, outside); len(got) != 1 {
		t.Errorf("umount-rootfs of a link to %s unmounted it: %q left", outside, got)
	}
}

// TestBindRootfsRefuses the host's root (also through a symlink) and a
// file.
func TestBindRootfsRefuses(t *testing.T) {
	base := hostTemp(t)
	link := filepath.Join(base, "root")
	if err := os.Symlink("/", link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"/", link, file} {
		if err := BindRootfs(dir); err == nil {
			t.Errorf("BindRootfs(%s) succeeded", dir)
		} else if dir != file && !strings.Contains(err.Error(), `the host's "/"`) {
			t.Errorf("BindRootfs(%s): %v, want the host's root refused", dir, err)
		} else if dir == file && !strings.Contains(err.Error(), "ENOTDIR") {
			t.Errorf("BindRootfs(%s): %v, want ENOTDIR", dir, err)
		}
	}
	if got := testenv.MountsUnder(t, base); len(got) > 0 {
		t.Errorf("a refused BindRootfs mounted %q", got)
	}
}
