package mounts

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// escapeTree makes a host directory with a secret outside the root and a
// root whose links try to leave it: abs -> /etc (absolute: inside the
// root, its own /etc), out -> HOST/outside (absolute, to the host's
// directory), up -> ../../outside (dot-dot past the root), and
// etc/secret -> HOST/outside/secret.
func escapeTree(t *testing.T) (host string, r *Root) {
	t.Helper()
	host = t.TempDir()
	root := filepath.Join(host, "root")
	for _, d := range []string{filepath.Join(host, "outside"), filepath.Join(root, "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(host, "outside", "secret"), []byte("host's"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root's"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"abs":        "/etc",
		"out":        filepath.Join(host, "outside"),
		"up":         "../../outside",
		"etc/secret": filepath.Join(host, "outside", "secret"),
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return host, r
}

// TestResolveInRoot resolves paths inside a root the way init resolves
// mount targets (openat2 RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS): an
// absolute symlink lands inside the root, ".." and a link of dot-dots stop
// at the root, a link to a host path is looked up inside the root and so
// is missing there, and each refusal is the errno the kernel gives.
func TestResolveInRoot(t *testing.T) {
	host, r := escapeTree(t)
	var inside unix.Stat_t
	if err := unix.Stat(filepath.Join(host, "root", "etc", "passwd"), &inside); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		errno      unix.Errno // 0: it opens, and is the root's etc/passwd
	}{
		{"absolute symlink stays inside", "/abs/passwd", 0},
		{"dot-dot stops at the root", "/../../etc/passwd", 0},
		{"dot-dot past the root to the host", "/../outside/secret", unix.ENOENT},
		{"symlink of dot-dots to the host", "/up/secret", unix.ENOENT},
		{"absolute symlink to a host path", "/out/secret", unix.ENOENT},
		{"last component a link to the host's file", "/etc/secret", unix.ENOENT},
		{"through a file", "/etc/passwd/x", unix.ENOTDIR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fd, err := r.open(tt.path, 0)
			if tt.errno != 0 {
				if err == nil {
					unix.Close(fd)
					t.Fatalf("%s opened", tt.path)
				}
				if !errors.Is(err, tt.errno) {
					t.Fatalf("%s: %v, want %v", tt.path, err, tt.errno)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.path, err)
			}
			defer unix.Close(fd)
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				t.Fatal(err)
			}
			if st.Ino != inside.Ino || st.Dev != inside.Dev {
				t.Errorf("%s is not the root's etc/passwd", tt.path)
			}
		})
	}
}

// TestResolveMagicLinks refuses the links of /proc that point anywhere
// (a process's root, working directory and descriptors) with ELOOP,
// while a plain path of /proc still opens.
func TestResolveMagicLinks(t *testing.T) {
	r, err := OpenRoot("/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range []string{"/self/root", "/self/root/etc", "/self/cwd", "/self/exe", "/self/fd/" + strconv.Itoa(int(f.Fd()))} {
		fd, err := r.open(p, 0)
		if err == nil {
			unix.Close(fd)
			t.Errorf("%s opened through a magic link", p)
		} else if !errors.Is(err, unix.ELOOP) {
			t.Errorf("%s: %v, want ELOOP", p, err)
		}
	}
	// A bind source may not be one either, with or without noSymlinks.
	for _, no := range []bool{false, true} {
		if fd, err := r.OpenSource("/self/root", no); err == nil {
			unix.Close(fd)
			t.Errorf("OpenSource(/self/root, %t) opened a magic link", no)
		} else if !errors.Is(err, unix.ELOOP) {
			t.Errorf("OpenSource(/self/root, %t): %v, want ELOOP", no, err)
		}
	}
	fd, err := r.open("/self/status", 0)
	if err != nil {
		t.Fatalf("a plain file of /proc: %v", err)
	}
	unix.Close(fd)
}

// TestCreateRefusesLinks makes directories, files and symlinks in a root
// whose links lead out: nothing is made outside, and each refusal is its
// errno (what exists is not replaced: EEXIST; a link out resolves to
// nothing inside: ENOENT).
func TestCreateRefusesLinks(t *testing.T) {
	host, r := escapeTree(t)
	outside := filepath.Join(host, "outside")
	tests := []struct {
		name  string
		make  func() error
		errno unix.Errno
	}{
		{"mkdir under a link to the host", func() error {
			fd, err := r.Mkdir("/out/made", 0o755)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}, unix.ENOENT},
		{"mkdir under a dot-dot link", func() error {
			fd, err := r.Mkdir("/up/made", 0o755)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}, unix.ENOENT},
		{"file over a link to the host's file", func() error { return r.WriteFile("/etc/secret", 0o644, "sandbox's") }, unix.EEXIST},
		{"file under a link to the host", func() error { return r.WriteFile("/out/new", 0o644, "sandbox's") }, unix.ENOENT},
		{"file over an existing file", func() error { return r.WriteFile("/etc/passwd", 0o644, "again") }, unix.EEXIST},
		{"symlink over a link", func() error { return r.Symlink("/x", "/out") }, unix.EEXIST},
		{"existing mount target missing", func() error {
			fd, err := r.mountpoint("/out", Dir, true)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}, unix.ENOENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.make()
			if !errors.Is(err, tt.errno) {
				t.Errorf("%v, want %v", err, tt.errno)
			}
		})
	}
	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "secret" {
		t.Errorf("the host's directory now holds %v", entries)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "host's" {
		t.Errorf("the host's secret now reads %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "root", "etc", "passwd")); string(b) != "root's" {
		t.Errorf("the root's file was overwritten: %q", b)
	}
	// A directory made through the root's own absolute link is made in
	// the root.
	fd, err := r.Mkdir("/abs/made", 0o700)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if st, err := os.Stat(filepath.Join(host, "root", "etc", "made")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("mkdir through /abs: %v %v", st, err)
	}
}
