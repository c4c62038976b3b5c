package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/escape"
	"github.com/cellsandbox/cell/internal/term"
	"github.com/cellsandbox/cell/profiles"
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

// TestEscapeSuite runs the escape program as the command of every built-in
// profile, as root and as the unprivileged user celltest, started from a
// session keyring of the test's own: any ESCAPED line, an attempt without
// a line (the sandbox died under the program), an exit status other than
// 0 or anything on stderr fails the test.
func TestEscapeSuite(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	bin := escape.Build(t)
	names := escape.Names(t, bin)
	uid, gid, dir, cellBin := rootlessUser(t)
	for _, caller := range []string{"root", "rootless"} {
		for _, prof := range profiles.Names() {
			t.Run(caller+"/"+prof, func(t *testing.T) {
				work, err := os.MkdirTemp("/var/tmp", "cell-escape-work-")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(work) })
				if err := os.Chmod(work, 0o755); err != nil { // build-worker's root is not the caller
					t.Fatal(err)
				}
				args := escapeArgs(prof, bin)
				cmd := cellCmd(t, "run")
				if caller == "rootless" {
					if err := os.Chown(work, int(uid), int(gid)); err != nil {
						t.Fatal(err)
					}
					args = append(args, rootlessSets(prof)...)
					cmd = rootlessCellCmd(cellBin, dir, uid, gid)
					if prof == "agent" {
						// The agent's user-mode network needs a tun
						// node the user may open (root's only here).
						env := cmd.Env
						cmd = rootlessTun(uid, gid, cellBin, "run")
						cmd.Env = env
					}
				}
				cmd.Dir = work
				r := runFromNewKeyring(t, cmd, func(keyring int) []string {
					return append(args, "--", "/escape", "-keyring", strconv.Itoa(keyring))
				})
				escape.Verify(t, []byte(r.stdout), names...)
				if r.code != 0 || r.stderr != "" {
					t.Errorf("escape program in %s: exit %d, stderr:\n%s", prof, r.code, r.stderr)
				}
			})
		}
	}
}

// TestSessionKeyring runs the session-keyring attempt where seccomp does not
// deny keyctl (security.seccomp.mode unconfined), as root and rootless,
// from a session keyring of the test's own: the command's session keyring
// must be another.
func TestSessionKeyring(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	bin := escape.Build(t)
	uid, gid, dir, cellBin := rootlessUser(t)
	for _, caller := range []string{"root", "rootless"} {
		t.Run(caller, func(t *testing.T) {
			// Unconfined, with the project read-only: a writable bind
			// without the filter's set-ID guard is refused.
			args := append(escapeArgs("default", bin), "--set", "security.seccomp.mode=unconfined",
				"--set", "filesystem.mounts[23].writable=false", "--set", "filesystem.mounts[24].writable=false")
			cmd := cellCmd(t, "run")
			if caller == "rootless" {
				cmd = rootlessCellCmd(cellBin, dir, uid, gid)
			}
			work, err := os.MkdirTemp("/var/tmp", "cell-keyring-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(work) })
			if err := os.Chmod(work, 0o755); err != nil {
				t.Fatal(err)
			}
			cmd.Dir = work
			r := runFromNewKeyring(t, cmd, func(keyring int) []string {
				return append(args, "--", "/escape", "-only", "session-keyring", "-keyring", strconv.Itoa(keyring))
			})
			if r.code != 0 || !strings.HasPrefix(r.stdout, "BLOCKED session-keyring: the session keyring ") {
				t.Errorf("want a session keyring of the sandbox's own; got %s", r)
			}
		})
	}
}

// rootlessCellCmd is cell run as the user celltest (rootlessUser).
func rootlessCellCmd(cellBin, home string, uid, gid uint32) *exec.Cmd {
	cmd := exec.Command(cellBin, "run")
	cmd.Args[0] = "cell"
	cmd.Env = []string{"CELL_TEST_MAIN=1", "HOME=" + home, "USER=celltest", "PATH=/usr/bin:/bin", "XDG_RUNTIME_DIR=" + filepath.Join(home, "run")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	return cmd
}

// escapeArgs are the flags of cell run that add the escape program at
// /escape to a built-in profile, executable where the profile has a
// landlock ruleset.
func escapeArgs(prof, bin string) []string {
	return []string{"-p", prof,
		"--set", fmt.Sprintf("filesystem.mounts[+]={type: bind, source: %s, target: /escape}", bin),
		"--set", "security.landlock.readExec[+]=/escape"}
}

// rootlessSets adapt a built-in profile to an unprivileged caller on this
// host: no limits (they need a delegated cgroup, which the test host does
// not have), and build-worker's IDs from the caller's subordinate range.
func rootlessSets(prof string) []string {
	sets := []string{"--set", "resources=null"}
	if prof == "build-worker" {
		sets = append(sets,
			"--set", `ids.uidMap=[{inside: 0, outside: "${UID}", count: 1}, {inside: 1, outside: subuid, count: 65535}]`,
			"--set", `ids.gidMap=[{inside: 0, outside: "${GID}", count: 1}, {inside: 1, outside: subgid, count: 65535}]`)
	}
	return sets
}

// runFromNewKeyring runs cmd, with the arguments that args returns for the
// serial of a new session keyring, from a thread that has joined that
// keyring: cell, and a sandbox that kept the caller's session keyring,
// have it as theirs. The thread is left locked, so it ends with its
// goroutine and no other goroutine runs with that keyring.
func runFromNewKeyring(t *testing.T, cmd *exec.Cmd, args func(keyring int) []string) cellResult {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// A NULL name: a new anonymous keyring, as init makes.
		serial, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
		if errno != 0 {
			started <- fmt.Errorf("join a new session keyring: %w", errno)
			return
		}
		cmd.Args = append(cmd.Args, args(int(serial))...)
		started <- cmd.Start()
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run cell: %v", err)
	}
	return cellResult{out.String(), errb.String(), code}
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
	p, err := term.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Master.Close(); p.Slave.Close() })
	return p.Master, p.Slave
}

// TestLoaderCannotRunWhatLandlockForbids runs a copy of /bin/true from the
// agent profile's project directory, where landlock forbids execution,
// directly and through the dynamic loader, which maps it with
// mmap(PROT_EXEC) instead of executing it: both must fail, the second
// because the project is mounted noexec.
func TestLoaderCannotRunWhatLandlockForbids(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	const loader = "/lib64/ld-linux-x86-64.so.2"
	if _, err := os.Stat(loader); err != nil {
		t.Skipf("no %s on this host: %v", loader, err)
	}
	work, err := os.MkdirTemp("/var/tmp", "cell-loader-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	prog, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "true"), prog, 0o755); err != nil {
		t.Fatal(err)
	}
	// The agent may execute from the project and /tmp (go test runs its
	// binaries there); its home is where landlock forbids execution.
	cmd := cellCmd(t, "run", "-p", "agent", "--", "sh", "-c", "cp ./true ~/true && { ~/true 2>/dev/null; echo exec=$?; "+loader+" ~/true 2>/dev/null; echo loader=$?; }")
	cmd.Dir = work
	r := runCellCmd(t, cmd)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "exec=126\nloader=") || strings.HasSuffix(r.stdout, "loader=0\n") {
		t.Errorf("want both refused; got %s", r)
	}
}
