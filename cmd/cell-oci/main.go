// The Go runtime would keep two cgroupfs files open to follow the
// cgroup's CPU limit (GOMAXPROCS): in init they are host descriptors in
// pid 1, and init closes at start every descriptor the plan does not name.

//go:debug containermaxprocs=0

// Command cell-oci is cell as an OCI runtime, with runc's command-line
// dialect (the one containerd's runc shim, conmon, Slurm and the
// runtime-tools suite speak): create, start, state, kill, delete, run,
// exec, ps, update, pause, resume, features. Its containers go through
// cell's pipeline: config.json is read as a cell profile, compiled into a
// plan and run by cell's executor (see package ociruntime).
//
// It is a binary of its own, not a subcommand of cell: engines call a
// runtime by path with runc's global flags (--root, --log, --log-format)
// and verbs (run, exec, kill, ps) whose meaning differs from cell's own,
// and containerd's BinaryName or podman's --runtime take one path.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/ociruntime"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/spec"
)

func main() {
	// The sandbox's init, its egress proxy and an ID-mapped mount's
	// holder are this executable re-executed.
	launcher.Init()
	if len(os.Args) > 0 {
		switch os.Args[0] {
		case ociruntime.MonitorArg0:
			os.Exit(ociruntime.Monitor(os.Args))
		case ociruntime.ProxyArg0:
			os.Exit(proxy(os.Args))
		}
	}
	signal.Notify(make(chan os.Signal, 1), unix.SIGPIPE)
	os.Exit(run(os.Args[1:]))
}

// Version is what --version prints.
const Version = "cell-oci 0.1 (cell's OCI runtime)\nspec: 1.2.1"

// flagSpec says which flags a command takes and whether each has a value.
type flagSpec map[string]bool

var commands = map[string]flagSpec{
	"create":   {"bundle": true, "b": true, "pid-file": true, "console-socket": true, "no-pivot": false, "no-new-keyring": false, "preserve-fds": true},
	"run":      {"bundle": true, "b": true, "pid-file": true, "console-socket": true, "no-pivot": false, "no-new-keyring": false, "detach": false, "d": false, "preserve-fds": true},
	"start":    {},
	"state":    {},
	"kill":     {"all": false, "a": false, "signal": true, "s": true},
	"delete":   {"force": false, "f": false},
	"exec":     {"process": true, "p": true, "detach": false, "d": false, "pid-file": true, "tty": false, "t": false, "console-socket": true, "preserve-fds": true, "cwd": true, "env": true, "e": true},
	"ps":       {"format": true, "f": true},
	"update":   {"resources": true, "r": true},
	"pause":    {},
	"resume":   {},
	"features": {},
	"list":     {"format": true, "f": true, "quiet": false, "q": false},
}

// parse splits args into flags (last value wins; "env" may repeat) and
// positional arguments; flags may come anywhere before "--".
func parse(spec flagSpec, args []string) (map[string][]string, []string, error) {
	flags := map[string][]string{}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takes, ok := spec[name]
		if !ok {
			return nil, nil, fmt.Errorf("flag provided but not defined: -%s", name)
		}
		switch {
		case takes && !hasVal:
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("flag needs an argument: -%s", name)
			}
			i++
			val = args[i]
		case !takes && !hasVal:
			val = "true"
		}
		flags[name] = append(flags[name], val)
	}
	return flags, pos, nil
}

func get(flags map[string][]string, names ...string) string {
	for _, n := range names {
		if v := flags[n]; len(v) > 0 {
			return v[len(v)-1]
		}
	}
	return ""
}

func isSet(flags map[string][]string, names ...string) bool {
	v := get(flags, names...)
	return v != "" && v != "false"
}

// logger writes errors as runc does: text on stderr, and to --log in
// --log-format (json: one object a line, which containerd's shim reads).
type logger struct {
	file   *os.File
	format string
}

func (l *logger) errorf(msg string) {
	fmt.Fprintf(os.Stderr, "cell-oci: error: %s\n", msg)
	if l.file == nil {
		return
	}
	if l.format == "json" {
		b, _ := json.Marshal(map[string]string{"level": "error", "msg": msg, "time": time.Now().UTC().Format(time.RFC3339Nano)})
		fmt.Fprintf(l.file, "%s\n", b)
	} else {
		fmt.Fprintf(l.file, "time=%q level=error msg=%q\n", time.Now().UTC().Format(time.RFC3339Nano), msg)
	}
}

// exitCode is an exit status to return without a message.
type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }

func run(args []string) int {
	root := ociruntime.DefaultRoot()
	lg := &logger{}
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		value := func() string {
			if hasVal {
				return val
			}
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch name {
		case "root":
			root = value()
		case "log":
			f, err := os.OpenFile(value(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				fmt.Fprintf(os.Stderr, "cell-oci: error: --log: %v\n", err)
				return 1
			}
			lg.file = f
		case "log-format":
			lg.format = value()
			if lg.format != "json" && lg.format != "text" {
				fmt.Fprintf(os.Stderr, "cell-oci: error: --log-format %q: use text or json\n", lg.format)
				return 1
			}
		case "log-level":
			_ = value()
		case "debug":
		case "rootless":
			if !hasVal && i+1 < len(args) && (args[i+1] == "true" || args[i+1] == "false" || args[i+1] == "auto") {
				i++
			}
		case "systemd-cgroup":
			if !hasVal || val != "false" {
				lg.errorf("--systemd-cgroup: cell-oci manages cgroups through cgroupfs only; configure the engine's cgroup manager as cgroupfs (containerd: SystemdCgroup = false; podman: cgroup_manager = \"cgroupfs\")")
				return 1
			}
		case "version", "v":
			fmt.Println(Version)
			return 0
		case "help", "h":
			fmt.Println(usage)
			return 0
		default:
			lg.errorf(fmt.Sprintf("flag provided but not defined: -%s", name))
			return 1
		}
	}
	if i >= len(args) {
		fmt.Fprintln(os.Stderr, usage)
		return 1
	}
	cmd := args[i]
	spec, ok := commands[cmd]
	if !ok {
		lg.errorf(fmt.Sprintf("unknown command %q", cmd))
		return 1
	}
	flags, pos, err := parse(spec, args[i+1:])
	if err == nil {
		rt := &ociruntime.Runtime{Root: root, Warn: os.Stderr}
		err = dispatch(rt, cmd, flags, pos)
	}
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	lg.errorf(message(err))
	return 1
}

// message prints err; a profile's errors one a line.
func message(err error) string {
	var el spec.ErrorList
	if errors.As(err, &el) {
		lines := make([]string, len(el))
		for i, e := range el {
			lines[i] = e.Error()
		}
		return strings.Join(lines, "\n")
	}
	return err.Error()
}

const usage = `usage: cell-oci [--root DIR] [--log FILE] [--log-format text|json] COMMAND [ARGS]
commands: create, start, run, state, kill, delete, exec, ps, update, pause, resume, features, list`

func need(cmd string, pos []string, n int, what string) error {
	if len(pos) != n {
		return fmt.Errorf("%s: takes %s (got %d arguments)", cmd, what, len(pos))
	}
	return nil
}

func stdio() [3]*os.File { return [3]*os.File{os.Stdin, os.Stdout, os.Stderr} }

func dispatch(rt *ociruntime.Runtime, cmd string, flags map[string][]string, pos []string) error {
	switch cmd {
	case "create", "run":
		if err := need(cmd, pos, 1, "a container ID"); err != nil {
			return err
		}
		bundle := get(flags, "bundle", "b")
		if bundle == "" {
			bundle = "."
		}
		o := ociruntime.CreateOptions{Bundle: bundle, PidFile: get(flags, "pid-file"), ConsoleSocket: get(flags, "console-socket"), Stdio: stdio()}
		if n := get(flags, "preserve-fds"); n != "" && n != "0" {
			return errors.New("--preserve-fds: cell-oci passes only stdin, stdout and stderr")
		}
		if err := rt.Create(pos[0], o); err != nil {
			return err
		}
		if cmd == "create" {
			return nil
		}
		return runStarted(rt, pos[0], isSet(flags, "detach", "d"))
	case "start":
		if err := need(cmd, pos, 1, "a container ID"); err != nil {
			return err
		}
		return rt.Start(pos[0])
	case "state":
		if err := need(cmd, pos, 1, "a container ID"); err != nil {
			return err
		}
		st, err := rt.State(pos[0])
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(st, "", "  ")
		fmt.Println(string(b))
		return nil
	case "kill":
		if len(pos) < 1 || len(pos) > 2 {
			return errors.New("kill: takes a container ID and a signal")
		}
		sigName := get(flags, "signal", "s")
		if len(pos) == 2 {
			sigName = pos[1]
		}
		if sigName == "" {
			sigName = "TERM"
		}
		sig, err := ociruntime.ParseSignal(sigName)
		if err != nil {
			return err
		}
		return rt.Kill(pos[0], sig, isSet(flags, "all", "a"))
	case "delete":
		if err := need(cmd, pos, 1, "a container ID"); err != nil {
			return err
		}
		return rt.Delete(pos[0], isSet(flags, "force", "f"))
	case "exec":
		return execCmd(rt, flags, pos)
	case "ps":
		if len(pos) < 1 {
			return errors.New("ps: takes a container ID")
		}
		pids, err := rt.Pids(pos[0])
		if err != nil {
			return err
		}
		if get(flags, "format", "f") == "json" {
			b, _ := json.Marshal(pids)
			fmt.Println(string(b))
			return nil
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 8, 1, ' ', 0)
		fmt.Fprintln(w, "PID\tCMD")
		for _, p := range pids {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
			fmt.Fprintf(w, "%d\t%s\n", p, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
		}
		return w.Flush()
	case "update":
		if err := need(cmd, pos, 1, "a container ID"); err != nil {
			return err
		}
		src := get(flags, "resources", "r")
		if src == "" {
			return errors.New("update: --resources FILE|- is required (cell-oci takes the runtime spec's resources object)")
		}
		var data []byte
		var err error
		if src == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(src)
		}
		if err != nil {
			return err
		}
		return rt.Update(pos[0], data)
	case "pause", "resume":
		if err := need(cmd, pos, 1, "a container ID"); err != nil {
			return err
		}
		if cmd == "pause" {
			return rt.Pause(pos[0])
		}
		return rt.Resume(pos[0])
	case "features":
		b, _ := json.MarshalIndent(ociruntime.Features(), "", "  ")
		fmt.Println(string(b))
		return nil
	case "list":
		states, err := rt.List()
		if err != nil {
			return err
		}
		if get(flags, "format", "f") == "json" {
			b, _ := json.Marshal(states)
			fmt.Println(string(b))
			return nil
		}
		if isSet(flags, "quiet", "q") {
			for _, s := range states {
				fmt.Println(s.ID)
			}
			return nil
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 8, 1, ' ', 0)
		fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED")
		for _, s := range states {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano))
		}
		return w.Flush()
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// runStarted starts a created container and, unless detached, waits for
// it as runc run does: the container's init is this process's child,
// and its status is run's.
func runStarted(rt *ociruntime.Runtime, id string, detach bool) error {
	st, err := rt.State(id)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 8)
	if !detach {
		signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	}
	if err := rt.Start(id); err != nil {
		_ = rt.Delete(id, true)
		return err
	}
	if detach {
		return nil
	}
	go func() {
		for s := range sigs {
			_ = rt.Kill(id, s.(unix.Signal), false)
		}
	}()
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(st.Pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.SyscallError{Syscall: "wait4", Err: err}
		}
		break
	}
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	if err := rt.Delete(id, true); err != nil {
		fmt.Fprintf(os.Stderr, "cell-oci: warning: %v\n", err)
	}
	return exitCode(code)
}

// execCmd runs exec: the command's status is exec's (with --detach, the
// proxy's whose pid goes to --pid-file).
func execCmd(rt *ociruntime.Runtime, flags map[string][]string, pos []string) error {
	if len(pos) < 1 {
		return errors.New("exec: takes a container ID")
	}
	id := pos[0]
	var o ociruntime.ExecOptions
	if f := get(flags, "process", "p"); f != "" {
		p, err := ociruntime.ReadProcess(f)
		if err != nil {
			return err
		}
		o.Process = p
	} else {
		if len(pos) < 2 {
			return errors.New("exec: give --process FILE or a command after the container ID")
		}
		st, err := rt.State(id)
		if err != nil {
			return err
		}
		p, err := ociruntime.ContainerProcess(rt, st.ID)
		if err != nil {
			return err
		}
		p.Args = pos[1:]
		p.Terminal = isSet(flags, "tty", "t")
		if c := get(flags, "cwd"); c != "" {
			p.Cwd = c
		}
		p.Env = append(p.Env, flags["env"]...)
		p.Env = append(p.Env, flags["e"]...)
		o.Process = p
	}
	if n := get(flags, "preserve-fds"); n != "" && n != "0" {
		return errors.New("--preserve-fds: cell-oci passes only stdin, stdout and stderr")
	}
	o.ConsoleSocket = get(flags, "console-socket")
	o.Stdio = stdio()
	sigs := make(chan os.Signal, 8)
	detach := isSet(flags, "detach", "d")
	if !detach {
		signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	}
	ec, err := rt.Exec(id, o)
	if err != nil {
		return err
	}
	if !detach {
		if pf := get(flags, "pid-file"); pf != "" {
			if err := writeFile(pf, os.Getpid()); err != nil {
				return err
			}
		}
		return waitExec(ec, sigs)
	}
	f, buffered, err := ec.Handoff()
	if err != nil {
		return err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	p, err := os.StartProcess("/proc/self/exe", []string{ociruntime.ProxyArg0, string(buffered)}, &os.ProcAttr{Files: []*os.File{devnull, devnull, devnull, f}})
	if err != nil {
		return fmt.Errorf("start the exec proxy: %w", err)
	}
	if pf := get(flags, "pid-file"); pf != "" {
		if err := writeFile(pf, p.Pid); err != nil {
			_ = p.Kill()
			return err
		}
	}
	return p.Release()
}

func writeFile(path string, pid int) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return os.Rename(tmp, path)
}

// waitExec relays signals to the exec'd command until it ends, then ends
// as it did: with its exit code, or killed by its signal.
func waitExec(ec *ociruntime.ExecConn, sigs chan os.Signal) error {
	go func() {
		for s := range sigs {
			_ = ec.Signal(s.(unix.Signal))
		}
	}()
	code, sig, err := ec.Wait()
	if err != nil {
		return err
	}
	if sig != 0 {
		signal.Reset(sig)
		_ = unix.Kill(os.Getpid(), sig)
		time.Sleep(100 * time.Millisecond)
		return exitCode(128 + int(sig))
	}
	return exitCode(code)
}

// proxy is the main of a detached exec's proxy: descriptor 3 is its link
// to the container's monitor, args[1] what the runtime had read of it.
func proxy(args []string) int {
	buffered := ""
	if len(args) > 1 {
		buffered = args[1]
	}
	ec, err := ociruntime.NewExecConn(os.NewFile(3, "monitor"), []byte(buffered))
	if err != nil {
		return 125
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGALRM, unix.SIGCONT, unix.SIGTSTP)
	err = waitExec(ec, sigs)
	var c exitCode
	if errors.As(err, &c) {
		return int(c)
	}
	return 125
}
