package escape

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// initEnv makes the re-executed test binary act as pid 1 of a new pid
// namespace that runs the escape program named by binEnv.
const (
	initEnv = "CELL_ESCAPE_INIT"
	binEnv  = "CELL_ESCAPE_BIN"
)

func TestMain(m *testing.M) {
	if os.Getenv(initEnv) != "" {
		os.Exit(runInit())
	}
	os.Exit(m.Run())
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

// names runs the program with -list.
func names(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command(bin, "-list").Output()
	if err != nil {
		t.Fatalf("%s -list: %v", bin, err)
	}
	return strings.Fields(string(out))
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
		t.Logf("stderr: %s", exit.Stderr)
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
	"fds", "cwd", "mount", "fsmount", "ptrace-init", "kexec", "init-module", "finit-module",
	"reboot", "packet-socket", "raw-socket", "hostname", "sysrq", "exe-write", "exe-reopen",
	"mknod", "chroot", "shadow", "setuid",
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
	rs := run(t, names(t, bin), cmd)
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
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{"PATH=/usr/bin:/bin", initEnv + "=1", binEnv + "=" + bin}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:   syscall.CLONE_NEWPID,
		Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET,
	}
	rs := run(t, names(t, bin), cmd)

	escapes := []string{
		"mount", "fsmount", "userns-unshare", "userns-clone", "ptrace-init",
		"packet-socket", "raw-socket", "hostname", "exe-write", "exe-reopen", "mknod",
	}
	if _, err := os.Stat("/etc/shadow"); err == nil {
		escapes = append(escapes, "shadow")
	}
	expect(t, rs, Escaped, escapes...)
	// What even root cannot do here: climb above the real root, take uid
	// 0 back after giving it up, see a process outside its pid namespace.
	expect(t, rs, Blocked, "chroot", "setuid", "ptrace-other", "fds", "cwd")
	if d := rs["chroot"].Detail; !strings.Contains(d, "there is nothing above it") {
		t.Errorf("chroot: %q", d)
	}
	if d := rs["ptrace-init"].Detail; !strings.Contains(d, "escape.test") {
		t.Errorf("ptrace-init attached to something other than the test's pid 1: %q", d)
	}
}

// runInit is pid 1 of TestRootDetected's namespaces: it mounts a /proc of
// the new pid namespace and runs the escape program as its child, in a
// directory of its own.
func runInit() int {
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fmt.Fprintln(os.Stderr, "init: mount /proc:", err)
		return 125
	}
	bin := os.Getenv(binEnv)
	cmd := exec.Command(bin)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=" + filepath.Dir(bin)}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err := cmd.Run()
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
