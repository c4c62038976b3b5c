package main

import (
	"bytes"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestInteractive drives an interactive shell in a sandbox through a
// terminal, as a person would: cell sees a terminal on stdin, makes the
// sandbox a pty of its own and puts the caller's in raw mode.
func TestInteractive(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	m, s := testPTY(t)
	cmd := cellCmd(t, "run", "-p", profile(t, ""), "--set", "process.env.PS1=ready> ", "--", "sh", "-i")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var mu sync.Mutex
	var out bytes.Buffer
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := m.Read(b)
			mu.Lock()
			out.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	// expect waits for want to appear after the mark-th byte of output.
	mark := 0
	expect := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			got := out.String()
			mu.Unlock()
			if i := strings.Index(got[mark:], want); i >= 0 {
				mark += i + len(want)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the terminal's output:\n%s", want, got[mark:])
			}
		}
	}
	send := func(s string) {
		t.Helper()
		if _, err := m.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	expect("ready>")
	send("echo hi-$((1+1))\r")
	expect("hi-2")
	// A resize of the caller's terminal reaches the sandbox's.
	if err := unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	send("stty size\r")
	expect("40 100")
	// Job control: the shell has its terminal.
	send("sleep 30 &\r")
	send("jobs\r")
	expect("Running")
	send("kill %1\r")
	// Ctrl-C reaches the command's terminal, not cell.
	send("sleep 30\r")
	time.Sleep(300 * time.Millisecond)
	send("\x03")
	send("echo after-$((2+2))\r")
	expect("after-4")
	send("exit 3\r")
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("exit: %v, want status 3", err)
	}
	// cell restored the caller's terminal.
	tio, err := unix.IoctlGetTermios(int(m.Fd()), unix.TCGETS)
	if err != nil || tio.Lflag&unix.ICANON == 0 || tio.Lflag&unix.ECHO == 0 {
		t.Errorf("the caller's terminal is still raw: %+v %v", tio, err)
	}
}
