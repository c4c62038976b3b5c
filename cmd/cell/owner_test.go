package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestForeignStateDirCLI plants, as another user (root here), the state
// directory of an unprivileged caller, open to all, with a forged record
// naming one of the caller's processes: cell ps, kill and gc refuse the
// directory instead of believing the record.
func TestForeignStateDirCLI(t *testing.T) {
	requirePrivilege(t)
	uid, gid, dir, bin := rootlessUser(t)
	runtime := filepath.Join(dir, "run") // made by rootlessUser
	planted := filepath.Join(runtime, "cell")
	if err := os.Mkdir(planted, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(planted, 0o777)
	// A process of the caller's that the forged record names as a
	// sandbox's cell, for cell kill to hit.
	victim := exec.Command("sleep", "60")
	victim.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = victim.Process.Kill(); _ = victim.Wait() })
	start := procStart(t, victim.Process.Pid)
	rec := fmt.Sprintf(`{"name":"forged","profile":"default","started":"%s","pid":%d,"pidStart":%d,"cellPid":%d,"cellStart":%d}`,
		time.Now().UTC().Format(time.RFC3339), victim.Process.Pid, start, victim.Process.Pid, start)
	if err := os.WriteFile(filepath.Join(planted, "forged.json"), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"ps"}, {"kill", "forged", "KILL"}, {"gc"}} {
		cmd := exec.Command(bin, args...)
		cmd.Args[0] = "cell"
		cmd.Env = []string{"CELL_TEST_MAIN=1", "HOME=/", "USER=celltest", "XDG_RUNTIME_DIR=" + runtime}
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		r := runCellCmd(t, cmd)
		if r.code == 0 || !strings.Contains(r.stderr, "state directory "+planted+" is owned by uid 0, not by you") || strings.Contains(r.stdout, "forged") {
			t.Errorf("cell %s in a planted state directory: %s", strings.Join(args, " "), r)
		}
	}
	// Not reaped yet, a killed victim is a zombie.
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", victim.Process.Pid)); strings.Contains(string(b), ") Z ") {
		t.Error("the process the forged record names was killed")
	}
}

// procStart reads a process's start time (field 22 of /proc/PID/stat).
func procStart(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	var v uint64
	fmt.Sscan(f[19], &v)
	return v
}
