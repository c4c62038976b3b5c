package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestScripts runs the CLI scripts in testdata/script: what a user types
// and what cell prints back. The condition [root] holds when the tests run
// as root; `chown USER FILE...` gives files to a user (as root);
// `status N cmd args...` runs a command, as exec does, and fails unless
// it exits with status N.
//
// With $CELL_TEST_CELL set (make unit), `cell` in the scripts is that
// binary (the lean run binary, with cell-tools beside it), not this test
// binary.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams(os.Getenv("CELL_TEST_CELL")))
}

// scriptParams are TestScripts' parameters; a cell that is not "" comes
// first on the scripts' PATH.
func scriptParams(cell string) testscript.Params {
	return testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			if cell != "" {
				env.Setenv("PATH", filepath.Dir(cell)+string(os.PathListSeparator)+env.Getenv("PATH"))
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"chown": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: chown USER FILE...")
				}
				u, err := user.Lookup(args[0])
				ts.Check(err)
				uid, _ := strconv.Atoi(u.Uid)
				gid, _ := strconv.Atoi(u.Gid)
				for _, f := range args[1:] {
					ts.Check(os.Lchown(ts.MkAbs(f), uid, gid))
				}
			},
			"status": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: status N command [args...]")
				}
				want, err := strconv.Atoi(args[0])
				ts.Check(err)
				got := 0
				if err := ts.Exec(args[1], args[2:]...); err != nil {
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						ts.Fatalf("%v", err)
					}
					got = ee.ExitCode()
				}
				if got != want {
					ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
				}
			},
		},
	}
}
