package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/seccomp"
	"github.com/cellsandbox/cell/internal/syserr"
)

// childEnv makes the test binary run installChild instead of the tests.
const childEnv = "CELL_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(installChild())
	}
	os.Exit(m.Run())
}

// result is one call the child made: its errno name ("" for success)
// before the filter (where it is safe to make it) and under it.
type result struct {
	Call    string `json:"call"`
	Control string `json:"control,omitempty"`
	Got     string `json:"got"`
}

func errnoName(err error) string {
	if err == nil {
		return ""
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	return err.Error()
}

func sys(trap uintptr, args ...uintptr) error {
	var a [6]uintptr
	copy(a[:], args)
	_, _, e := unix.Syscall6(trap, a[0], a[1], a[2], a[3], a[4], a[5])
	if e != 0 {
		return e
	}
	return nil
}

// installChild installs the default filter on its locked thread and
// makes each call of the test on that thread, then writes the results
// as JSON to stdout.
func installChild() int {
	runtime.LockOSThread()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	// A terminal to try ioctls on: the master of a new pty (stdin may be
	// anything).
	tty, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(fmt.Errorf("open /dev/ptmx: %w", err))
	}
	var c byte = 'x'
	calls := []struct {
		name    string
		control bool // safe to make before the filter
		do      func() error
	}{
		{"getpid", true, func() error { return sys(unix.SYS_GETPID) }},
		{"open+read+close", true, func() error {
			fd, err := unix.Open("/proc/self/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			_, err = unix.Read(fd, make([]byte, 64))
			return err
		}},
		{"write", true, func() error {
			fd, err := unix.Open("/dev/null", unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			_, err = unix.Write(fd, []byte("x"))
			return err
		}},
		// Go is multithreaded, so the kernel answers EINVAL; the filter
		// answers first.
		{"unshare(CLONE_NEWUSER)", true, func() error { return sys(unix.SYS_UNSHARE, unix.CLONE_NEWUSER) }},
		{"keyctl(KEYCTL_GET_KEYRING_ID)", true, func() error {
			return sys(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(0xfffffffe) /* KEY_SPEC_PROCESS_KEYRING */, 0)
		}},
		{"add_key", false, func() error { return sys(unix.SYS_ADD_KEY, 0, 0, 0, 0, 0) }},
		{"clone3(NULL, 0)", true, func() error { return sys(unix.SYS_CLONE3, 0, 0) }},
		{"ioctl(TIOCSTI)", true, func() error { return sys(unix.SYS_IOCTL, uintptr(tty), unix.TIOCSTI, uintptr(unsafe.Pointer(&c))) }},
		{"ioctl(TIOCSTI|1<<32)", true, func() error {
			return sys(unix.SYS_IOCTL, uintptr(tty), unix.TIOCSTI|1<<32, uintptr(unsafe.Pointer(&c)))
		}},
		{"ioctl(TCGETS)", true, func() error { _, err := unix.IoctlGetTermios(tty, unix.TCGETS); return err }},
		{"socket(AF_INET)", true, func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		{"socket(AF_VSOCK)", true, func() error {
			fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		{"socket(NETLINK_AUDIT)", true, func() error {
			fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		{"modify_ldt(0)", true, func() error {
			buf := make([]byte, 16)
			return sys(unix.SYS_MODIFY_LDT, 0, uintptr(unsafe.Pointer(&buf[0])), 16)
		}},
		{"personality(0xffffffff)", true, func() error { return sys(unix.SYS_PERSONALITY, 0xffffffff) }},
		{"personality(READ_IMPLIES_EXEC)", false, func() error { return sys(unix.SYS_PERSONALITY, 0x0400000) }},
		{"mount", true, func() error { return unix.Mount("none", "/nonexistent/cell", "cell-no-such-fs", 0, "") }},
		{"ForkExec /bin/true", true, forkExecTrue},
		{"exec.Command(/bin/true).Run", true, func() error { return exec.Command("/bin/true").Run() }},
	}
	results := make([]result, len(calls))
	for i, call := range calls {
		results[i].Call = call.name
		if call.control {
			results[i].Control = errnoName(call.do())
			if results[i].Control == "" {
				results[i].Control = "ok"
			}
		}
	}
	// Drop what TIOCSTI pushed into the pty before the filter.
	_ = unix.IoctlSetInt(tty, unix.TCFLSH, unix.TCIFLUSH)

	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fail(fmt.Errorf("prctl PR_SET_NO_NEW_PRIVS: %w", err))
	}
	prog, err := seccomp.Default().Compile()
	if err != nil {
		return fail(err)
	}
	if err := Install(prog); err != nil {
		return fail(err)
	}
	for i, call := range calls {
		results[i].Got = errnoName(call.do())
		if results[i].Got == "" {
			results[i].Got = "ok"
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		return fail(err)
	}
	return 0
}

// forkExecTrue runs /bin/true as init runs the command: ForkExec from the
// filtered thread, with credentials (setgroups as root, setgid, setuid),
// a directory and a parent-death signal.
func forkExecTrue() error {
	groups, err := unix.Getgroups()
	if err != nil {
		return err
	}
	g := make([]uint32, len(groups))
	for i, v := range groups {
		g[i] = uint32(v)
	}
	pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{
		Dir:   "/",
		Env:   []string{"PATH=/usr/bin:/bin"},
		Files: []uintptr{0, 1, 2},
		Sys: &syscall.SysProcAttr{
			// setgroups needs CAP_SETGID; setgid and setuid to one's own
			// ids do not.
			Credential: &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), Groups: g, NoSetGroups: os.Geteuid() != 0},
			Pdeathsig:  syscall.SIGKILL,
		},
	})
	if err != nil {
		return err
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		return err
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("/bin/true: status %v", ws)
	}
	return nil
}

// requireSeccomp skips a test on a machine without seccomp filters, or
// not x86_64, unless CELL_TEST_STRICT forbids skipping.
func requireSeccomp(t *testing.T) {
	t.Helper()
	why := ""
	if runtime.GOARCH != "amd64" {
		why = "the filter is for x86_64, this is " + runtime.GOARCH
	} else if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		why = "the kernel has no seccomp: " + err.Error()
	} else if _, err := os.Stat("/bin/true"); err != nil {
		why = "no /bin/true to exec"
	}
	if why == "" {
		return
	}
	if os.Getenv("CELL_TEST_STRICT") != "" {
		t.Fatalf("%s, and CELL_TEST_STRICT forbids skipping", why)
	}
	t.Skip(why)
}

// TestInstall installs the default filter in a child process (the test
// binary again) and checks in the kernel what each call gives.
func TestInstall(t *testing.T) {
	requireSeccomp(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	var results []result
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("child's results: %v\n%s", err, out)
	}
	root := os.Geteuid() == 0
	want := map[string]string{
		"getpid":                         "ok",
		"open+read+close":                "ok",
		"write":                          "ok",
		"unshare(CLONE_NEWUSER)":         "EPERM",
		"keyctl(KEYCTL_GET_KEYRING_ID)":  "EPERM",
		"add_key":                        "EPERM",
		"clone3(NULL, 0)":                "ENOSYS",
		"ioctl(TIOCSTI)":                 "EPERM",
		"ioctl(TIOCSTI|1<<32)":           "EPERM",
		"ioctl(TCGETS)":                  "ok",
		"socket(AF_INET)":                "ok",
		"socket(AF_VSOCK)":               "EAFNOSUPPORT",
		"socket(NETLINK_AUDIT)":          "EPROTONOSUPPORT",
		"modify_ldt(0)":                  "EPERM",
		"personality(0xffffffff)":        "ok",
		"personality(READ_IMPLIES_EXEC)": "EPERM",
		"mount":                          "EPERM",
		"ForkExec /bin/true":             "ok",
		"exec.Command(/bin/true).Run":    "ok",
	}
	for _, r := range results {
		t.Logf("%-32s before: %-8s filtered: %s", r.Call, r.Control, r.Got)
		w, ok := want[r.Call]
		if !ok {
			t.Errorf("%s: no expectation", r.Call)
			continue
		}
		delete(want, r.Call)
		if r.Got != w {
			t.Errorf("%s under the filter: %s, want %s", r.Call, r.Got, w)
		}
		// A denial must be the filter's: the call answered otherwise
		// without it. (TIOCSTI on a terminal that is not the caller's
		// own needs CAP_SYS_ADMIN.)
		if w != "ok" && r.Control == w && (root || !strings.HasPrefix(r.Call, "ioctl(TIOCSTI")) {
			t.Errorf("%s: %s before the filter too, so the test shows nothing", r.Call, r.Control)
		}
	}
	for call := range want {
		t.Errorf("%s: no result", call)
	}
}

// TestInstallErrors checks Install's refusals that need no child.
func TestInstallErrors(t *testing.T) {
	if err := Install(nil); err == nil || !strings.Contains(err.Error(), "not 0") {
		t.Errorf("Install(nil): %v", err)
	}
	if runtime.GOARCH != "amd64" {
		return
	}
	// An invalid program (an unaligned load, no ret), which the kernel
	// refuses: with EACCES first when this process has neither
	// no_new_privs nor CAP_SYS_ADMIN, else with EINVAL. Either way
	// nothing is installed in the test process.
	bad := []unix.SockFilter{{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 1}}
	err := Install(bad)
	var se *syserr.Error
	if !errors.As(err, &se) || se.Call != "seccomp" || se.Object != "SECCOMP_SET_MODE_FILTER" {
		t.Fatalf("Install(invalid program): %v, want an error of seccomp SECCOMP_SET_MODE_FILTER", err)
	}
	hints := map[unix.Errno]string{
		unix.EINVAL: ": the kernel rejected the filter, or has no seccomp filters",
		unix.EACCES: ": set no_new_privs first, or hold CAP_SYS_ADMIN",
	}
	hint, ok := hints[se.Err.(unix.Errno)]
	if !ok || !strings.HasSuffix(err.Error(), hint) {
		t.Errorf("Install(invalid program): %v, want EINVAL or EACCES with a hint", err)
	}
}
