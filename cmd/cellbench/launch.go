package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// launcher is one of the commands being compared.
type launcher struct {
	name string   // label in tables
	argv []string // argv[0] is an absolute path
}

// String is the command line, for reports and errors.
func (l launcher) String() string { return strings.Join(l.argv, " ") }

// sample is the cost of one launch.
type sample struct {
	wall   time.Duration // time.Now around exec.Cmd.Run
	maxRSS int64         // ru_maxrss of the child, KiB
}

// runner starts launchers in dir with stdio on every standard stream.
type runner struct {
	dir   string
	stdio *os.File // /dev/null
}

// command is l as an exec.Cmd in its own process group, which is killed
// when ctx is done.
func (r runner) command(ctx context.Context, l launcher) *exec.Cmd {
	cmd := exec.CommandContext(ctx, l.argv[0], l.argv[1:]...)
	cmd.Dir = r.dir // with a nil Env, exec sets PWD to it too
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.stdio, r.stdio, r.stdio
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// once launches l and waits for it. Anything but exit status 0 is an
// error, which carries the stderr of one rerun of l so that the reason
// can be read.
func (r runner) once(ctx context.Context, l launcher) (sample, error) {
	cmd := r.command(ctx, l)
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return sample{}, ctx.Err()
		}
		return sample{}, fmt.Errorf("launch %s: %w%s", l, err, r.rerun(ctx, l))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return sample{}, errors.New("no rusage from wait4")
	}
	return sample{wall: wall, maxRSS: ru.Maxrss}, nil
}

// rerun runs l once more with stderr captured and describes the outcome.
func (r runner) rerun(ctx context.Context, l launcher) string {
	var out bytes.Buffer
	cmd := r.command(ctx, l)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if len(text) > 2000 {
		text = "..." + text[len(text)-2000:]
	}
	if err == nil {
		return fmt.Sprintf(" (a rerun succeeded; output: %q)", text)
	}
	return fmt.Sprintf(" (a rerun: %v; output: %q)", err, text)
}
