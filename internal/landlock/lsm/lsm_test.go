package lsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/landlock"
)

// childEnv names the scenario a re-executed test binary runs instead of
// the tests; childArg carries its JSON argument.
const (
	childEnv = "CELL_LANDLOCK_CHILD"
	childArg = "CELL_LANDLOCK_ARG"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		os.Exit(runChild(name, os.Getenv(childArg)))
	}
	os.Exit(m.Run())
}

// requireABI skips a test that needs Landlock ABI min, unless
// CELL_TEST_STRICT is set, where a skip would hide a failure.
func requireABI(t *testing.T, min int) int {
	t.Helper()
	abi, err := ABI()
	if abi >= min {
		return abi
	}
	why := fmt.Sprintf("needs landlock ABI %d; this kernel has %d", min, abi)
	if err != nil {
		why += " (" + err.Error() + ")"
	}
	if os.Getenv("CELL_TEST_STRICT") != "" {
		t.Fatal(why + ", and CELL_TEST_STRICT forbids skipping")
	}
	t.Skip(why)
	return 0
}

// fsArg is the argument of the "fs" child.
type fsArg struct {
	RW, Out, Exe, UsrFile string
}

// tcpArg is the argument of the "tcp" child: nothing yet.
type tcpArg struct{}

// runChildTest re-executes the test binary as the named child and fails
// the test unless every check in it passed.
func runChildTest(t *testing.T, name string, arg any) string {
	t.Helper()
	b, err := json.Marshal(arg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+name, childArg+"="+string(b))
	out, err := cmd.CombinedOutput()
	t.Logf("child %s:\n%s", name, out)
	if err != nil {
		t.Fatalf("child %s: %v", name, err)
	}
	return string(out)
}

func TestRestrictFilesystem(t *testing.T) {
	requireABI(t, landlock.ABIFS)
	rw, out := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "secret"), []byte("s"), 0o644); err != nil {
		t.Fatal(err)
	}
	arg := fsArg{RW: rw, Out: out}
	// An executable and a readable file under /usr, to show that
	// read-only allows reading but not executing.
	for _, p := range []string{"/usr/bin/true", "/usr/bin/env", "/usr/bin/sh"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			arg.Exe = p
			break
		}
	}
	for _, p := range []string{"/usr/lib/os-release", "/usr/share/common-licenses/GPL-3", arg.Exe} {
		if f, err := os.Open(p); err == nil {
			f.Close()
			arg.UsrFile = p
			break
		}
	}
	if arg.UsrFile == "" {
		t.Fatal("no readable file under /usr")
	}
	runChildTest(t, "fs", arg)
	if _, err := os.Stat(filepath.Join(rw, "b", "moved")); err != nil {
		t.Errorf("the child's rename inside the read-write directory did not happen: %v", err)
	}
}

// TestRestrictExecAndFile grants execute under /usr and read on a single
// file, whose neighbour stays unreadable.
func TestRestrictExecAndFile(t *testing.T) {
	requireABI(t, landlock.ABIFS)
	out := t.TempDir()
	for _, f := range []string{"allowed", "secret"} {
		if err := os.WriteFile(filepath.Join(out, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat("/usr/bin/true"); err != nil {
		t.Skip("no /usr/bin/true to execute")
	}
	runChildTest(t, "exec", fsArg{Out: out, Exe: "/usr/bin/true"})
}

func TestRestrictTCP(t *testing.T) {
	requireABI(t, landlock.ABITCP)
	runChildTest(t, "tcp", tcpArg{})
}

// scopeArg is the argument of the "scope" child: an abstract socket and
// a process outside its domain.
type scopeArg struct {
	Socket string
	Pid    int
}

// TestRestrictScope shows that a scoped ruleset cuts the command off from
// an abstract Unix socket and a process outside its domain, both of which
// it reached before.
func TestRestrictScope(t *testing.T) {
	requireABI(t, landlock.ABIScope)
	name := fmt.Sprintf("cell-landlock-test-%d", os.Getpid())
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: "@" + name}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	runChildTest(t, "scope", scopeArg{Socket: name, Pid: sleeper.Process.Pid})
}

// TestRestrictSymlink shows that a path reached through a symlink is
// refused rather than granted to wherever the symlink points.
func TestRestrictSymlink(t *testing.T) {
	requireABI(t, landlock.ABIFS)
	dir := t.TempDir()
	if err := os.Symlink("/etc", filepath.Join(dir, "etc")); err != nil {
		t.Fatal(err)
	}
	out := runChildTest(t, "symlink", fsArg{RW: filepath.Join(dir, "etc")})
	if !strings.Contains(out, "ELOOP") || !strings.Contains(out, "list the path it points to") {
		t.Errorf("the error does not explain the symlink:\n%s", out)
	}
}

func TestABI(t *testing.T) {
	abi, err := ABI()
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		if abi != 0 || err == nil {
			t.Errorf("ABI() = %d, %v with errno %v", abi, err, errno)
		}
		t.Logf("no landlock: %v", err)
		return
	}
	if abi != int(v) || err != nil {
		t.Errorf("ABI() = %d, %v; want %d", abi, err, v)
	}
	// What a plan would print on this host.
	r := landlock.Rules{ReadOnly: []string{"/usr"}, ConnectTCP: []uint16{1}}
	t.Logf("landlock ABI %d: %s", abi, r.Effective(abi))
}

// runChild runs a scenario in the re-executed test binary and returns its
// exit status. Every check prints one line; the parent logs them.
func runChild(name, arg string) int {
	runtime.LockOSThread() // never unlocked: the thread gets restricted
	c := &checker{}
	switch name {
	case "fs":
		var a fsArg
		must(json.Unmarshal([]byte(arg), &a))
		childFS(c, a)
	case "exec":
		var a fsArg
		must(json.Unmarshal([]byte(arg), &a))
		childExec(c, a)
	case "tcp":
		childTCP(c)
	case "scope":
		var a scopeArg
		must(json.Unmarshal([]byte(arg), &a))
		childScope(c, a)
	case "symlink":
		var a fsArg
		must(json.Unmarshal([]byte(arg), &a))
		must(unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		err := Restrict(&landlock.Rules{ReadWrite: []string{a.RW}})
		fmt.Println("restrict:", err)
		c.expect("restrict through a symlink", err, unix.ELOOP)
	default:
		fmt.Println("unknown child", name)
		return 2
	}
	if c.failed {
		return 1
	}
	return 0
}

func must(err error) {
	if err != nil {
		fmt.Println("setup:", err)
		os.Exit(2)
	}
}

type checker struct{ failed bool }

// expect prints whether err is want (nil for success).
func (c *checker) expect(what string, err, want error) {
	switch {
	case want == nil && err == nil, want != nil && errors.Is(err, want):
		fmt.Printf("ok   %s: %v\n", what, err)
	default:
		c.failed = true
		fmt.Printf("FAIL %s: got %v, want %v\n", what, err, want)
	}
}

func childFS(c *checker, a fsArg) {
	must(unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
	must(Restrict(&landlock.Rules{ReadOnly: []string{"/usr"}, ReadWrite: []string{a.RW}}))

	c.expect("write in the read-write dir", os.WriteFile(filepath.Join(a.RW, "ok"), []byte("x"), 0o644), nil)
	c.expect("mkdir in the read-write dir", os.MkdirAll(filepath.Join(a.RW, "a"), 0o755), nil)
	c.expect("mkdir in the read-write dir", os.MkdirAll(filepath.Join(a.RW, "b"), 0o755), nil)
	c.expect("create in a subdirectory", os.WriteFile(filepath.Join(a.RW, "a", "f"), nil, 0o644), nil)
	c.expect("rename across directories (refer)", os.Rename(filepath.Join(a.RW, "a", "f"), filepath.Join(a.RW, "b", "moved")), nil)
	c.expect("truncate in the read-write dir", os.Truncate(filepath.Join(a.RW, "ok"), 0), nil)
	c.expect("write outside", os.WriteFile(filepath.Join(a.Out, "new"), []byte("x"), 0o644), unix.EACCES)
	_, err := os.ReadFile(filepath.Join(a.Out, "secret"))
	c.expect("read outside", err, unix.EACCES)
	c.expect("truncate outside", os.Truncate(filepath.Join(a.Out, "secret"), 0), unix.EACCES)
	_, err = os.ReadDir("/usr")
	c.expect("list /usr", err, nil)
	_, err = os.ReadFile(a.UsrFile)
	c.expect("read "+a.UsrFile, err, nil)
	c.expect("write under /usr", os.WriteFile("/usr/cell-landlock-test", nil, 0o644), unix.EACCES)
	if a.Exe != "" {
		// Read-only does not include execute; the fork happens on this
		// restricted thread, as the sandbox's command does.
		pid, err := syscall.ForkExec(a.Exe, []string{a.Exe}, &syscall.ProcAttr{})
		if err == nil {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
		c.expect("exec "+a.Exe+" (read-only, not read-exec)", err, unix.EACCES)
	}
}

func childExec(c *checker, a fsArg) {
	allowed, secret := filepath.Join(a.Out, "allowed"), filepath.Join(a.Out, "secret")
	must(unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
	must(Restrict(&landlock.Rules{ReadExec: []string{"/usr"}, ReadOnly: []string{allowed}}))

	pid, err := syscall.ForkExec(a.Exe, []string{a.Exe}, &syscall.ProcAttr{})
	if err == nil {
		var ws syscall.WaitStatus
		_, err = syscall.Wait4(pid, &ws, 0, nil)
		if err == nil && ws.ExitStatus() != 0 {
			err = fmt.Errorf("%s: %v", a.Exe, ws)
		}
	}
	c.expect("exec "+a.Exe+" (read-exec)", err, nil)
	_, err = os.ReadFile(allowed)
	c.expect("read the read-only file", err, nil)
	c.expect("write the read-only file", os.WriteFile(allowed, nil, 0o644), unix.EACCES)
	_, err = os.ReadFile(secret)
	c.expect("read its unlisted neighbour", err, unix.EACCES)
	_, err = os.ReadDir(a.Out)
	c.expect("list the file's directory", err, unix.EACCES)
}

// listen makes a TCP listener on 127.0.0.1 with a kernel-chosen port.
func listen() (fd, port int) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	must(err)
	must(unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	must(unix.Listen(fd, 4))
	sa, err := unix.Getsockname(fd)
	must(err)
	return fd, sa.(*unix.SockaddrInet4).Port
}

func connect(port int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	must(err)
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port})
}

func childTCP(c *checker) {
	_, denied := listen()
	_, allowed := listen()
	free, freePort := listen()
	unix.Close(free)
	fmt.Printf("listeners on %d (not listed) and %d (listed); free port %d\n", denied, allowed, freePort)

	must(unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
	must(Restrict(&landlock.Rules{ConnectTCP: []uint16{uint16(allowed)}, BindTCP: []uint16{uint16(allowed)}}))

	c.expect(fmt.Sprintf("connect to unlisted port %d", denied), connect(denied), unix.EACCES)
	c.expect(fmt.Sprintf("connect to listed port %d", allowed), connect(allowed), nil)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	must(err)
	c.expect(fmt.Sprintf("bind to unlisted port %d", freePort),
		unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: freePort}), unix.EACCES)
	// Files are not restricted: the rules name no path.
	_, err = os.ReadFile("/proc/self/status")
	c.expect("read a file (filesystem not handled)", err, nil)
}

// childScope connects to the abstract socket and signals the process
// with signal 0 before and after a scoped Restrict.
func childScope(c *checker, a scopeArg) {
	dial := func() error {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + a.Socket})
	}
	c.expect("connect to the abstract socket before", dial(), nil)
	c.expect("signal the process before", unix.Kill(a.Pid, 0), nil)
	must(unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
	must(Restrict(&landlock.Rules{Scope: []landlock.Scope{landlock.AbstractUnixSocket, landlock.Signal}}))
	c.expect("connect to the abstract socket after", dial(), unix.EPERM)
	c.expect("signal the process after", unix.Kill(a.Pid, 0), unix.EPERM)
	c.expect("signal itself after", unix.Kill(os.Getpid(), 0), nil)
}

func TestABIErrors(t *testing.T) {
	for _, tc := range []struct {
		errno unix.Errno
		want  string
	}{
		{unix.ENOSYS, "landlock_create_ruleset version: ENOSYS (function not implemented): landlock is not built into this kernel (CONFIG_SECURITY_LANDLOCK), or a seccomp filter hides it"},
		{unix.EOPNOTSUPP, "landlock_create_ruleset version: ENOTSUP (operation not supported): landlock is built into this kernel but disabled at boot (add it to the lsm= kernel parameter)"},
		{unix.EFAULT, "landlock_create_ruleset version: EFAULT (bad address)"},
	} {
		abi, err := abiOf(0, tc.errno)
		if abi != 0 || err == nil || err.Error() != tc.want || !errors.Is(err, tc.errno) {
			t.Errorf("abiOf(%v) = %d, %v\nwant 0, %s", tc.errno, abi, err, tc.want)
		}
	}
	if abi, err := abiOf(7, 0); abi != 7 || err != nil {
		t.Errorf("abiOf(7, 0) = %d, %v", abi, err)
	}
}
