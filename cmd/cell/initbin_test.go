package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

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
	init := filepath.Join(dir, initName)
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

// TestCellInitUsed builds cell and cell-init as make build does and runs a
// sandbox with them. From a clean checkout (CI's) cell must use
// cell-init; from a modified one it must say that it cannot match the
// build, and run with itself as init.
func TestCellInitUsed(t *testing.T) {
	requirePrivilege(t)
	if testing.Short() {
		t.Skip("builds cell")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	for _, b := range []string{"cell", "cell-init"} {
		build := exec.Command("go", "build", "-buildvcs=auto", "-tags", "urfave_cli_no_docs", "-o", filepath.Join(dir, b), "../../cmd/"+b)
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build does
		out, err := build.CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", b, err, out)
		}
	}
	status, err := exec.Command("git", "status", "--porcelain").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	clean := len(strings.TrimSpace(string(status))) == 0
	cell := filepath.Join(dir, "cell")
	doctor, _ := exec.Command(cell, "doctor").CombinedOutput()
	plan, err := exec.Command(cell, "plan", "-p", profile(t, ""), "--", "true").CombinedOutput()
	if err != nil {
		t.Fatalf("cell plan: %v\n%s", err, plan)
	}
	usesInit := strings.Contains(string(plan), `execve("`+filepath.Join(dir, "cell-init")+`"`)
	switch {
	case clean && !usesInit:
		t.Errorf("a clean build does not use cell-init:\n%s\n%s", doctor, plan)
	case !clean && (usesInit || !strings.Contains(string(doctor), "modified tree")):
		t.Errorf("a build of a modified tree: uses cell-init %t; doctor:\n%s", usesInit, doctor)
	}
	out, err := exec.Command(cell, "run", "-p", profile(t, ""), "--", "sh", "-c", "echo ok").CombinedOutput()
	if err != nil || string(out) != "ok\n" {
		t.Errorf("cell run with the built init: %v\n%s", err, out)
	}
}
