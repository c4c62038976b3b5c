package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

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
