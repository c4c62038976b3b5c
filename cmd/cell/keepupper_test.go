package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeepDirRefusesLinks: a sandbox with the project writable plants
// keep -> somewhere on the host (or a parent of DIR below the working
// directory); the caller's next --keep-upper keep must not make its
// layers there.
func TestKeepDirRefusesLinks(t *testing.T) {
	proj, victim := t.TempDir(), t.TempDir()
	t.Chdir(proj)
	if err := os.Symlink(victim, filepath.Join(proj, "keep")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(proj, "build")); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"keep", filepath.Join(proj, "keep"), "build/keep"} {
		got, err := keepDir(dir)
		if err == nil || !strings.Contains(err.Error(), "is a symlink") {
			t.Errorf("keepDir(%s) = %q, %v; want a refusal naming the link", dir, got, err)
		}
	}
	if ents, _ := os.ReadDir(victim); len(ents) != 0 {
		t.Errorf("the link's target got %v", ents)
	}
}

// TestKeepDirOwner: a DIR another user made (who could swap the run's
// directory for a link later), or that others may write, is refused; a
// fresh one is made 0700 and each run gets DIR/N.
func TestKeepDirOwner(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := keepDir(open); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("keepDir of a 0777 directory: %v", err)
	}
	if os.Geteuid() == 0 {
		theirs := filepath.Join(base, "theirs")
		if err := os.Mkdir(theirs, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(theirs, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := keepDir(theirs); err == nil || !strings.Contains(err.Error(), "not to you") {
			t.Errorf("keepDir of another user's directory: %v", err)
		}
	}
	fresh := filepath.Join(base, "a", "b")
	for n := 1; n <= 2; n++ {
		got, err := keepDir(fresh)
		if want := filepath.Join(fresh, string(rune('0'+n))); err != nil || got != want {
			t.Fatalf("keepDir(%s) = %q, %v; want %s", fresh, got, err, want)
		}
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("DIR: %v %v, want 0700", fi.Mode(), err)
	}
}
