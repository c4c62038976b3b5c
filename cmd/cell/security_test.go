package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cellsandbox/cell/launcher/escape"
)

func TestSeccomp(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	prof := profile(t, "")
	tests := []struct {
		name   string
		sets   []string
		script string
		want   string
	}{
		{"default filter", nil, "grep Seccomp: /proc/self/status; unshare -U true 2>/dev/null || echo refused", "Seccomp:\t2\nrefused\n"},
		{"nested namespaces allowed", []string{"security.seccomp.allowNestedNamespaces=true"}, "unshare -U true && echo nested", "nested\n"},
		{"an added rule", []string{"process.env.CELL_PROBE=uname", "security.seccomp.rules=[{syscalls: [uname], action: errno, errno: EACCES}]"}, "/probe || true", "uname: permission denied\n"},
		{"unconfined", []string{"security.seccomp.mode=unconfined"}, "grep Seccomp: /proc/self/status", "Seccomp:\t0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustSucceed(t, sandboxRun(t, prof, tt.sets, "sh", "-c", tt.script))
			if out != tt.want {
				t.Errorf("got %q, want %q", out, tt.want)
			}
		})
	}
	r := sandboxRun(t, prof, []string{"security.seccomp.rules=[{syscalls: [keyctll], action: allow}]"}, "true")
	if r.code == 0 || !strings.Contains(r.stderr, `--set:1:37: security.seccomp.rules[0].syscalls[0]: unknown syscall "keyctll" (did you mean "keyctl"?)`) {
		t.Errorf("unknown syscall name: %s", r)
	}
}

func TestRlimitsAndOOMScore(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	out := mustSucceed(t, sandboxRun(t, profile(t, ""), []string{"security.rlimits={nofile: 64, core: {soft: 0, hard: 1024}}", "security.oomScoreAdj=500"},
		"sh", "-c", "ulimit -n; ulimit -c; ulimit -H -c; cat /proc/self/oom_score_adj"))
	if out != "64\n0\n2\n500\n" { // dash counts core in 512-byte blocks
		t.Errorf("rlimits and oom_score_adj inside: %q", out)
	}
}

func TestLandlock(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	sets := []string{"security.landlock={mode: require, readExec: [/usr, /bin, /lib, /lib64], readWrite: [/dev]}"}
	out := mustSucceed(t, sandboxRun(t, profile(t, ""), sets, "sh", "-c", "echo x > /dev/null && echo dev-ok; ls /proc >/dev/null 2>&1 || echo proc-denied"))
	if out != "dev-ok\nproc-denied\n" {
		t.Errorf("landlock inside: %q", out)
	}
	r := sandboxRun(t, profile(t, ""), []string{"security.landlock={mode: require}"}, "true")
	if r.code == 0 || !strings.Contains(r.stderr, "security.landlock: mode require with no rule would restrict nothing") {
		t.Errorf("empty landlock: %s", r)
	}
}

// TestSymlinkTargetStaysInside plants symlinks to the host's /etc in a
// directory the sandbox binds, then mounts onto paths through them: the
// mounts must land inside the sandbox's root, never on the host.
func TestSymlinkTargetStaysInside(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	dir := t.TempDir()
	for name, target := range map[string]string{"abs": "/etc", "rel": "../../../../../../etc", "old": "/oldroot/etc"} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	hostEtc, err := os.ReadDir("/etc")
	if err != nil {
		t.Fatal(err)
	}
	bind := fmt.Sprintf("filesystem.mounts[+]={type: bind, source: %s, target: /w, writable: true}", dir)
	// The sandbox has no /etc: the symlinks dangle inside its root, and
	// the mount is refused rather than made anywhere else.
	for _, target := range []string{"/w/abs/x", "/w/rel/y", "/w/old/z"} {
		r := sandboxRun(t, profile(t, ""), []string{bind, "filesystem.mounts[+]={type: tmpfs, target: " + target + "}"}, "true")
		if r.code == 0 || !strings.Contains(r.stderr, "ENOENT") {
			t.Errorf("mount onto %s through a dangling symlink: %s", target, r)
		}
	}
	// With an /etc of its own, the same symlinks lead there.
	sets := []string{
		"filesystem.mounts[+]={type: dir, target: /etc}",
		"filesystem.mounts[+]={type: dir, target: /oldroot/etc}",
		bind,
		"filesystem.mounts[+]={type: tmpfs, target: /w/abs/x}",
		"filesystem.mounts[+]={type: tmpfs, target: /w/rel/y}",
		"filesystem.mounts[+]={type: file, target: /w/old/z, content: planted}",
	}
	out := mustSucceed(t, sandboxRun(t, profile(t, ""), sets, "sh", "-c", "ls -d /etc/x /etc/y /oldroot/etc/z; cat /oldroot/etc/z"))
	if out != "/etc/x\n/etc/y\n/oldroot/etc/z\nplanted" {
		t.Errorf("mounts through the symlinks: %q; want them under the sandbox's own root", out)
	}
	after, _ := os.ReadDir("/etc")
	if len(after) != len(hostEtc) {
		t.Errorf("the host's /etc changed: %d entries before, %d after", len(hostEtc), len(after))
	}
	for _, p := range []string{"/etc/x", "/etc/y", "/oldroot"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s appeared on the host", p)
		}
	}
}

// TestEscapeSuite runs the escape program inside the built-in profiles
// (each attempt a line; any ESCAPED fails the test).
func TestEscapeSuite(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	bin := escape.Build(t)
	for _, prof := range []string{"default", "build"} {
		t.Run(prof, func(t *testing.T) {
			work, err := os.MkdirTemp("/var/tmp", "cell-escape-work-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(work) })
			cmd := cellCmd(t, "run", "-p", prof, "--set", fmt.Sprintf("filesystem.mounts[+]={type: bind, source: %s, target: /escape}", bin), "--", "/escape")
			cmd.Dir = work
			r := runCellCmd(t, cmd)
			t.Logf("escape suite in %s:\n%s", prof, r.stdout)
			escape.Verify(t, []byte(r.stdout))
			if r.code != 0 {
				t.Errorf("escape program exited %d: %s", r.code, r.stderr)
			}
		})
	}
}

// TestTIOCSTIBlocked gives the sandbox the caller's terminal as its
// controlling one (newSession: false, the case of an interactive shell
// with job control), where only the seccomp filter stands between the
// command and the terminal's input queue.
func TestTIOCSTIBlocked(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	bin := escape.Build(t)
	_, pts := testPTY(t)
	for _, newSession := range []string{"true", "false"} {
		cmd := cellCmd(t, "run", "-p", profile(t, ""), "--set", "process.newSession="+newSession,
			"--set", fmt.Sprintf("filesystem.mounts[+]={type: bind, source: %s, target: /escape}", bin), "--", "/escape", "-only", "tiocsti,tiocsti-high")
		cmd.Stdin = pts
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		r := runCellCmd(t, cmd)
		if !strings.Contains(r.stdout, "BLOCKED tiocsti:") || !strings.Contains(r.stdout, "BLOCKED tiocsti-high:") {
			t.Errorf("newSession %s: %s", newSession, r)
		}
	}
	// Without the filter the same setup lets the keystroke through, which
	// shows the test reaches the terminal at all.
	cmd := cellCmd(t, "run", "-p", profile(t, ""), "--set", "process.newSession=false", "--set", "security.seccomp.mode=unconfined",
		"--set", fmt.Sprintf("filesystem.mounts[+]={type: bind, source: %s, target: /escape}", bin), "--", "/escape", "-only", "tiocsti")
	cmd.Stdin = pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if r := runCellCmd(t, cmd); !strings.Contains(r.stdout, "ESCAPED tiocsti:") {
		t.Errorf("unconfined, shared terminal: want the injection to succeed; got %s", r)
	}
}

// testPTY makes a pty pair for a test, closed at its end.
func testPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	p, err := openPTY()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.master.Close(); p.slave.Close() })
	return p.master, p.slave
}
