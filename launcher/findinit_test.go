package launcher

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestHostPaths: a step's error names host and sandbox paths, never the
// init's staging directories /oldroot and /newroot.
func TestHostPaths(t *testing.T) {
	for in, want := range map[string]string{
		`step 9 mkdir /oldroot/tmp/k/1/0: EEXIST`:           `step 9 mkdir /tmp/k/1/0: EEXIST`,
		`step 3 bind /oldroot/srv -> /newroot/data: ENOENT`: `step 3 bind /srv -> /data: ENOENT`,
		`open_tree("/oldroot", 0) at /newroot: x`:           `open_tree("/", 0) at /: x`,
		`bind /home/oldroot/x -> /oldrootfs/y`:              `bind /home/oldroot/x -> /oldrootfs/y`,
		`mkdir /oldroot/a /oldroot/b`:                       `mkdir /a /b`,
	} {
		if got := HostPaths(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestSameBuild(t *testing.T) {
	build := func(rev, modified, gover string, deps ...string) *debug.BuildInfo {
		b := &debug.BuildInfo{GoVersion: gover, Main: debug.Module{Path: "github.com/cellsandbox/cell"}}
		if rev != "" {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: "vcs.revision", Value: rev}, debug.BuildSetting{Key: "vcs.modified", Value: modified})
		}
		for i := 0; i+1 < len(deps); i += 2 {
			b.Deps = append(b.Deps, &debug.Module{Path: deps[i], Version: deps[i+1]})
		}
		return b
	}
	cell := build("abc", "false", "go1.26.8", "golang.org/x/sys", "v0.50.0", "gopkg.in/yaml.v3", "v3.0.1")
	for _, tt := range []struct {
		name         string
		mine, theirs *debug.BuildInfo
		want         string
	}{
		{"same", cell, build("abc", "false", "go1.26.8", "golang.org/x/sys", "v0.50.0"), ""},
		{"no vcs", build("", "", "go1.26.8"), build("", "", "go1.26.8"), "without version control"},
		{"dirty", build("abc", "true", "go1.26.8"), build("abc", "true", "go1.26.8"), "modified tree"},
		{"other revision", cell, build("abd", "false", "go1.26.8"), "another build (revision abd"},
		{"init dirty", cell, build("abc", "true", "go1.26.8"), "modified true"},
		{"other go", cell, build("abc", "false", "go1.26.7"), "built with go1.26.7"},
		{"other dep", cell, build("abc", "false", "go1.26.8", "golang.org/x/sys", "v0.49.0"), "golang.org/x/sys v0.49.0"},
		{"extra dep", cell, build("abc", "false", "go1.26.8", "example.com/x", "v1.0.0"), "example.com/x"},
	} {
		if got := sameBuild(tt.mine, tt.theirs); tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestInitTrusted(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	self := filepath.Join(dir, "cell")
	init := filepath.Join(dir, InitName)
	os.WriteFile(self, []byte("x"), 0o755)
	check := func(want string) {
		t.Helper()
		if got := initTrusted(self, init); !strings.Contains(got, want) {
			t.Errorf("initTrusted = %q, want %q", got, want)
		}
	}
	check("no cell-init beside")
	os.WriteFile(init, []byte("x"), 0o644)
	check("not an executable file")
	os.Chmod(init, 0o775)
	check("writable by its group or others")
	os.Chmod(init, 0o755)
	os.Chmod(dir, 0o777)
	check("can be written by another user")
	os.Chmod(dir, 0o755)
	if os.Geteuid() == 0 {
		os.Chown(init, 12345, 12345)
		check("owned by uid 12345")
		os.Chown(init, 0, 0)
	}
	// Trusted as a file, it is not a Go binary of this build.
	check("cell-init")
	if got := initTrusted(self, init); got == "" {
		t.Error("a file that is no Go binary was trusted")
	}
}
