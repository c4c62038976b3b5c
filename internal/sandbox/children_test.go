package sandbox

import (
	"os/exec"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSignalBeforeFork: a signal relayed for a request whose command is
// not forked yet reaches the command once it is registered.
func TestSignalBeforeFork(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	reg := &children{pids: map[int]int{}, ended: map[int]Status{}}
	reg.signal(7, unix.SIGTERM)
	reg.add(cmd.Process.Pid, 7, func(ExecExit) {})
	err := cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("the command ended with %v, want SIGTERM", err)
	}
	if len(reg.pending) != 0 {
		t.Errorf("pending after delivery: %v", reg.pending)
	}
	// Signals for a request already handled are not held.
	reg.signal(3, unix.SIGTERM)
	if len(reg.pending) != 0 {
		t.Errorf("a signal for an old request was held: %v", reg.pending)
	}
}

func TestRequestEnv(t *testing.T) {
	base := []string{"HOME=/root", "PATH=/usr/bin", "TERM=dumb"}
	got := requestEnv(base, []string{"LANG", "TERM", "CC"}, []string{"LANG=C.UTF-8", "TERM=xterm", "SECRET=x", "CC", "PATH=/evil"})
	want := []string{"HOME=/root", "LANG=C.UTF-8", "PATH=/usr/bin", "TERM=dumb"}
	if !slices.Equal(got, want) {
		t.Errorf("requestEnv = %q, want %q", got, want)
	}
	if got := requestEnv(base, []string{"LANG"}, nil); !slices.Equal(got, base) {
		t.Errorf("requestEnv without a request's env = %q", got)
	}
}
