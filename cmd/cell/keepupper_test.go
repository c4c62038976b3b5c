package main

import (
	"fmt"
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

// TestKeepUpperSetID: the set-ID guard does not see copy-up. Touching a
// set-user-ID file of an overlay's lower copies it, bits and all, into
// the kept upper layer on the host (and a shared mmap could then change
// its content, bits kept). After the run cell clears them, as it does a
// hand-back's, and fails the run saying so.
func TestKeepUpperSetID(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	lower, keep := t.TempDir(), t.TempDir()
	f := filepath.Join(lower, "su")
	if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	set := fmt.Sprintf("filesystem.mounts[+]={type: overlay, target: /w, lower: [%s], size: 4Mi}", lower)
	r := cell(t, "run", "-T", "-p", profile(t, ""), "--keep-upper", keep, "--set", set, "--", "touch", "/w/su")
	kept := filepath.Join(keep, "1", "0", "upper", "su")
	fi, err := os.Stat(kept)
	if err != nil {
		t.Fatalf("%s: %v (%s)", kept, err, r)
	}
	if fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
		t.Errorf("the kept upper layer holds %s, %v", kept, fi.Mode())
	}
	if r.code == 0 || !strings.Contains(r.stderr, "cleared the set-ID bits of 1 files ("+kept+")") {
		t.Errorf("the run does not say it cleared the bits: %s", r)
	}
}
