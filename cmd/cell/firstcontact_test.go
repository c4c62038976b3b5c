package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsandbox/cell/launcher/state"
)

// asUser is cell as the unprivileged user celltest: a copy of the test
// binary it can run, a rootless profile and a working directory of its
// own, and no XDG_RUNTIME_DIR (as after su -, or from cron).
type asUser struct {
	uid, gid  uint32
	bin, prof string
	work      string
}

func newAsUser(t *testing.T) *asUser {
	t.Helper()
	requirePrivilege(t)
	out, err := exec.Command("id", "-u", "celltest").Output()
	if err != nil {
		if os.Getenv("CELL_TEST_STRICT") != "" {
			t.Fatal("user celltest is missing; .ci/run creates it")
		}
		t.Skip("no user celltest (.ci/run creates it)")
	}
	u := &asUser{}
	fmt.Sscan(string(out), &u.uid)
	out, _ = exec.Command("id", "-g", "celltest").Output()
	fmt.Sscan(string(out), &u.gid)
	dir, err := os.MkdirTemp("/var/tmp", "cell-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	self, _ := os.Executable()
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	u.bin = filepath.Join(dir, "cell")
	if err := os.WriteFile(u.bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	u.work = filepath.Join(dir, "work")
	os.Mkdir(u.work, 0o755)
	os.Chown(u.work, int(u.uid), int(u.gid))
	u.prof = filepath.Join(dir, "p.yaml")
	os.WriteFile(u.prof, []byte(strings.Replace(fmt.Sprintf(baseProfile, u.bin), "name: test\n", "name: test\nids: {uid: \"${UID}\", gid: \"${GID}\"}\n", 1)), 0o644)
	return u
}

func (u *asUser) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(u.bin, args...)
	cmd.Args[0] = "cell"
	cmd.Env = []string{"CELL_TEST_MAIN=1", "HOME=/", "USER=celltest", "PATH=/usr/bin:/bin"}
	cmd.Dir = u.work
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}}
	return cmd
}

// TestNoRuntimeDir: without XDG_RUNTIME_DIR a user's sandboxes are
// recorded in a private directory of the user's, with a notice, and a
// directory there that others can use is refused.
func TestNoRuntimeDir(t *testing.T) {
	u := newAsUser(t)
	dir := state.FallbackDir(int(u.uid))
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	name := fmt.Sprintf("fallback-%d", os.Getpid())
	run := u.cmd("run", "-T", "--name", name, "-p", u.prof, "--", "sleep", "3")
	var runErr strings.Builder
	run.Stderr = &runErr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill(); run.Wait() })
	var listed bool
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && !listed; time.Sleep(50 * time.Millisecond) {
		r := runCellCmd(t, u.cmd("ps", "--json"))
		var rows []struct{ Name string }
		if json.Unmarshal([]byte(r.stdout), &rows) == nil {
			for _, x := range rows {
				listed = listed || x.Name == name
			}
		}
	}
	if !listed {
		t.Errorf("cell ps does not list the named sandbox %s run without XDG_RUNTIME_DIR", name)
	}
	if err := run.Wait(); err != nil {
		t.Fatalf("named run without XDG_RUNTIME_DIR: %v: %s", err, runErr.String())
	}
	if want := "cell: notice: XDG_RUNTIME_DIR is not set; the state of your sandboxes is kept in " + dir; !strings.Contains(runErr.String(), want) {
		t.Errorf("stderr %q lacks %q", runErr.String(), want)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil || st.Uid != u.uid || st.Mode&0o7777 != 0o700 || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		t.Fatalf("%s: uid %d mode %o (%v), want a directory of uid %d, mode 0700", dir, st.Uid, st.Mode, err, u.uid)
	}
	// One that others can enter, or another user's, is refused.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := runCellCmd(t, u.cmd("ps"))
	os.Chmod(dir, 0o700)
	if r.code != 1 || !strings.Contains(r.stderr, "mode 0755 lets others in") {
		t.Errorf("a fallback directory of mode 0755: %s", r)
	}
}
