package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// terminal is the master of a test's pty and what came out of it.
type terminal struct {
	t    *testing.T
	m    *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	mark int
}

// newTerminal makes a pty whose output the test reads; the slave is for
// the process under test.
func newTerminal(t *testing.T) (*terminal, *os.File) {
	m, s := testPTY(t)
	term := &terminal{t: t, m: m}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := m.Read(b)
			term.mu.Lock()
			term.out.Write(b[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return term, s
}

func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// expect waits for want to appear after what an earlier expect matched.
func (term *terminal) expect(want string) {
	term.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := term.output()
		if i := strings.Index(got[term.mark:], want); i >= 0 {
			term.mark += i + len(want)
			return
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("no %q in the terminal's output:\n%q", want, got[term.mark:])
		}
	}
}

func (term *terminal) send(s string) {
	term.t.Helper()
	if _, err := term.m.WriteString(s); err != nil {
		term.t.Fatal(err)
	}
}

// TestInteractive drives an interactive shell in a sandbox through a
// terminal, as a person would: cell sees a terminal on stdin and stdout,
// makes the sandbox a pty of its own and puts the caller's in raw mode.
func TestInteractive(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	term, s := newTerminal(t)
	cmd := cellCmd(t, "run", "-p", profile(t, ""), "--set", "process.env.PS1=ready> ", "--", "sh", "-i")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	term.expect("ready>")
	term.send("echo hi-$((1+1))\r")
	term.expect("hi-2")
	// The pty is the sandbox's own: its /dev/pts/N exists inside.
	term.send("tty; ls /dev/pts/\r")
	term.expect("/dev/pts/0")
	term.expect("0")
	term.expect("ptmx")
	// A resize of the caller's terminal reaches the sandbox's.
	if err := unix.IoctlSetWinsize(int(term.m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	term.send("stty size\r")
	term.expect("40 100")
	// Job control: the shell has its terminal.
	term.send("sleep 30 &\r")
	term.send("jobs\r")
	term.expect("Running")
	term.send("kill %1\r")
	// Ctrl-C reaches the command's terminal, not cell.
	term.send("sleep 30\r")
	time.Sleep(300 * time.Millisecond)
	term.send("\x03")
	term.send("echo after-$((2+2))\r")
	term.expect("after-4")
	term.send("exit 3\r")
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("exit: %v, want status 3", err)
	}
	// cell restored the caller's terminal.
	tio, err := unix.IoctlGetTermios(int(term.m.Fd()), unix.TCGETS)
	if err != nil || tio.Lflag&unix.ICANON == 0 || tio.Lflag&unix.ECHO == 0 {
		t.Errorf("the caller's terminal is still raw: %+v %v", tio, err)
	}
}

// TestTTYInside checks the command's terminal from inside: tty names it,
// it is the sandbox's devpts' (the same device as its /dev/pts/N) and the
// command's uid owns it.
func TestTTYInside(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	term, s := newTerminal(t)
	cmd := cellCmd(t, "run", "-p", profile(t, "ids: {uid: 1000, gid: 1000}\n"), "--", "sh", "-c",
		`t=$(tty) && [ "$(stat -L -c %t:%T:%u /dev/stdin)" = "$(stat -c %t:%T:%u $t)" ] && echo "inside $t $(stat -c %u $t) end"`)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %q", err, term.output())
	}
	time.Sleep(100 * time.Millisecond)
	if !regexp.MustCompile(`inside /dev/pts/[0-9]+ 1000 end`).MatchString(term.output()) {
		t.Errorf("want the sandbox's /dev/pts/N, owned by 1000; got %q", term.output())
	}
}

// TestStdioPassedThrough runs with stdin on a terminal but stdout and
// stderr not: no pty, so bytes arrive unchanged (no CRLF, binary intact)
// and stderr stays apart.
func TestStdioPassedThrough(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	_, s := newTerminal(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	prof := profile(t, "")
	run := func(stdin *os.File, args ...string) cellResult {
		cmd := cellCmd(t, append([]string{"run", "-p", prof, "--"}, args...)...)
		cmd.Stdin = stdin
		if stdin == s {
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		}
		return runCellCmd(t, cmd)
	}
	r := run(s, "sh", "-c", `printf 'a\nb\n'; printf 'to-stderr\n' >&2`)
	if r.stdout != "a\nb\n" || r.stderr != "to-stderr\n" || r.code != 0 {
		t.Errorf("stdin a terminal, stdout and stderr pipes: want %q and %q apart; got %s", "a\nb\n", "to-stderr\n", r)
	}
	// The test binary, bound at /probe, is some megabytes of binary data.
	r = run(s, "cat", "/probe")
	if sha256.Sum256([]byte(r.stdout)) != sha256.Sum256(data) || r.code != 0 {
		t.Errorf("binary output through a pipe changed: %d bytes out of %d, exit %d, stderr %q", len(r.stdout), len(data), r.code, r.stderr)
	}
	// And through stdin too.
	f, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r = run(f, "sh", "-c", "cat; echo err >&2")
	if sha256.Sum256([]byte(r.stdout)) != sha256.Sum256(data) || r.stderr != "err\n" {
		t.Errorf("binary roundtrip through stdin and stdout changed: %d bytes out of %d, stderr %q", len(r.stdout), len(data), r.stderr)
	}
}

// TestTTYStdinEOF is `echo hi | cell run -t -- cat`: the input is not
// echoed (nobody types), and its end reaches the command as VEOF, so cat
// ends, as with ssh -t.
func TestTTYStdinEOF(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	prof := profile(t, "")
	for _, in := range []string{"hi\n", "no newline"} {
		cmd := cellCmd(t, "run", "-t", "-p", prof, "--", "cat")
		cmd.Stdin = strings.NewReader(in)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		hung := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
		err := cmd.Wait()
		hung.Stop()
		want := strings.ReplaceAll(in, "\n", "\r\n")
		if err != nil || out.String() != want {
			t.Errorf("input %q: want %q once and exit 0; got %q, %v, stderr %q", in, want, out.String(), err, errb.String())
		}
	}
}

// TestNoStrayNUL types Ctrl-D before cell starts: the kernel keeps that end
// of file as a NUL byte in the terminal's queue, which cell must not pass
// to the command when it makes the terminal raw (the pty would echo ^@).
func TestNoStrayNUL(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	term, s := newTerminal(t)
	term.send("\x04")
	cmd := cellCmd(t, "run", "-p", profile(t, ""), "--", "sh", "-c", "sleep 0.5; echo end")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %q", err, term.output())
	}
	term.expect("end")
	if out := term.output(); strings.Contains(out, "^@") || strings.Contains(out, "\x00") {
		t.Errorf("a NUL reached the command: %q", out)
	}
}

// shellSession starts an interactive shell with job control on a new
// terminal, with cell in its PATH-less reach as $CELL.
func shellSession(t *testing.T) *terminal {
	term, s := newTerminal(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("sh", "-i")
	sh.Env = append(os.Environ(), "PS1=$ ", "CELL_TEST_MAIN=1", "CELL="+self)
	sh.Stdin, sh.Stdout, sh.Stderr = s, s, s
	sh.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Process.Kill(); sh.Wait() })
	term.expect("$ ")
	return term
}

// TestBackgroundRun is `cell run -- cmd &` in an interactive shell: cell
// neither reads nor changes the terminal from the background, so the job
// is not stopped (SIGTTIN, SIGTTOU).
func TestBackgroundRun(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	term := shellSession(t)
	term.send(`"$CELL" run -p ` + profile(t, "") + ` -- sh -c 'echo in-the-background-$((1+1))' &` + "\r")
	term.expect("in-the-background-2")
	term.send("sleep 1; jobs; echo jobs-listed\r")
	term.expect("jobs-listed")
	term.expect("jobs-listed") // the output, after the echo of the line
	if out := term.output(); strings.Contains(out, "Stopped") {
		t.Errorf("the background run stopped:\n%s", out)
	}
}

// TestCtrlZ stops a sandbox from the caller's shell with Ctrl-Z, and
// continues it with fg.
func TestCtrlZ(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	term := shellSession(t)
	// The mark on the host shows whether the sandbox runs: stopped cell
	// copies none of its output.
	out := t.TempDir()
	term.send(`"$CELL" run -p ` + profile(t, "") + ` --set 'filesystem.mounts[+]={type: bind, source: ` + out + `, target: /out, writable: true}'` +
		` -- sh -c 'echo started-$((1+1)); sleep 2; touch /out/slept; echo slept-$((2+2)); read x; echo got-$x'` + "\r")
	term.expect("started-2")
	term.send("\x1a")
	term.expect("Stopped")
	time.Sleep(3 * time.Second)
	if _, err := os.Stat(filepath.Join(out, "slept")); err == nil {
		t.Fatalf("the sandbox ran on after Ctrl-Z:\n%q", term.output())
	}
	// The shell has its terminal back, cooked.
	term.send("echo cooked-$((1+2))\r")
	term.expect("cooked-3")
	term.send("fg\r")
	term.expect("slept-4")
	// And raw again: the line goes to the sandbox's terminal.
	term.send("x\r")
	term.expect("got-x")
	term.expect("$ ")
	term.send("echo done-$((2+3))\r")
	term.expect("done-5")
}

// holders lists the processes other than this one that hold the terminal
// whose slave is s.
func holders(t *testing.T, s *os.File) []string {
	t.Helper()
	var want unix.Stat_t
	if err := unix.Fstat(int(s.Fd()), &want); err != nil {
		t.Fatal(err)
	}
	var found []string
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		pid := strings.Split(fd, "/")[2]
		if pid == strconv.Itoa(os.Getpid()) {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == want.Rdev {
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			found = append(found, fd+" ("+strings.TrimSpace(string(comm))+")")
		}
	}
	return found
}

// TestExecLeavesNoTerminal runs cell exec -T with the caller's terminal on
// 0, 1 and 2, and a command that leaves a process behind: when exec has
// returned, nothing in the sandbox may hold the caller's terminal.
func TestExecLeavesNoTerminal(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	name := fmt.Sprintf("exec-tty-%d", time.Now().UnixNano()%1e9)
	run := cellCmd(t, "run", "--name", name, "-p", profile(t, ""), "--", "sh", "-c", "echo ready; sleep 60")
	out, _ := run.StdoutPipe()
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { endRun(run) })
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("the sandbox said %q, %v", line, err)
	}
	term, s := newTerminal(t)
	ex := cellCmd(t, "exec", "-T", name, "--", "sh", "-c", "sleep 30 & echo said-$((1+1)); echo to-stderr-$((2+2)) >&2")
	ex.Stdin, ex.Stdout, ex.Stderr = s, s, s
	ex.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := ex.Run(); err != nil {
		t.Fatalf("exec: %v: %q", err, term.output())
	}
	// Two pipes now: their order on the terminal is not the command's.
	time.Sleep(100 * time.Millisecond)
	if out := term.output(); !strings.Contains(out, "said-2") || !strings.Contains(out, "to-stderr-4") {
		t.Errorf("want said-2 and to-stderr-4 on the terminal; got %q", out)
	}
	if h := holders(t, s); len(h) > 0 {
		t.Errorf("after cell exec returned, the sandbox holds the caller's terminal: %v", h)
	}
}

// TestCtrlZWithoutPTY is Ctrl-Z on `cell run -- cmd | cat`: no pty (stdout
// is a pipe) and the command in a session of its own, which the terminal's
// SIGTSTP does not reach; cell stops it, then itself, and fg continues both.
func TestCtrlZWithoutPTY(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	term := shellSession(t)
	// The mark on the host shows whether the sandbox runs: the pipe's
	// reader, stopped too, would hide its output.
	out := t.TempDir()
	term.send(`"$CELL" run -p ` + profile(t, "") + ` --set 'filesystem.mounts[+]={type: bind, source: ` + out + `, target: /out, writable: true}'` +
		` -- sh -c 'echo started-$((1+1)); sleep 2; touch /out/slept; echo slept-$((2+2))' | cat` + "\r")
	term.expect("started-2")
	term.send("\x1a")
	term.expect("Stopped")
	time.Sleep(3 * time.Second)
	if _, err := os.Stat(filepath.Join(out, "slept")); err == nil {
		t.Fatalf("the sandbox ran on after Ctrl-Z:\n%q", term.output())
	}
	term.send("fg\r")
	term.expect("slept-4")
	term.expect("$ ")
}

// TestTTYWithoutDevpts asks for a terminal in a sandbox with no devpts to
// make it in: the console step fails, and cell says what to do.
func TestTTYWithoutDevpts(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	prof := filepath.Join(t.TempDir(), "nodev.yaml")
	writeFile(t, prof, "apiVersion: cell/v1\nname: nodev\nfilesystem:\n  mounts:\n    - {type: bind, source: /usr, target: /usr}\n    - {type: bind, source: /bin, target: /bin, optional: true}\n    - {type: bind, source: /lib, target: /lib, optional: true}\n    - {type: bind, source: /lib64, target: /lib64, optional: true}\n")
	r := cell(t, "run", "-t", "-p", prof, "--", "true")
	if r.code != StatusSetup || !strings.Contains(r.stderr, "console") && !strings.Contains(r.stderr, "/dev/ptmx") || !strings.Contains(r.stderr, "{type: dev, target: /dev}") {
		t.Errorf("want a failed console step and the hint; got %s", r)
	}
	if r := cell(t, "run", "-T", "-p", prof, "--", "true"); r.code != 0 {
		t.Errorf("-T: %s", r)
	}
}

// TestExecTTYInside runs cell exec with a terminal on stdin and stdout: the
// command's pty is the sandbox's own (tty names a /dev/pts/N that exists
// inside), and with -t and piped input the end of it ends cat.
func TestExecTTYInside(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	name := fmt.Sprintf("exec-pty-%d", time.Now().UnixNano()%1e9)
	run := cellCmd(t, "run", "--name", name, "-p", profile(t, ""), "--", "sh", "-c", "echo ready; sleep 60")
	out, _ := run.StdoutPipe()
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { endRun(run) })
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("the sandbox said %q, %v", line, err)
	}
	term, s := newTerminal(t)
	ex := cellCmd(t, "exec", name, "--", "sh", "-c", `t=$(tty) && [ -c "$t" ] && [ "$(stat -L -c %t:%T /dev/stdin)" = "$(stat -c %t:%T $t)" ] && echo "inside $t end"`)
	ex.Stdin, ex.Stdout, ex.Stderr = s, s, s
	ex.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := ex.Run(); err != nil {
		t.Fatalf("exec: %v: %q", err, term.output())
	}
	time.Sleep(100 * time.Millisecond)
	if !regexp.MustCompile(`inside /dev/pts/[0-9]+ end`).MatchString(term.output()) {
		t.Errorf("want the sandbox's /dev/pts/N; got %q", term.output())
	}
	cat := cellCmd(t, "exec", "-t", name, "--", "cat")
	cat.Stdin = strings.NewReader("hi\n")
	var b bytes.Buffer
	cat.Stdout = &b
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	hung := time.AfterFunc(20*time.Second, func() { cat.Process.Kill() })
	defer hung.Stop()
	if err := cat.Wait(); err != nil || b.String() != "hi\r\n" {
		t.Errorf("exec -t cat with piped input: want %q once; got %q, %v", "hi\r\n", b.String(), err)
	}
}

// endRun ends a cell run that a test started: SIGTERM, which cell passes
// on, so that it tears down and removes its record; SIGKILL only when
// that takes more than 10 s.
func endRun(run *exec.Cmd) {
	_ = run.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = run.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = run.Process.Kill()
		<-done
	}
}
