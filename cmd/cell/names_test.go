package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/state"
)

// TestNamesStayInStateDir gives every command that finds a sandbox by name
// names that lead out of the state directory. One of them reaches a
// record planted outside it, whose cell is a process of the test's: a
// command that followed it would signal, freeze or wait on that process.
// Each must refuse the name, as run --name does, and leave the process be.
func TestNamesStayInStateDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Setenv("XDG_RUNTIME_DIR", t.TempDir()) // cell's state directory for this user
	}
	dir, err := state.Dir(os.Geteuid(), os.Getenv("XDG_RUNTIME_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := state.Open(dir); err != nil {
		t.Fatal(err)
	}
	victim := exec.Command("sleep", "60")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	start, err := state.StartTime(victim.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	rec, _ := json.Marshal(state.Record{Name: "victim", Profile: "default", Pid: victim.Process.Pid, PidStart: start,
		CellPid: victim.Process.Pid, CellStart: start})
	if err := os.WriteFile(filepath.Join(outside, "victim.json"), rec, 0o600); err != nil {
		t.Fatal(err)
	}
	traversal, err := filepath.Rel(dir, filepath.Join(outside, "victim"))
	if err != nil {
		t.Fatal(err)
	}
	commands := [][]string{
		{"kill", "NAME", "STOP"}, {"wait", "NAME"}, {"exec", "-T", "NAME", "--", "true"},
		{"update", "--pids-max", "10", "NAME"}, {"freeze", "NAME"}, {"thaw", "NAME"},
	}
	for _, name := range []string{traversal, "../x", "a/b", "", ".", ".."} {
		for _, command := range commands {
			args := make([]string, len(command))
			for i, a := range command {
				args[i] = strings.ReplaceAll(a, "NAME", name)
			}
			t.Run(fmt.Sprintf("%s %q", command[0], name), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				cmd := cellCmd(t, args...)
				cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
				cmd.Args[0] = "cell"
				cmd.Env = append(os.Environ(), "CELL_TEST_MAIN=1")
				r := runCellCmd(t, cmd)
				want := fmt.Sprintf("cell: error: sandbox name %q: use 1 to 63", name)
				if r.code == 0 || !strings.HasPrefix(r.stderr, want) {
					t.Errorf("want %s...; got %s", want, r)
				}
			})
		}
	}
	var ws syscall.WaitStatus
	if pid, _ := syscall.Wait4(victim.Process.Pid, &ws, syscall.WNOHANG|syscall.WUNTRACED, nil); pid != 0 {
		t.Errorf("the process behind the planted record was signalled: %v", ws)
	}
}
