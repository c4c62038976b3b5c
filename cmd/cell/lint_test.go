package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cellsandbox/cell/profiles"
)

// TestLintMachineIndependent lints every built-in profile as SARIF twice:
// as root with one home and working directory, and as the unprivileged
// test user with others. Two CI runners must produce the same log for the
// same files.
func TestLintMachineIndependent(t *testing.T) {
	requirePrivilege(t)
	uid, gid, dir, bin := rootlessUser(t)
	args := []string{"lint", "--format", "sarif"}
	for _, n := range profiles.Names() {
		args = append(args, "-p", n)
	}
	var logs [2]string
	for i, who := range []struct {
		home, cwd string
		user      bool
	}{
		{"/root", t.TempDir(), false},
		{filepath.Join(dir, "home"), filepath.Join(dir, "elsewhere", "project"), true},
	} {
		if err := os.MkdirAll(who.cwd, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := cellCmd(t, args...)
		cmd.Path = bin
		cmd.Dir = who.cwd
		cmd.Env = []string{"CELL_TEST_MAIN=1", "HOME=" + who.home, "USER=someone", "PATH=/usr/bin:/bin"}
		if who.user {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		}
		r := runCellCmd(t, cmd)
		if r.code != 0 || r.stdout == "" {
			t.Fatalf("cell lint: %s", r)
		}
		logs[i] = r.stdout
	}
	if d := cmp.Diff(logs[0], logs[1]); d != "" {
		t.Errorf("the SARIF logs of two callers differ (-root +user):\n%s", d)
	}
}
