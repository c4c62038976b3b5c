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

	"golang.org/x/sys/unix"
)

// launcher is one of the commands being compared.
type launcher struct {
	name string   // label in tables
	argv []string // argv[0] is an absolute path
	// sets are the --set arguments in argv, for `cell plan`.
	sets []string
	// as is the user it runs as; nil is cellbench's own.
	as *account
	// dir is where it runs; "" is the runner's directory.
	dir string
	// env is its environment; nil is cellbench's own, with PWD set to
	// the directory it runs in.
	env []string
	// cost is, for a variant of the default `cell run`, what the
	// difference between the two measures; nil for every other row.
	cost *variant
	// id, if not nil, makes one argument of argv unique to each launch.
	id *launchID
	// netns makes it start in cellbench's own network namespace (the
	// network rows), so that what it makes there (a bridge, veths,
	// nftables rules) never touches the machine's network.
	netns bool
	// hideCgroup2 is a cgroup2 mount that must be hidden from the
	// launcher (crun on a hybrid host, see cgroupsRefused), "" if none:
	// it is started from a viewThread.
	hideCgroup2 string
}

// String is the command line, quoted for a POSIX shell where needed,
// for reports and errors.
func (l launcher) String() string {
	q := make([]string, len(l.argv))
	for i, a := range l.argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// shellQuote returns s as one word of a POSIX shell: unchanged if it has
// only characters that no shell treats specially, else in single quotes.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./=:,+@%", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// account is a user a launcher runs as.
type account struct {
	name     string
	uid, gid uint32
}

// String names the user and its ids.
func (a account) String() string { return fmt.Sprintf("%s (uid %d, gid %d)", a.name, a.uid, a.gid) }

// sample is the cost of one launch.
type sample struct {
	// wall is time.Now around exec.Cmd.Run: until the launched process
	// has exited and been reaped.
	wall time.Duration
	// tree is until every process of the launch had exited and been
	// reaped, including those the launched process left behind; only
	// once measures it, flood leaves it 0.
	tree time.Duration
	// orphans counts the processes of the launch that were still there
	// when the launched process had been reaped: cellbench, a child
	// subreaper, reaps them.
	orphans int
	// maxRSS is the largest ru_maxrss, in KiB, among the launched
	// process and its orphans, each of which covers the descendants it
	// reaped itself.
	maxRSS int64
	// cpu is the user and system time of the whole launch tree: the
	// launched process's and its orphans' rusage from wait4, each of
	// which covers the descendants it reaped itself (cell's covers its
	// init, whose covers the command). once measures it; flood leaves
	// the orphans' out.
	cpu time.Duration
}

// runner starts launchers in dir with stdio on every standard stream.
// The process that uses it must be a child subreaper (see subreap), so
// that what a launch leaves behind is reparented to it, and reaped.
type runner struct {
	dir   string
	stdio *os.File // /dev/null
	// view is the thread that starts launchers with hideCgroup2 set; nil
	// if there are none.
	view *viewThread
	// net is the thread in cellbench's network namespace that starts
	// launchers with netns set; nil if there are none.
	net *viewThread
}

// subreap makes this process a child subreaper: orphans of its
// descendants become its children instead of init's.
func subreap() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl(PR_SET_CHILD_SUBREAPER)", err)
	}
	return nil
}

// command is l as an exec.Cmd in its own process group, which is killed
// when ctx is done, as l's user, in l's directory, with l's environment.
func (r runner) command(ctx context.Context, l launcher) *exec.Cmd {
	argv := l.argv
	if l.id != nil {
		argv = l.id.next(argv)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = r.dir // with a nil Env, exec sets PWD to it too
	if l.dir != "" {
		cmd.Dir = l.dir
	}
	cmd.Env = l.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.stdio, r.stdio, r.stdio
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if l.as != nil {
		// With no Groups, exec clears the supplementary groups too.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: l.as.uid, Gid: l.as.gid}
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// onThread calls fn on a thread from which l may be started: r's view
// thread if l must not see a cgroup2 mount, else the caller's.
func (r runner) onThread(l launcher, fn func()) error {
	if l.netns {
		if r.net == nil {
			return fmt.Errorf("launch %s: it must start in cellbench's network namespace, and there is none", l)
		}
		r.net.run(fn)
		return nil
	}
	if l.hideCgroup2 == "" {
		fn()
		return nil
	}
	if r.view == nil {
		return fmt.Errorf("launch %s: it must start where %s is hidden, and cellbench has no thread that hides it", l, l.hideCgroup2)
	}
	r.view.run(fn)
	return nil
}

// once launches l, waits for it, then waits for whatever it left behind
// in its process group. Anything but exit status 0 is an error, which
// carries the stderr of one rerun of l so that the reason can be read.
func (r runner) once(ctx context.Context, l launcher) (s sample, err error) {
	if thErr := r.onThread(l, func() { s, err = r.onceHere(ctx, l) }); thErr != nil {
		return s, thErr
	}
	return s, err
}

// onceHere is once on the calling thread.
func (r runner) onceHere(ctx context.Context, l launcher) (sample, error) {
	s, pgid, err := r.launch(ctx, l)
	if pgid == 0 {
		return s, err
	}
	reapStart := time.Now()
	n, rss, cpu, rerr := reapGroup(ctx, pgid)
	s.tree = s.wall + time.Since(reapStart)
	s.orphans, s.maxRSS = n, max(s.maxRSS, rss)
	s.cpu += cpu
	if err != nil {
		return s, err
	}
	return s, rerr
}

// launch runs l and measures it, but leaves the processes it left behind
// in process group pgid (0 if l did not start) to the caller to reap.
// It starts l from the calling thread (see onThread).
func (r runner) launch(ctx context.Context, l launcher) (s sample, pgid int, err error) {
	cmd := r.command(ctx, l)
	start := time.Now()
	err = cmd.Run()
	s.wall = time.Since(start)
	if cmd.Process != nil {
		pgid = cmd.Process.Pid
	}
	if err != nil {
		if ctx.Err() != nil {
			return s, pgid, ctx.Err()
		}
		return s, pgid, fmt.Errorf("launch %s: %w%s", l, err, r.rerun(ctx, l))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return s, pgid, errors.New("no rusage from wait4")
	}
	s.maxRSS = ru.Maxrss
	s.cpu = cpuTime(ru.Utime, ru.Stime)
	return s, pgid, nil
}

// cpuTime is user plus system time of an rusage.
func cpuTime(user, sys syscall.Timeval) time.Duration {
	return time.Duration(user.Nano() + sys.Nano())
}

// reapGroup waits for every child of this process in process group pgid
// to exit, and returns how many there were, their largest max RSS and
// the CPU time they and what they reaped used.
// If they have not all gone after orphanTimeout, or when ctx is done, it
// kills the group.
func reapGroup(ctx context.Context, pgid int) (n int, maxRSS int64, cpu time.Duration, err error) {
	kill := func() { _ = unix.Kill(-pgid, unix.SIGKILL) }
	timer := time.AfterFunc(orphanTimeout, kill)
	defer timer.Stop()
	defer context.AfterFunc(ctx, kill)()
	for {
		var ws unix.WaitStatus
		var ru unix.Rusage
		_, err := unix.Wait4(-pgid, &ws, 0, &ru)
		switch err {
		case nil:
			n++
			maxRSS = max(maxRSS, ru.Maxrss)
			cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		case unix.EINTR:
		case unix.ECHILD:
			return n, maxRSS, cpu, nil
		default:
			return n, maxRSS, cpu, os.NewSyscallError("wait4", err)
		}
	}
}

// orphanTimeout is how long reapGroup lets a launch's orphans take to exit.
const orphanTimeout = 10 * time.Second

// reapAll reaps, without waiting, every child of this process that has
// exited, and returns how many there were. Only call it when no launch is
// running: it would steal their exit statuses from exec.
func reapAll() int {
	n := 0
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return n
		}
		n++
	}
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
