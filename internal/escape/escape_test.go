package escape

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// initEnv makes the re-executed test binary run the escape program named
// by binEnv: as pid 1 of new namespaces ("pid1", runInit) or in a chroot
// ("jail", runJail), with a /proc there when procEnv is set.
const (
	initEnv = "CELL_ESCAPE_INIT"
	binEnv  = "CELL_ESCAPE_BIN"
	procEnv = "CELL_ESCAPE_PROC"
	// argsEnv holds the escape program's arguments for runInit, split
	// on spaces.
	argsEnv = "CELL_ESCAPE_ARGS"
)

func TestMain(m *testing.M) {
	switch os.Getenv(initEnv) {
	case "":
		os.Exit(m.Run())
	case "pid1":
		os.Exit(runInit())
	case "jail":
		os.Exit(runJail())
	}
	fmt.Fprintln(os.Stderr, "unknown", initEnv, os.Getenv(initEnv))
	os.Exit(125)
}

// requireRoot skips a test that needs root, unless CELL_TEST_STRICT is
// set, where a skip would hide a failure.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CELL_TEST_STRICT") != "" {
		t.Fatal("this test needs root and CELL_TEST_STRICT forbids skipping it")
	}
	t.Skip("needs root: it runs the escape program as uid 65534 and as root in new namespaces")
}

func TestParse(t *testing.T) {
	out := "BLOCKED mount: EPERM (operation not permitted)\n" +
		"ESCAPED keyctl: joined a new session keyring (serial 5)\n" +
		"SKIPPED tiocsti: stdin is not a terminal\n"
	rs, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Blocked, "mount", "EPERM (operation not permitted)"},
		{Escaped, "keyctl", "joined a new session keyring (serial 5)"},
		{Skipped, "tiocsti", "stdin is not a terminal"},
	}
	if diff := cmp.Diff(want, rs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var lines []string
	for _, r := range rs {
		lines = append(lines, r.String())
	}
	if got := strings.Join(lines, "\n") + "\n"; got != out {
		t.Errorf("String() does not print the lines back:\n%s", got)
	}
	if got := Select(rs, Escaped); len(got) != 1 || got[0].Name != "keyctl" {
		t.Errorf("Select(Escaped) = %v", got)
	}

	for _, tc := range []struct{ in, err string }{
		{"BLOCKED mount EPERM\n", `line 1: "BLOCKED mount EPERM" is not "BLOCKED|ESCAPED|SKIPPED name: detail"`},
		{"blocked mount: EPERM\n", `line 1: "blocked mount: EPERM" is not "BLOCKED|ESCAPED|SKIPPED name: detail"`},
		{"BLOCKED mount: \n", `line 1: "BLOCKED mount: " is not "BLOCKED|ESCAPED|SKIPPED name: detail"`},
		{"BLOCKED a: x\n\nBLOCKED b: y\n", `line 2: "" is not "BLOCKED|ESCAPED|SKIPPED name: detail"`},
		{"BLOCKED a: x\nESCAPED a: y\n", `line 2: a reported twice`},
	} {
		if _, err := Parse(tc.in); err == nil || err.Error() != tc.err {
			t.Errorf("Parse(%q) = %v\nwant %s", tc.in, err, tc.err)
		}
	}
	if got := Status(9).String(); got != "Status(9)" {
		t.Errorf("Status(9).String() = %q", got)
	}
}

// TestBuild shows that the program is static (no ELF interpreter), so that
// a sandbox without /lib can run it, and that each call gets its own copy
// in a directory every user can enter.
func TestBuild(t *testing.T) {
	a, b := Build(t), Build(t)
	if a == b {
		t.Errorf("two calls returned the same path %s", a)
	}
	for _, p := range []string{a, filepath.Dir(a)} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o755 {
			t.Errorf("%s has mode %v, want 0755", p, st.Mode().Perm())
		}
	}
	f, err := elf.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter: it is not static", a)
		}
	}
}

func TestFlags(t *testing.T) {
	bin := Build(t)
	out, err := exec.Command(bin, "-only", "cwd,fds").Output()
	if err != nil {
		t.Fatalf("-only cwd,fds: %v\n%s", err, out)
	}
	rs, err := Parse(string(out))
	if err != nil || len(rs) != 2 || rs[0].Name != "fds" || rs[1].Name != "cwd" {
		t.Errorf("-only cwd,fds printed (in the program's order, fds first):\n%s", out)
	}
	cmd := exec.Command(bin, "-skip", "mount,nosuch")
	msg, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 ||
		!strings.Contains(string(msg), `escape: -skip: unknown attempt "nosuch" (escape -list prints them)`) {
		t.Errorf("-skip nosuch: %v\n%s", err, msg)
	}
}

// run runs the escape program and returns its parsed output, failing the
// test unless the exit status agrees with it (1 when an attempt escaped,
// 0 when none did) and every attempt printed one line, in order.
func run(t *testing.T, want []string, cmd *exec.Cmd) map[string]Result {
	t.Helper()
	out, err := cmd.Output()
	t.Logf("%s:\n%s", strings.Join(cmd.Args, " "), out)
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
		if len(exit.Stderr) > 0 {
			t.Logf("stderr: %s", exit.Stderr)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	rs, err := Parse(string(out))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	byName := map[string]Result{}
	for _, r := range rs {
		got = append(got, r.Name)
		byName[r.Name] = r
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
	if wantCode := min(len(Select(rs, Escaped)), 1); code != wantCode {
		t.Errorf("exit status %d with %d ESCAPED lines, want %d", code, len(Select(rs, Escaped)), wantCode)
	}
	return byName
}

// expect fails the test unless each named attempt has status s.
func expect(t *testing.T, rs map[string]Result, s Status, names ...string) {
	t.Helper()
	for _, n := range names {
		if r, ok := rs[n]; !ok || r.Status != s {
			t.Errorf("%s: got %q, want %s", n, r, s)
		}
	}
}

// privileged are the attempts that an ordinary user on the host must never
// get through, whatever the host's sysctls (unlike user namespaces,
// keyctl, unprivileged bpf or perf_event_open).
var privileged = []string{
	"fds", "init-fds", "cwd", "mount", "fsmount", "ptrace-init", "kexec", "init-module", "finit-module",
	"reboot", "packet-socket", "raw-socket", "hostname", "sysrq", "exe-write", "exe-reopen",
	"mknod", "setid-file", "chroot", "shadow", "setuid",
}

// TestUnprivilegedOnHost runs the program on the host as uid 65534 from a
// 0755 directory: the privileged attempts are BLOCKED, with an errno.
func TestUnprivilegedOnHost(t *testing.T) {
	requireRoot(t)
	bin := Build(t)
	cmd := exec.Command(bin)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}},
	}
	rs := run(t, Names(t, bin), cmd)
	expect(t, rs, Blocked, privileged...)
	expect(t, rs, Skipped, "tiocsti", "tiocsti-high") // stdin is /dev/null
	for _, n := range []string{"mount", "packet-socket", "raw-socket", "mknod"} {
		if d := rs[n].Detail; !strings.HasPrefix(d, "EPERM ") {
			t.Errorf("%s: %q does not give the errno", n, d)
		}
	}
	if d := rs["setuid"].Detail; d != "setresuid(0, 0, 0) as uid 65534: EPERM (operation not permitted)" {
		t.Errorf("setuid: %q", d)
	}
}

// TestRootDetected runs the program as root, outside any sandbox, in new
// pid, mount, UTS, IPC and network namespaces (so that the host is left as
// it was) under a pid 1 of the test's own: the attempts that root can make
// are reported ESCAPED, which shows that each detector sees success.
func TestRootDetected(t *testing.T) {
	requireRoot(t)
	bin := Build(t)
	// This pid 1 is a plain Go program, which signal-init crashes
	// (TestSignalInitDetected).
	cmd := pid1Cmd(bin, "-skip signal-init")
	rs := run(t, slices.DeleteFunc(Names(t, bin), func(n string) bool { return n == "signal-init" }), cmd)

	escapes := []string{
		"mount", "fsmount", "userns-unshare", "userns-clone", "ptrace-init",
		"packet-socket", "raw-socket", "hostname", "exe-write", "exe-reopen", "mknod",
		"socket-families", "modify-ldt", "init-fds", "setid-file",
	}
	if !strings.Contains(rs["memfd-secret"].Detail, "ENOSYS") { // secretmem off in this kernel
		escapes = append(escapes, "memfd-secret")
	}
	if _, err := os.Stat("/etc/shadow"); err == nil {
		escapes = append(escapes, "shadow")
	}
	expect(t, rs, Escaped, escapes...)
	// What even root cannot do here: climb above the real root, take uid
	// 0 back after giving it up, see a process outside its pid namespace.
	expect(t, rs, Blocked, "chroot", "setuid", "ptrace-other", "fds", "cwd")
	// Without -keyring or a landlock TCP rule there is nothing to compare.
	expect(t, rs, Skipped, "session-keyring", "tcp-bypass")
	if d := rs["chroot"].Detail; !strings.Contains(d, "there is nothing above it") {
		t.Errorf("chroot: %q", d)
	}
	if d := rs["init-fds"].Detail; !strings.Contains(d, "-> /etc") {
		t.Errorf("init-fds does not name pid 1's descriptor of /etc: %q", d)
	}
	if d := rs["ptrace-init"].Detail; !strings.Contains(d, "escape.test") {
		t.Errorf("ptrace-init attached to something other than the test's pid 1: %q", d)
	}
}

// pid1Cmd runs the escape program with args under runInit, as root in
// new pid, mount, UTS, IPC and network namespaces.
func pid1Cmd(bin, args string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{"PATH=/usr/bin:/bin", initEnv + "=pid1", binEnv + "=" + bin, argsEnv + "=" + args}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:   syscall.CLONE_NEWPID,
		Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET,
	}
	return cmd
}

// TestSignalInitDetected runs signal-init under a pid 1 that is a plain Go
// program, as a sandbox's init was: the signals end it (SIGHUP, the first,
// already does), the pid namespace ends, and the program is killed before
// it prints its line.
func TestSignalInitDetected(t *testing.T) {
	requireRoot(t)
	bin := Build(t)
	out, err := pid1Cmd(bin, "-only signal-init").Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || len(out) > 0 {
		t.Errorf("pid 1 survived: %v\n%s", err, out)
	}
}

// runInit is pid 1 of TestRootDetected's namespaces: it mounts a /proc of
// the new pid namespace and runs the escape program as its child, in a
// directory of its own, while it holds a descriptor of /etc (close-on-exec:
// the child does not get it), the leak init-fds looks for.
func runInit() int {
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fmt.Fprintln(os.Stderr, "init: mount /proc:", err)
		return 125
	}
	etc, err := os.Open("/etc")
	if err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		return 125
	}
	defer etc.Close()
	bin := os.Getenv(binEnv)
	cmd := exec.Command(bin, strings.Fields(os.Getenv(argsEnv))...)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=" + filepath.Dir(bin)}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return exitCode(cmd.Run())
}

// TestTIOCSTIDetected runs the TIOCSTI attempts with a new pseudo-terminal
// as stdin and controlling terminal, where the kernel accepts TIOCSTI
// (unless dev.tty.legacy_tiocsti is 0 and the caller lacks
// CAP_SYS_ADMIN): both are reported ESCAPED.
func TestTIOCSTIDetected(t *testing.T) {
	bin := Build(t)
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()

	cmd := exec.Command(bin, "-only", "tiocsti,tiocsti-high")
	cmd.Stdin = pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	rs := run(t, []string{"tiocsti", "tiocsti-high"}, cmd)
	legacy, _ := os.ReadFile("/proc/sys/dev/tty/legacy_tiocsti")
	if strings.TrimSpace(string(legacy)) == "0" && !strings.HasPrefix(rs["tiocsti"].Detail, "ioctl") {
		t.Skipf("dev.tty.legacy_tiocsti is 0 here: %s", rs["tiocsti"])
	}
	expect(t, rs, Escaped, "tiocsti", "tiocsti-high")
}

// TestLeaksDetected starts the program in a chroot (not a sandbox: the
// mount namespace's root stays above it) with a descriptor of the host's
// /etc left open and the working directory left outside, with a /proc in
// the chroot (so the program places the descriptor by its path) and
// without: the descriptor, the working directory and the classic chroot
// climb are all reported ESCAPED.
func TestLeaksDetected(t *testing.T) {
	requireRoot(t)
	for _, proc := range []bool{true, false} {
		t.Run(fmt.Sprintf("proc=%v", proc), func(t *testing.T) {
			bin := Build(t)
			cmd := exec.Command(os.Args[0])
			cmd.Env = []string{"PATH=/usr/bin:/bin", initEnv + "=jail", binEnv + "=" + bin}
			if proc {
				cmd.Env = append(cmd.Env, procEnv+"=1")
			}
			// A private mount namespace for the chroot's /proc.
			cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
			rs := run(t, []string{"fds", "cwd", "chroot"}, cmd)
			expect(t, rs, Escaped, "fds", "cwd", "chroot")
			want := "fd 3 (directory)"
			if proc {
				want = "fd 3 -> /etc (directory not reachable from this root)"
			}
			if d := rs["fds"].Detail; !strings.Contains(d, want) {
				t.Errorf("fds: %q does not say %q", d, want)
			}
		})
	}
}

// runJail runs the escape program chrooted into its own directory with
// fd 3 open on the host's /etc and the working directory outside, after
// mounting a /proc there if procEnv is set.
func runJail() int {
	bin := os.Getenv(binEnv)
	jail := filepath.Dir(bin)
	if os.Getenv(procEnv) != "" {
		p := filepath.Join(jail, "proc")
		if err := os.Mkdir(p, 0o555); err != nil {
			fmt.Fprintln(os.Stderr, "jail:", err)
			return 125
		}
		if err := unix.Mount("proc", p, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			fmt.Fprintln(os.Stderr, "jail: mount proc:", err)
			return 125
		}
	}
	etc, err := os.Open("/etc")
	if err != nil {
		fmt.Fprintln(os.Stderr, "jail:", err)
		return 125
	}
	cmd := exec.Command("/escape", "-only", "fds,cwd,chroot")
	cmd.Path = "/escape" // resolved after the chroot
	cmd.Env = []string{"TMPDIR=/"}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{etc}
	// No Dir: ForkExec then does not chdir, and the working directory
	// stays outside the chroot.
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: jail}
	return exitCode(cmd.Run())
}

func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		return 125
	}
	return 0
}
