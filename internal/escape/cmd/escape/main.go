// Command escape tries, from inside a sandbox, the known ways out of one and
// prints one line per attempt:
//
//	BLOCKED <name>: <errno or reason>
//	ESCAPED <name>: <what happened>
//	SKIPPED <name>: <why the attempt means nothing here>
//
// It exits 1 if any attempt ESCAPED, 0 if none did, 2 on a usage error.
// Each attempt proves the capability without using it: it mounts and
// unmounts, rewrites the hostname with its own value, opens
// /proc/sysrq-trigger and pid 1's executable for writing without writing,
// probes kexec_load and module loading with arguments the kernel rejects
// after its permission check, restores the ctrl-alt-del setting, detaches
// from a process it attached to, and removes what it created. The
// exceptions are TIOCSTI (which, on a terminal, pushes an "x" into its
// input), exec-bypass (which runs a program that only exits), signal-init
// (which sends pid 1 every signal: an init that dies of one takes the
// sandbox with it) and the last attempt, setuid, which leaves the process
// without its uid.
//
// ptrace-other attaches to every visible process but pid 1, itself and its
// children until one accepts: run escape as the sandbox's command (not under
// a shell inside it, which it could attach to), and as root on a host only
// inside its own pid namespace.
//
// Flags: -only and -skip take comma-separated attempt names, -list prints
// the names.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/syserr"
)

// status is the outcome of one attempt.
type status uint8

const (
	blocked status = iota
	escaped
	skipped
)

func (s status) String() string {
	switch s {
	case blocked:
		return "BLOCKED"
	case escaped:
		return "ESCAPED"
	case skipped:
		return "SKIPPED"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

type result struct {
	status status
	detail string
}

func blockedf(format string, a ...any) result {
	return result{blocked, fmt.Sprintf(format, a...)}
}

func escapedf(format string, a ...any) result {
	return result{escaped, fmt.Sprintf(format, a...)}
}

func skippedf(format string, a ...any) result {
	return result{skipped, fmt.Sprintf(format, a...)}
}

// blockedBy is the result of an attempt that a system call refused.
func blockedBy(err error) result { return result{blocked, syserr.Text(err)} }

// attempt is one way out.
type attempt struct {
	name string
	run  func(*env) result
}

// attempts in the order they run: fds first, before the program opens
// anything, and setuid last, because it gives up the process's uid.
var attempts = []attempt{
	{"fds", (*env).fds},
	{"init-fds", (*env).initFDs},
	{"cwd", (*env).cwd},
	{"session-keyring", (*env).sessionKeyring},
	{"mount", (*env).mount},
	{"fsmount", (*env).fsmount},
	{"userns-unshare", (*env).usernsUnshare},
	{"userns-clone", (*env).usernsClone},
	{"ptrace-init", (*env).ptraceInit},
	{"ptrace-other", (*env).ptraceOther},
	{"keyctl", (*env).keyctl},
	{"bpf", (*env).bpf},
	{"perf", (*env).perf},
	{"kexec", (*env).kexec},
	{"init-module", (*env).initModule},
	{"finit-module", (*env).finitModule},
	{"reboot", (*env).reboot},
	{"packet-socket", (*env).packetSocket},
	{"raw-socket", (*env).rawSocket},
	{"tcp-bypass", (*env).tcpBypass},
	{"socket-families", (*env).socketFamilies},
	{"modify-ldt", (*env).modifyLDT},
	{"memfd-secret", (*env).memfdSecret},
	{"hostname", (*env).hostname},
	{"sysrq", (*env).sysrq},
	{"exe-write", (*env).exeWrite},
	{"exe-reopen", (*env).exeReopen},
	{"tiocsti", (*env).tiocsti},
	{"tiocsti-high", (*env).tiocstiHigh},
	{"mknod", (*env).mknod},
	{"exec-bypass", (*env).execBypass},
	{"setid-file", (*env).setIDFile},
	{"chroot", (*env).chroot},
	{"shadow", (*env).shadow},
	{"signal-init", (*env).signalInit},
	{"setuid", (*env).setuid},
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	// The descriptors the program was started with, before the flag
	// package or anything else can open one.
	fds, fdNums := scanFDs()

	fl := flag.NewFlagSet("escape", flag.ContinueOnError)
	only := fl.String("only", "", "run only these attempts (comma-separated names)")
	skip := fl.String("skip", "", "do not run these attempts (comma-separated names)")
	list := fl.Bool("list", false, "print the attempts' names and exit")
	keyring := fl.Int("keyring", 0, "the serial of the caller's session keyring, which session-keyring compares with its own")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "escape: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	if *list {
		for _, a := range attempts {
			fmt.Println(a.name)
		}
		return 0
	}
	onlySet, err := names(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "escape: -only:", err)
		return 2
	}
	skipSet, err := names(*skip)
	if err != nil {
		fmt.Fprintln(os.Stderr, "escape: -skip:", err)
		return 2
	}

	e := &env{startFDs: fds, startFDNums: fdNums, callerKeyring: int32(*keyring)}
	defer e.cleanup()
	code := 0
	for _, a := range attempts {
		if (len(onlySet) > 0 && !onlySet[a.name]) || skipSet[a.name] {
			continue
		}
		if a.name == "setuid" {
			// Remove what was created while the uid still can.
			e.cleanup()
		}
		r := a.run(e)
		detail := strings.ReplaceAll(r.detail, "\n", " ")
		fmt.Printf("%s %s: %s\n", r.status, a.name, detail)
		if r.status == escaped {
			code = 1
		}
	}
	return code
}

// names parses a comma-separated list of attempt names.
func names(s string) (map[string]bool, error) {
	set := map[string]bool{}
	if s == "" {
		return set, nil
	}
	for _, n := range strings.Split(s, ",") {
		found := false
		for _, a := range attempts {
			found = found || a.name == n
		}
		if !found {
			return nil, fmt.Errorf("unknown attempt %q (escape -list prints them)", n)
		}
		set[n] = true
	}
	return set, nil
}

// env is what attempts share: the descriptors found at start and a scratch
// directory, made when first needed.
type env struct {
	startFDs result
	// callerKeyring is the serial of the session keyring of the process
	// that started the sandbox (-keyring), 0 when not given.
	callerKeyring int32
	// startFDNums are the descriptors above 2 the program started with.
	startFDNums []int
	scratchDir  string
	scratchErr  error
	madeDir     bool
}

// scratch returns a new directory to create things in, or an error saying
// that no directory is writable.
func (e *env) scratch() (string, error) {
	if e.scratchDir != "" || e.scratchErr != nil {
		return e.scratchDir, e.scratchErr
	}
	var errs []string
	for _, d := range []string{os.Getenv("TMPDIR"), "/tmp", "/dev/shm", "/var/tmp", "."} {
		if d == "" {
			continue
		}
		dir, err := os.MkdirTemp(d, ".cell-escape-")
		if err == nil {
			e.scratchDir, e.madeDir = dir, true
			return dir, nil
		}
		errs = append(errs, syserr.Text(errors.Unwrap(err)))
	}
	e.scratchErr = fmt.Errorf("no writable directory (%s)", strings.Join(dedupe(errs), ", "))
	return "", e.scratchErr
}

func (e *env) cleanup() {
	if e.madeDir {
		os.RemoveAll(e.scratchDir)
		e.madeDir = false
	}
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func (e *env) fds() result { return e.startFDs }

// scanFDs looks at every descriptor above 2: a directory or file that the
// path the kernel gives for it does not reach from this root points
// outside (the CVE-2024-21626 class: openat(fd, "..") walks the host).
// Pipes, sockets and anonymous files are listed but cannot be placed.
// It also returns the descriptors' numbers.
func scanFDs() (result, []int) {
	fds, err := listFDs("/proc/self/fd")
	if err != nil {
		r, fds := scanFDsBlind(err)
		return r, fds
	}
	return placeFDs(fds), fds
}

// listFDs lists the descriptors above 2 in dir, a /proc/PID/fd, sorted,
// without the one it reads dir with.
func listFDs(dir string) ([]int, error) {
	d, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(d)
	var fds []int
	buf := make([]byte, 4096)
	for {
		n, err := unix.Getdents(d, buf)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		var names []string
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
		for _, name := range names {
			if fd, err := strconv.Atoi(name); err == nil && fd > 2 && (fd != d || dir != "/proc/self/fd") {
				fds = append(fds, fd)
			}
		}
	}
	sort.Ints(fds)
	return fds, nil
}

// placeFDs tells for each of this process's descriptors fds whether the
// path the kernel gives for it reaches it from this root.
func placeFDs(fds []int) result {
	var outside, other []string
	for _, fd := range fds {
		target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			other = append(other, fmt.Sprintf("fd %d -> %s (fstat: %s)", fd, target, syserr.Text(err)))
			continue
		}
		if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "/memfd:") {
			other = append(other, fmt.Sprintf("fd %d -> %s", fd, target))
			continue
		}
		var here unix.Stat_t
		if err := unix.Stat(target, &here); err != nil || here.Dev != st.Dev || here.Ino != st.Ino {
			outside = append(outside, fmt.Sprintf("fd %d -> %s (%s not reachable from this root)", fd, target, fileType(st.Mode)))
			continue
		}
		other = append(other, fmt.Sprintf("fd %d -> %s (inside)", fd, target))
	}
	if len(outside) > 0 {
		return escapedf("%s", strings.Join(append(outside, other...), "; "))
	}
	if len(other) > 0 {
		return blockedf("no descriptor above 2 points outside this root (%s)", strings.Join(other, "; "))
	}
	return blockedf("no descriptor above 2 is open")
}

// scanFDsBlind looks for descriptors without /proc: any inherited
// directory could lead outside.
func scanFDsBlind(procErr error) (result, []int) {
	var dirs, other []string
	var fds []int
	for fd := 3; fd < 1024; fd++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			continue
		}
		fds = append(fds, fd)
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			dirs = append(dirs, fmt.Sprintf("fd %d (directory)", fd))
		} else {
			other = append(other, fmt.Sprintf("fd %d (%s)", fd, fileType(st.Mode)))
		}
	}
	switch {
	case len(dirs) > 0:
		return escapedf("inherited directories, which /proc/self/fd (%s) cannot place: %s", syserr.Text(procErr), strings.Join(append(dirs, other...), "; ")), fds
	case len(other) > 0:
		return blockedf("no directory above fd 2; other descriptors: %s", strings.Join(other, "; ")), fds
	}
	return blockedf("no descriptor above 2 is open (checked without /proc: %s)", syserr.Text(procErr)), fds
}

// initFDs looks at pid 1's descriptors: the sandbox's init may hold 0-2,
// one socket to cell and the descriptors the command was started with
// (those its plan names). Any other is one init was left by its caller or
// by the host, open for the sandbox's life, which /proc/1/fd reopens for
// whoever may ptrace pid 1 (a leaked directory gives the host's files).
// Without the right to read pid 1's links only their number can tell.
func (e *env) initFDs() result {
	if os.Getpid() == 1 {
		return skippedf("this process is pid 1")
	}
	fds, err := listFDs("/proc/1/fd")
	if err != nil {
		return blockedf("list /proc/1/fd: %s", syserr.Text(err))
	}
	var unknown, outside, seen []string
	sockets := 0
	for _, fd := range fds {
		if slices.Contains(e.startFDNums, fd) {
			continue
		}
		target, err := os.Readlink(fmt.Sprintf("/proc/1/fd/%d", fd))
		switch {
		case err != nil:
			unknown = append(unknown, strconv.Itoa(fd))
		case strings.HasPrefix(target, "socket:"):
			sockets++
			seen = append(seen, fmt.Sprintf("fd %d -> %s", fd, target))
		default:
			outside = append(outside, fmt.Sprintf("fd %d -> %s", fd, target))
		}
	}
	switch {
	case len(outside) > 0:
		return escapedf("pid 1 holds descriptors the command was not given, reachable through /proc/1/fd: %s", strings.Join(append(outside, seen...), "; "))
	case sockets > 1 || sockets+len(unknown) > 3:
		return escapedf("pid 1 holds %d descriptors above 2 that the command was not given, where at most three (its socket to cell, and the Go runtime's epoll and eventfd once init has used netlink) are expected: %s",
			sockets+len(unknown), strings.Join(append(seen, "unreadable fds "+strings.Join(unknown, ", ")), "; "))
	case len(unknown) > 1:
		// Unreadable from here (init is not dumpable), so their kind is
		// unknown: the test that runs this program checks each from the
		// host, where a netpoller's anon inodes are told from a leak.
		return blockedf("pid 1 holds %d descriptors above 2 that the command was not given (fds %s: its socket to cell and the Go runtime's netpoller; not readable here)", len(unknown), strings.Join(unknown, ", "))
	case len(unknown) == 1:
		return blockedf("pid 1 holds one descriptor above 2 that the command was not given (fd %s: its socket to cell; not readable here)", unknown[0])
	case sockets == 1:
		return blockedf("pid 1 holds one descriptor above 2 that the command was not given: %s", seen[0])
	}
	return blockedf("pid 1 holds no descriptor above 2 that the command was not given")
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFREG:
		return "file"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFLNK:
		return "symlink"
	}
	return "unknown type"
}

// cwd: a working directory outside the root (another way a leaked
// descriptor shows) makes getcwd return "(unreachable)/...".
func (e *env) cwd() result {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Getcwd(buf)
	if err != nil {
		return blockedf("getcwd: %s", syserr.Text(err))
	}
	wd := strings.TrimRight(string(buf[:n]), "\x00")
	if !strings.HasPrefix(wd, "/") {
		return escapedf("the working directory is outside this root: %q", wd)
	}
	return blockedf("the working directory %s is inside this root", wd)
}

// mount a tmpfs with mount(2).
func (e *env) mount() result {
	target, err := e.scratch()
	if err != nil {
		target = ""
		for _, d := range []string{"/tmp", "/mnt", "/dev", "/proc", "/usr"} {
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				target = d
				break
			}
		}
		if target == "" {
			return blockedf("no directory to mount on")
		}
	}
	if err := unix.Mount("cell-escape", target, "tmpfs", 0, "size=4k"); err != nil {
		return blockedBy(err)
	}
	unix.Unmount(target, unix.MNT_DETACH)
	return escapedf("mounted a tmpfs on %s (unmounted again)", target)
}

// fsmount: the new mount API, which a filter on mount(2) does not see.
func (e *env) fsmount() result {
	fd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return blockedf("fsopen: %s", syserr.Text(err))
	}
	defer unix.Close(fd)
	if err := unix.FsconfigCreate(fd); err != nil {
		return escapedf("fsopen(\"tmpfs\") succeeded (then fsconfig: %s)", syserr.Text(err))
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return escapedf("fsopen(\"tmpfs\") succeeded (then fsmount: %s)", syserr.Text(err))
	}
	unix.Close(mfd)
	return escapedf("fsopen and fsmount made a detached tmpfs mount (closed again)")
}

// noSuchProgram is what the namespace probes exec: clone or unshare has
// happened by the time execve fails with ENOENT, so that errno means the
// namespace was made. A Go program cannot unshare a user namespace itself
// (it is multi-threaded), but its forked child can.
const noSuchProgram = "/nonexistent/cell-escape-probe"

func nsProbe(call string, sys *syscall.SysProcAttr) result {
	pid, err := syscall.ForkExec(noSuchProgram, []string{"probe"}, &syscall.ProcAttr{Sys: sys})
	if err == nil {
		// Cannot happen, but do not leave a child behind.
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		return escapedf("%s succeeded", call)
	}
	switch err {
	case unix.ENOENT, unix.ENOTDIR, unix.EACCES:
		return escapedf("%s succeeded (the child then failed to exec %s as intended: %s)", call, noSuchProgram, syserr.Text(err))
	}
	return blockedBy(err)
}

func (e *env) usernsUnshare() result {
	return nsProbe("unshare(CLONE_NEWUSER) in a forked child", &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWUSER})
}

func (e *env) usernsClone() result {
	return nsProbe("clone(CLONE_NEWUSER)", &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER})
}

// seize attaches to pid with PTRACE_SEIZE (which does not stop it) and,
// when that works, stops it with PTRACE_INTERRUPT and detaches at once,
// handing back any signal it was stopped with.
func seize(pid int) error {
	runtime.LockOSThread() // ptrace requests come from the tracing thread
	defer runtime.UnlockOSThread()
	if err := unix.PtraceSeize(pid); err != nil {
		return err
	}
	if err := unix.PtraceInterrupt(pid); err != nil {
		unix.PtraceDetach(pid)
		return nil
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, unix.WALL, nil)
		if err != unix.EINTR {
			break
		}
	}
	if ws.Exited() || ws.Signaled() {
		return nil
	}
	sig := 0
	if ws.Stopped() && uint32(ws)>>16 == 0 {
		// A signal-delivery-stop: the signal must still be delivered.
		sig = int(ws.StopSignal())
	}
	unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(pid), 0, uintptr(sig), 0, 0)
	return nil
}

func comm(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func (e *env) ptraceInit() result {
	if os.Getpid() == 1 {
		return skippedf("this process is pid 1")
	}
	if err := seize(1); err != nil {
		return blockedBy(err)
	}
	return escapedf("PTRACE_SEIZE of pid 1 (%s) succeeded (detached again)", comm(1))
}

// visible lists the pids this process can see, but pid 1, itself and its
// children.
func visible() ([]int, error) {
	self := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		// Without /proc, probe pids with kill(pid, 0).
		var pids []int
		for pid := 2; pid < 1<<16; pid++ {
			if pid == self {
				continue
			}
			if err := unix.Kill(pid, 0); err == nil || err == unix.EPERM {
				pids = append(pids, pid)
			}
		}
		return pids, err
	}
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == 1 || pid == self {
			continue
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			// pid (comm) state ppid ...
			if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
				if f := strings.Fields(string(stat[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(self) {
					continue
				}
			}
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

func (e *env) ptraceOther() result {
	pids, procErr := visible()
	if len(pids) == 0 {
		if procErr != nil {
			return blockedf("no other process is visible (probed with kill(pid, 0): /proc: %s)", syserr.Text(procErr))
		}
		return blockedf("no process but pid 1 and this one is visible")
	}
	refusals := map[string]int{}
	for _, pid := range pids {
		err := seize(pid)
		if err == nil {
			return escapedf("PTRACE_SEIZE of pid %d (%s) succeeded (detached again)", pid, comm(pid))
		}
		if err != unix.ESRCH { // gone meanwhile
			refusals[syserr.Text(err)]++
		}
	}
	var rs []string
	for r, n := range refusals {
		rs = append(rs, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(rs)
	return blockedf("%d other processes visible, attach refused: %s", len(pids), strings.Join(rs, ", "))
}

// keyctl: the kernel keyring is not namespaced.
func (e *env) keyctl() result {
	id, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	if errno != 0 {
		return blockedBy(errno)
	}
	return escapedf("keyctl(KEYCTL_JOIN_SESSION_KEYRING) joined a new session keyring (serial %d)", int32(id))
}

// bpfProgLoad is the start of union bpf_attr for BPF_PROG_LOAD.
type bpfProgLoad struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
}

// bpf loads the smallest socket filter: r0 = 0; exit.
func (e *env) bpf() result {
	insns := [2]uint64{0xb7, 0x95} // BPF_MOV64_IMM(R0, 0), BPF_EXIT_INSN (little endian)
	license := []byte("GPL\x00")
	attr := bpfProgLoad{
		progType: unix.BPF_PROG_TYPE_SOCKET_FILTER,
		insnCnt:  2,
		insns:    uint64(uintptr(unsafe.Pointer(&insns[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(&insns)
	runtime.KeepAlive(license)
	if errno != 0 {
		return blockedBy(errno)
	}
	unix.Close(int(fd))
	return escapedf("bpf(BPF_PROG_LOAD) loaded a socket filter program (closed again)")
}

func (e *env) perf() result {
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_CPU_CLOCK,
		Bits:   unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv,
	}
	attr.Size = uint32(unsafe.Sizeof(attr))
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return blockedBy(err)
	}
	unix.Close(fd)
	return escapedf("perf_event_open of a software counter on itself succeeded")
}

// permissionProbe classifies the errno of a call made with arguments that
// the kernel rejects only after its permission check: EPERM (or EACCES,
// or ENOSYS when the call is missing or filtered) means the check failed,
// anything else that it passed.
func permissionProbe(call string, errno unix.Errno, after string) result {
	switch errno {
	case unix.EPERM, unix.EACCES, unix.ENOSYS:
		return blockedBy(errno)
	case 0:
		return escapedf("%s succeeded", call)
	}
	return escapedf("%s passed the permission check (then %s %s)", call, syserr.Text(errno), after)
}

// kexec_load with one segment more than the kernel allows (16).
func (e *env) kexec() result {
	_, _, errno := unix.Syscall6(unix.SYS_KEXEC_LOAD, 0, 17, 0, 0, 0, 0)
	return permissionProbe("kexec_load", errno, "for the deliberately invalid segment count")
}

func (e *env) initModule() result {
	empty := []byte{0}
	_, _, errno := unix.Syscall(unix.SYS_INIT_MODULE, uintptr(unsafe.Pointer(&empty[0])), 0, uintptr(unsafe.Pointer(&empty[0])))
	return permissionProbe("init_module", errno, "for the deliberately empty image")
}

func (e *env) finitModule() result {
	empty := []byte{0}
	_, _, errno := unix.Syscall(unix.SYS_FINIT_MODULE, ^uintptr(0), uintptr(unsafe.Pointer(&empty[0])), 0)
	return permissionProbe("finit_module", errno, "for the deliberately invalid descriptor -1")
}

// reboot(LINUX_REBOOT_CMD_CAD_OFF) only changes what ctrl-alt-del does;
// the old setting is put back.
func (e *env) reboot() result {
	prev, _ := os.ReadFile("/proc/sys/kernel/ctrl-alt-del")
	_, _, errno := unix.Syscall6(unix.SYS_REBOOT, unix.LINUX_REBOOT_MAGIC1, unix.LINUX_REBOOT_MAGIC2,
		unix.LINUX_REBOOT_CMD_CAD_OFF, 0, 0, 0)
	switch errno {
	case 0:
		restored := "left off: its old value was unreadable"
		if strings.TrimSpace(string(prev)) != "0" {
			_, _, errno := unix.Syscall6(unix.SYS_REBOOT, unix.LINUX_REBOOT_MAGIC1, unix.LINUX_REBOOT_MAGIC2,
				unix.LINUX_REBOOT_CMD_CAD_ON, 0, 0, 0)
			restored = "restored to on: " + syserr.Text(errno)
			if errno == 0 {
				restored = "restored to on"
			}
		} else {
			restored = "it was off already"
		}
		return escapedf("reboot(LINUX_REBOOT_CMD_CAD_OFF) succeeded (ctrl-alt-del %s)", restored)
	case unix.EINVAL:
		// Past the CAP_SYS_BOOT check, a child pid namespace takes
		// only restart and halt, which end that namespace.
		return blockedf("%s: CAP_SYS_BOOT is held, but reboot acts only on this pid namespace", syserr.Text(errno))
	}
	return blockedBy(errno)
}

func (e *env) packetSocket() result {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return blockedBy(err)
	}
	unix.Close(fd)
	return escapedf("socket(AF_PACKET, SOCK_RAW) succeeded")
}

func (e *env) rawSocket() result {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return blockedBy(err)
	}
	unix.Close(fd)
	return escapedf("socket(AF_INET, SOCK_RAW) succeeded")
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// hostname writes the current hostname back through /proc/sys.
func (e *env) hostname() result {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return blockedf("uname: %s", syserr.Text(err))
	}
	name := unix.ByteSliceToString(u.Nodename[:])
	const path = "/proc/sys/kernel/hostname"
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return blockedBy(err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(name+"\n")); err != nil {
		return blockedf("opened %s for writing, but write: %s", path, syserr.Text(err))
	}
	return escapedf("wrote %s (its own value %q)", path, name)
}

// sysrq opens /proc/sysrq-trigger for writing and writes nothing: any byte
// would run a SysRq action.
func (e *env) sysrq() result {
	fd, err := unix.Open("/proc/sysrq-trigger", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return blockedBy(err)
	}
	unix.Close(fd)
	return escapedf("opened /proc/sysrq-trigger for writing (nothing written)")
}

// exeWrite opens pid 1's executable (cell's init, a binary on the host)
// for writing: the CVE-2019-5736 class. ETXTBSY means every permission
// check passed and only the running program kept the file from being
// opened; it is writable once that program ends.
func (e *env) exeWrite() result {
	if os.Getpid() == 1 {
		return skippedf("this process is pid 1")
	}
	fd, err := unix.Open("/proc/1/exe", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	switch err {
	case nil:
		unix.Close(fd)
		return escapedf("opened /proc/1/exe for writing (nothing written)")
	case unix.ETXTBSY:
		return escapedf("/proc/1/exe passed every permission check for writing; only ETXTBSY (it is running) refused it")
	}
	return blockedBy(err)
}

// exeReopen takes an O_PATH descriptor of pid 1's executable and reopens
// it for writing through /proc/self/fd, runc's CVE-2019-5736 path.
func (e *env) exeReopen() result {
	if os.Getpid() == 1 {
		return skippedf("this process is pid 1")
	}
	pfd, err := unix.Open("/proc/1/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return blockedf("open(/proc/1/exe, O_PATH): %s", syserr.Text(err))
	}
	defer unix.Close(pfd)
	reopen := fmt.Sprintf("/proc/self/fd/%d", pfd)
	fd, err := unix.Open(reopen, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	switch err {
	case nil:
		unix.Close(fd)
		return escapedf("reopened an O_PATH descriptor of /proc/1/exe for writing (nothing written)")
	case unix.ETXTBSY:
		return escapedf("reopening an O_PATH descriptor of /proc/1/exe for writing passed every permission check; only ETXTBSY (it is running) refused it")
	}
	return blockedf("got an O_PATH descriptor of /proc/1/exe, but reopening it for writing: %s", syserr.Text(err))
}

func stdinIsTerminal() bool {
	_, err := unix.IoctlGetTermios(0, unix.TCGETS)
	return err == nil
}

// tiocsti pushes an "x" into the terminal's input, where the shell that
// started the sandbox would read it.
func tiocsti(req uintptr) result {
	if !stdinIsTerminal() {
		return skippedf("stdin is not a terminal")
	}
	c := byte('x')
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, 0, req, uintptr(unsafe.Pointer(&c)))
	if errno != 0 {
		return blockedBy(errno)
	}
	return escapedf("ioctl(0, %#x) pushed \"x\" into the terminal's input", req)
}

func (e *env) tiocsti() result { return tiocsti(unix.TIOCSTI) }

// tiocstiHigh sets bit 32 of the request: the kernel reads the request as
// 32 bits, so a seccomp filter that compares all 64 misses it.
func (e *env) tiocstiHigh() result { return tiocsti(unix.TIOCSTI | 1<<32) }

func (e *env) mknod() result {
	dir, err := e.scratch()
	if err != nil {
		return blockedf("%v", err)
	}
	p := filepath.Join(dir, "null")
	if err := unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
		return blockedBy(err)
	}
	os.Remove(p)
	return escapedf("created the character device 1:3 (/dev/null) in %s (removed again)", dir)
}

// setIDFile tries to leave a set-user-ID and a set-group-ID executable in
// the working directory, which in a sandbox is usually a writable bind of
// the host's (the project): by chmod and by open(O_CREAT) with the bits
// in its mode. It escaped when a bit stuck on a file whose owner is, on
// the host, root or an ID of a range (a subordinate range, or a root
// caller's): another user could run it as that ID. A file of a
// single-ID map is the caller's own, which it could make on the host
// anyway.
func (e *env) setIDFile() result {
	var made []string
	defer func() {
		for _, p := range made {
			os.Remove(p)
		}
	}()
	var refused []string
	for _, how := range []string{"chmod", "open"} {
		p := fmt.Sprintf(".cell-escape-setid-%s-%d", how, os.Getpid())
		var fd int
		var err error
		if how == "chmod" {
			fd, err = unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o755)
		} else {
			fd, err = unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o755|unix.S_ISUID|unix.S_ISGID)
		}
		if err != nil {
			refused = append(refused, fmt.Sprintf("%s: create: %s", how, syserr.Text(err)))
			continue
		}
		made = append(made, p)
		if how == "chmod" {
			if err := unix.Fchmod(fd, 0o755|unix.S_ISUID|unix.S_ISGID); err != nil {
				refused = append(refused, fmt.Sprintf("fchmod(04755|02000): %s", syserr.Text(err)))
			}
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		unix.Close(fd)
		if err != nil || st.Mode&(unix.S_ISUID|unix.S_ISGID) == 0 {
			if how == "open" {
				refused = append(refused, "open(O_CREAT, 06755): the bits did not stick")
			}
			continue
		}
		uid, uidRange := hostID("/proc/self/uid_map", st.Uid)
		gid, gidRange := hostID("/proc/self/gid_map", st.Gid)
		if st.Mode&unix.S_ISUID != 0 && (uid == 0 || uidRange) || st.Mode&unix.S_ISGID != 0 && (gid == 0 || gidRange) {
			wd, _ := os.Getwd()
			return escapedf("%s left %s/%s mode %04o, owned by host uid %d gid %d (removed again)", how, wd, p, st.Mode&0o7777, uid, gid)
		}
		refused = append(refused, fmt.Sprintf("%s: the bits stuck, on a file of the caller's own host IDs %d:%d", how, uid, gid))
	}
	return blockedf("%s", strings.Join(refused, "; "))
}

// hostID maps an ID of this namespace to the host's through an ID map
// file, and reports whether it is part of a range (count above 1). An
// unreadable map is taken as the identity of the whole range.
func hostID(mapFile string, id uint32) (uint32, bool) {
	b, err := os.ReadFile(mapFile)
	if err != nil {
		return id, true
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var in, out, n uint64
		if _, err := fmt.Sscan(line, &in, &out, &n); err != nil {
			continue
		}
		if uint64(id) >= in && uint64(id) < in+n {
			return uint32(out + uint64(id) - in), n > 1
		}
	}
	return id, true
}

// chroot tries the classic escape: chroot into a subdirectory while the
// working directory stays outside it, climb with chdir(".."), chroot(".").
// It escaped when the root it reaches is not the one it started from.
func (e *env) chroot() result {
	var before, after unix.Stat_t
	if err := unix.Stat("/", &before); err != nil {
		return blockedf("stat /: %s", syserr.Text(err))
	}
	rootFD, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return blockedf("open /: %s", syserr.Text(err))
	}
	defer unix.Close(rootFD)
	cwdFD, cwdErr := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if cwdErr == nil {
		defer unix.Close(cwdFD)
	}

	dir, how := "", ""
	if s, err := e.scratch(); err == nil {
		dir = filepath.Join(s, "jail")
		if err := os.Mkdir(dir, 0o755); err != nil {
			dir = ""
		} else {
			how = "mkdir " + dir
		}
	}
	if dir == "" {
		for _, d := range []string{"/proc", "/dev", "/usr", "/tmp"} {
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				dir, how = d, "no writable directory, existing "+d
				break
			}
		}
	}
	if dir == "" {
		return blockedf("no directory to chroot into")
	}
	if err := unix.Chdir("/"); err != nil {
		return blockedf("chdir /: %s", syserr.Text(err))
	}
	if err := unix.Chroot(dir); err != nil {
		e.restoreCwd(cwdFD, cwdErr)
		return blockedf("chroot(%s): %s", dir, syserr.Text(err))
	}
	for range 256 {
		unix.Chdir("..")
	}
	err = unix.Chroot(".")
	statErr := unix.Stat("/", &after)
	// Back to the root the process had.
	unix.Fchdir(rootFD)
	unix.Chroot(".")
	e.restoreCwd(cwdFD, cwdErr)
	switch {
	case err != nil:
		return blockedf("chroot(%s) is permitted (%s), but chroot(\".\") after climbing: %s", dir, how, syserr.Text(err))
	case statErr != nil:
		return blockedf("chroot(%s) is permitted, but stat of the new root: %s", dir, syserr.Text(statErr))
	case after.Dev != before.Dev || after.Ino != before.Ino:
		return escapedf("chroot(%s), chdir(\"..\") and chroot(\".\") reached a root above this one (dev %d ino %d, was dev %d ino %d)",
			dir, after.Dev, after.Ino, before.Dev, before.Ino)
	}
	return blockedf("chroot is permitted (%s), but chdir(\"..\") stops at this root: there is nothing above it", how)
}

func (e *env) restoreCwd(fd int, openErr error) {
	if openErr == nil {
		unix.Fchdir(fd)
	}
}

func (e *env) shadow() result {
	fd, err := unix.Open("/etc/shadow", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return blockedf("%s: not present here", syserr.Text(err))
	}
	if err != nil {
		return blockedBy(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 64)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return blockedf("opened /etc/shadow, but read: %s", syserr.Text(err))
	}
	return escapedf("read /etc/shadow (%d bytes)", n)
}

// setuid tries to become uid 0 again after a change of uid: as a non-root
// user directly; as root after setresuid to 65534. It runs last.
func (e *env) setuid() result {
	uid := os.Getuid()
	if uid != 0 || os.Geteuid() != 0 {
		if err := syscall.Setresuid(0, 0, 0); err != nil {
			return blockedf("setresuid(0, 0, 0) as uid %d: %s", uid, syserr.Text(err))
		}
		return escapedf("setresuid(0, 0, 0) as uid %d succeeded", uid)
	}
	switch err := syscall.Setresuid(65534, 65534, 65534); err {
	case nil:
	case unix.EINVAL:
		return skippedf("running as uid 0 and uid 65534 is not mapped here: no uid to change to")
	default:
		return blockedf("running as uid 0 without the right to change uid: setresuid(65534): %s", syserr.Text(err))
	}
	if err := syscall.Setresuid(0, 0, 0); err != nil {
		return blockedf("after setresuid(65534), setresuid(0, 0, 0): %s", syserr.Text(err))
	}
	return escapedf("after setresuid(65534), setresuid(0, 0, 0) succeeded")
}
