package mounts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// sourceTree makes a root with a real directory real/dir, a file
// real/dir/f, and the symlinks a sandbox could plant: last -> real/dir
// (relative), abs -> /real (absolute, resolved inside the root), mid ->
// real (so mid/dir has a link in the middle), and real/up -> .. .
func sourceTree(t *testing.T) *Root {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "real", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "real", "dir", "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"last":    "real/dir",
		"abs":     "/real",
		"mid":     "real",
		"real/up": "..",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestOpenSourceNoSymlinks resolves bind sources with and without
// following symlinks: followed, each lands on the real directory inside
// the root; not followed, each is refused with the component that is a
// link named, and a path without links still opens.
func TestOpenSourceNoSymlinks(t *testing.T) {
	r := sourceTree(t)
	var want unix.Stat_t
	if err := unix.Fstatat(r.fd, "real/dir", &want, 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, source string
		link, target string // the component named, "" when it opens
	}{
		{"no link", "/real/dir", "", ""},
		{"no link, dot-dot", "/real/dir/../dir", "", ""},
		{"link in the last component", "/last", "/last", "real/dir"},
		{"link in a middle component", "/mid/dir", "/mid", "real"},
		{"absolute link", "/abs/dir", "/abs", "/real"},
		{"link reached through dot-dot", "/real/dir/../../last", "/last", "real/dir"},
		{"dot-dot link", "/real/up/real/dir", "/real/up", ".."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fd, err := r.OpenSource(tt.source, false)
			if err != nil {
				t.Fatalf("following symlinks: %v", err)
			}
			var st unix.Stat_t
			unix.Fstat(fd, &st)
			unix.Close(fd)
			if st.Ino != want.Ino || st.Dev != want.Dev {
				t.Errorf("following symlinks, %s is not real/dir", tt.source)
			}

			fd, err = r.OpenSource(tt.source, true)
			if tt.link == "" {
				if err != nil {
					t.Fatalf("no symlink in %s, yet: %v", tt.source, err)
				}
				unix.Close(fd)
				return
			}
			if err == nil {
				unix.Close(fd)
				t.Fatalf("%s opened through a symlink", tt.source)
			}
			var sl *SymlinkError
			if !errors.As(err, &sl) || sl.Link != tt.link || sl.Target != tt.target || sl.Source != tt.source {
				t.Fatalf("got %v, want %s named as a link to %s", err, tt.link, tt.target)
			}
			if !errors.Is(err, unix.ELOOP) {
				t.Errorf("%v is not ELOOP", err)
			}
		})
	}
	// A missing source stays ENOENT, so that optional binds are skipped.
	if _, err := r.OpenSource("/real/none", true); !errors.Is(err, unix.ENOENT) {
		t.Errorf("missing source: %v, want ENOENT", err)
	}
}

// TestHandBack leaves in a directory what a sandbox could: a symlink to
// the host's secrets, one in a subdirectory, a set-user-ID file, and a
// plain file: HandBack removes the links, clears the bits, keeps the rest,
// and says what it did; with keepSymlinks the links stay.
func TestHandBack(t *testing.T) {
	for _, keep := range []bool{false, true} {
		dir := t.TempDir()
		sub := filepath.Join(dir, "sub")
		os.Mkdir(sub, 0o755)
		os.Symlink("/etc/shadow", filepath.Join(dir, "l"))
		os.Symlink("..", filepath.Join(sub, "up"))
		os.WriteFile(filepath.Join(sub, "x"), nil, 0o755)
		if err := os.Chmod(filepath.Join(sub, "x"), 0o755|os.ModeSetuid|os.ModeSetgid); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "f"), []byte("out"), 0o644)

		err := HandBack(dir, keep)
		var he *HandBackError
		if !errors.As(err, &he) {
			t.Fatalf("keep=%v: got %v, want a *HandBackError", keep, err)
		}
		if want := []string{sub + "/x"}; len(he.SetIDs) != 1 || he.SetIDs[0] != want[0] {
			t.Errorf("set-ID files %v, want %v", he.SetIDs, want)
		}
		if st, _ := os.Stat(filepath.Join(sub, "x")); st.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 || st.Mode().Perm() != 0o755 {
			t.Errorf("x still has mode %v", st.Mode())
		}
		_, lerr := os.Lstat(filepath.Join(dir, "l"))
		_, uerr := os.Lstat(filepath.Join(sub, "up"))
		if keep {
			if lerr != nil || uerr != nil || len(he.Symlinks) != 0 {
				t.Errorf("keepSymlinks: links %v %v, reported %v", lerr, uerr, he.Symlinks)
			}
		} else {
			if lerr == nil || uerr == nil {
				t.Errorf("symlinks left: %v %v", lerr, uerr)
			}
			if len(he.Symlinks) != 2 || !strings.Contains(err.Error(), dir+"/l -> /etc/shadow") {
				t.Errorf("reported %v: %v", he.Symlinks, err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "out" {
			t.Errorf("the plain output changed: %q", b)
		}
		if err := HandBack(dir, keep); err != nil {
			t.Errorf("a second check found more: %v", err)
		}
	}
	if err := HandBack(filepath.Join(t.TempDir(), "none"), false); err != nil {
		t.Errorf("missing directory: %v", err)
	}
}

// TestPinLowers opens an overlay's lower directories without following
// symlinks and hands them on as descriptors; a link among them is refused
// by name, and the other options stay as they are.
func TestPinLowers(t *testing.T) {
	r := sourceTree(t)
	opts := []string{"lowerdir=" + r.name + "/real/dir:" + r.name + "/real", "upperdir=/u", "userxattr"}
	got, fds, err := r.PinLowers(opts, "/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(fds)
	if len(fds) != 2 {
		t.Fatalf("descriptors %v, want 2", fds)
	}
	want := fmt.Sprintf("lowerdir=/proc/self/fd/%d:/proc/self/fd/%d", fds[0], fds[1])
	if got[0] != want || got[1] != opts[1] || got[2] != opts[2] {
		t.Errorf("options %q, want %q then the rest unchanged", got, want)
	}
	var st, dir unix.Stat_t
	unix.Stat(got[0][len("lowerdir="):len("lowerdir=")+len(fmt.Sprintf("/proc/self/fd/%d", fds[0]))], &st)
	unix.Fstatat(r.fd, "real/dir", &dir, 0)
	if st.Ino != dir.Ino {
		t.Errorf("the first descriptor is not real/dir")
	}
	_, _, err = r.PinLowers([]string{"lowerdir=" + r.name + "/real:" + r.name + "/mid/dir"}, "/proc")
	var sl *SymlinkError
	if !errors.As(err, &sl) || sl.Link != "/mid" || !strings.HasPrefix(err.Error(), "overlay lower directory /mid/dir: /mid is a symlink (to real)") {
		t.Errorf("a lower through a link: %v", err)
	}
}
