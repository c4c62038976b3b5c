package ociruntime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/spec/capability"
	"github.com/cellsandbox/cell/spec/oci"
)

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// Start runs the process of a created container.
func (r *Runtime) Start(id string) error {
	unlock, err := r.lock(id)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := r.load(id)
	if err != nil {
		return err
	}
	if s := r.status(rec); s != StatusCreated {
		return fmt.Errorf("cannot start a container that is %s", s)
	}
	// prestart runs here, as the runtime spec (1.0) says: after start is
	// called, before the process runs.
	st := r.stateOf(rec, StatusCreated)
	for _, h := range [][]specs.Hook{hooksOf(rec, "prestart"), hooksOf(rec, "startContainer")} {
		if err := runHooks(h, st); err != nil {
			// The container stops and the lifecycle goes on with
			// delete, as the runtime spec says of a failed prestart.
			if derr := r.destroy(rec); derr != nil {
				err = errors.Join(err, derr)
			}
			return err
		}
	}
	c, _, err := call(r.dir(id), request{Op: "start"}, nil)
	if err != nil {
		return err
	}
	c.Close()
	waitExecuted(rec)
	rec.Started = true
	if err := r.save(rec); err != nil {
		return err
	}
	// A poststart hook that fails is a warning; the others still run.
	for _, h := range hooksOf(rec, "poststart") {
		if err := runHooks([]specs.Hook{h}, r.stateOf(rec, StatusRunning)); err != nil {
			fmt.Fprintf(r.Warn, "cell-oci: warning: poststart %v\n", err)
		}
	}
	return nil
}

// State returns the state of container id.
func (r *Runtime) State(id string) (State, error) {
	rec, err := r.load(id)
	if err != nil {
		return State{}, err
	}
	return r.stateOf(rec, r.status(rec)), nil
}

// ParseSignal reads a signal as runc takes it: a number, or a name with
// or without SIG.
func ParseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q", s)
	}
	return sig, nil
}

// terminates reports whether sig's default action ends a process.
func terminates(sig unix.Signal) bool {
	switch sig {
	case unix.SIGCHLD, unix.SIGCONT, unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGURG, unix.SIGWINCH:
		return false
	}
	return true
}

// Kill sends sig to the container's process. Before start, a signal that
// would end a process ends the container (its init); after, SIGKILL goes
// to init, which takes the whole sandbox, and other signals are relayed
// by init to the process. all sends it to every process of the cgroup.
func (r *Runtime) Kill(id string, sig unix.Signal, all bool) error {
	rec, err := r.load(id)
	if err != nil {
		return err
	}
	switch r.status(rec) {
	case StatusStopped:
		return errors.New("container not running")
	case StatusCreated:
		if terminates(sig) {
			return killInit(rec)
		}
		return nil
	}
	if sig == unix.SIGKILL {
		if all && rec.Plan.Cgroup != nil {
			ctx, cancel := contextTimeout(10 * time.Second)
			defer cancel()
			_ = launcher.CgroupOf(rec.Plan.Cgroup, nil).Kill(ctx)
		}
		return killInit(rec)
	}
	if all {
		return signalAll(rec, sig)
	}
	c, _, err := call(r.dir(id), request{Op: "signal", Signal: int(sig)}, nil)
	if err != nil {
		return err
	}
	return c.Close()
}

// signalAll sends sig to every process of the container's cgroup but
// its init, cell's, which is not the container's (runc's kill --all).
// Without a cgroup of its own the container's processes cannot be told
// from others: refused rather than sent to the process alone.
func signalAll(rec *record, sig unix.Signal) error {
	if rec.Plan.Cgroup == nil {
		return fmt.Errorf("kill --all with %v: the container has no cgroup of its own (it sets no limit), so cell-oci cannot tell its processes apart; only SIGKILL, which ends its init and with it every process, reaches them all", sig)
	}
	pids, err := launcher.CgroupOf(rec.Plan.Cgroup, nil).Procs()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if pid == rec.Pid {
			continue
		}
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
			return &os.SyscallError{Syscall: "kill", Err: err}
		}
	}
	return nil
}

func killInit(rec *record) error {
	if !rec.alive() {
		return nil
	}
	if err := unix.Kill(rec.Pid, unix.SIGKILL); err != nil && err != unix.ESRCH {
		return &os.SyscallError{Syscall: "kill", Err: err}
	}
	return nil
}

// Delete removes a stopped container (any, with force, after killing
// it): its cgroups and its record; then it runs the poststop hooks.
func (r *Runtime) Delete(id string, force bool) error {
	rec, err := r.load(id)
	var ne *NotExist
	if errors.As(err, &ne) && force {
		// As runc: forcing the delete of a container that is gone
		// succeeds (containerd's shim deletes once more when it
		// cleans up), after removing what an aborted create left.
		return os.RemoveAll(r.dir(id))
	}
	if err != nil {
		return err
	}
	unlock, err := r.lock(id)
	if err != nil {
		return err
	}
	defer unlock()
	if s := r.status(rec); s != StatusStopped && !force {
		return fmt.Errorf("cannot delete container %s that is not stopped: %s", id, s)
	}
	return r.destroy(rec)
}

// destroy ends the container (SIGKILL to init, which takes the whole
// sandbox), removes its cgroups and its record, then runs the poststop
// hooks, whose failures are warnings.
func (r *Runtime) destroy(rec *record) error {
	id := rec.ID
	if rec.alive() {
		if err := killInit(rec); err != nil {
			return err
		}
		for deadline := time.Now().Add(10 * time.Second); rec.alive(); {
			if time.Now().After(deadline) {
				return fmt.Errorf("container %s: init (pid %d) did not end after SIGKILL", id, rec.Pid)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var errs []error
	if err := removeCgroup(rec); err != nil {
		errs = append(errs, fmt.Errorf("remove the cgroups: %w", err))
	}
	if err := os.RemoveAll(r.dir(id)); err != nil {
		errs = append(errs, err)
	}
	for _, h := range hooksOf(rec, "poststop") {
		if err := runHooks([]specs.Hook{h}, r.stateOf(rec, StatusStopped)); err != nil {
			fmt.Fprintf(r.Warn, "cell-oci: warning: poststop %v\n", err)
		}
	}
	return errors.Join(errs...)
}

// Pids lists the container's processes on the host: those of its cgroup,
// or without one those in init's pid namespace.
func (r *Runtime) Pids(id string) ([]int, error) {
	rec, err := r.load(id)
	if err != nil {
		return nil, err
	}
	if !rec.alive() {
		return []int{}, nil
	}
	if rec.Plan.Cgroup != nil {
		return launcher.CgroupOf(rec.Plan.Cgroup, nil).Procs()
	}
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", rec.Pid))
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	pids := []int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err == nil && l == ns {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Pause freezes the container's cgroup; Resume thaws it.
func (r *Runtime) Pause(id string) error  { return r.freeze(id, true) }
func (r *Runtime) Resume(id string) error { return r.freeze(id, false) }

func (r *Runtime) freeze(id string, on bool) error {
	rec, err := r.load(id)
	if err != nil {
		return err
	}
	s := r.status(rec)
	if on && s != StatusRunning || !on && s != StatusPaused {
		return fmt.Errorf("container %s is %s", id, s)
	}
	if rec.Plan.Cgroup == nil {
		return fmt.Errorf("container %s has no cgroup to freeze (its config.json sets no linux.resources)", id)
	}
	ctx, cancel := contextTimeout(10 * time.Second)
	defer cancel()
	if on {
		return launcher.CgroupOf(rec.Plan.Cgroup, nil).Freeze(ctx)
	}
	return launcher.CgroupOf(rec.Plan.Cgroup, nil).Thaw(ctx)
}

func frozen(rec *record) bool {
	f, err := launcher.CgroupOf(rec.Plan.Cgroup, nil).Frozen()
	return err == nil && f
}

// Update sets the container's limits from a runtime-spec resources
// object. What cell cannot set is refused, naming the field.
func (r *Runtime) Update(id string, data []byte) error {
	rec, err := r.load(id)
	if err != nil {
		return err
	}
	var res specs.LinuxResources
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("resources: %w", err)
	}
	var lim launcher.Limits
	var refused []string
	if m := res.Memory; m != nil {
		if m.Limit != nil {
			lim.MemoryMax = limitValue(*m.Limit)
		}
		if m.Swap != nil {
			if m.Limit == nil || *m.Swap >= 0 && *m.Swap < *m.Limit {
				refused = append(refused, "memory.swap (memory plus swap) needs memory.limit, and at least as much")
			} else if *m.Swap < 0 {
				lim.SwapMax = launcher.Max()
			} else {
				lim.SwapMax = launcher.Num(uint64(*m.Swap - *m.Limit))
			}
		}
		//lint:ignore SA1019 a kernel limit given is refused, not ignored
		if m.Reservation != nil || m.Kernel != nil || m.KernelTCP != nil || m.Swappiness != nil || m.DisableOOMKiller != nil {
			refused = append(refused, "memory.reservation, kernel, kernelTCP, swappiness, disableOOMKiller: cell does not set them")
		}
	}
	if p := res.Pids; p != nil {
		lim.PidsMax = limitValue(p.Limit)
	}
	if c := res.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			lim.CPUShares = *c.Shares
		}
		if c.Quota != nil {
			period := uint64(100000)
			if c.Period != nil && *c.Period != 0 {
				period = *c.Period
			}
			if *c.Quota <= 0 {
				refused = append(refused, "cpu.quota: lifting the CPU limit is not supported")
			} else {
				lim.CPUMax = launcher.CPUs(uint64(*c.Quota) * 1000 / period)
			}
		}
		lim.Cpus, lim.Mems = c.Cpus, c.Mems
		if c.RealtimePeriod != nil || c.RealtimeRuntime != nil {
			refused = append(refused, "cpu.realtimePeriod, realtimeRuntime: cell does not set them")
		}
	}
	seen := map[string]bool{}
	for i, h := range res.HugepageLimits {
		// A page size the kernel does not offer (or names otherwise) is
		// refused by cgroup.Limit, with the sizes it offers.
		if seen[h.Pagesize] {
			refused = append(refused, fmt.Sprintf("hugepageLimits[%d].pageSize: a second limit of page size %s", i, h.Pagesize))
			continue
		}
		seen[h.Pagesize] = true
		v := launcher.Num(h.Limit)
		if h.Limit > 1<<62 {
			v = launcher.Max()
		}
		lim.HugeTLB = append(lim.HugeTLB, launcher.HugeTLBLimit{PageSize: h.Pagesize, Max: v})
	}
	if n := res.Network; n != nil {
		// Only on cgroup v1, and only where the container was made with
		// the net_cls and net_prio hierarchies: cgroup.Limit refuses them
		// otherwise.
		if n.ClassID != nil {
			if *n.ClassID == 0 {
				refused = append(refused, "network.classID: cell does not clear a container's traffic class")
			}
			lim.NetClassID = *n.ClassID
		}
		for _, p := range n.Priorities {
			lim.NetPriorities = append(lim.NetPriorities, launcher.NetPriority{Interface: p.Name, Priority: p.Priority})
		}
	}
	if res.BlockIO != nil || len(res.Rdma) > 0 || len(res.Unified) > 0 || len(res.Devices) > 0 {
		refused = append(refused, "blockIO, rdma, unified, devices: cell does not update them")
	}
	if len(refused) > 0 {
		return fmt.Errorf("update: %s", strings.Join(refused, "; "))
	}
	if rec.Plan.Cgroup == nil {
		return fmt.Errorf("container %s has no cgroup (its config.json sets no linux.resources)", id)
	}
	_, err = launcher.CgroupOf(rec.Plan.Cgroup, nil).Update(lim)
	return err
}

func limitValue(v int64) *launcher.LimitValue {
	if v <= 0 {
		return launcher.Max()
	}
	return launcher.Num(uint64(v))
}

// hooksOf returns the hooks of one kind.
func hooksOf(rec *record, kind string) []specs.Hook {
	h := rec.Hooks
	if h == nil {
		return nil
	}
	switch kind {
	case "prestart":
		//lint:ignore SA1019 old callers (and runtime-tools) still set prestart hooks
		return h.Prestart
	case "createRuntime":
		return h.CreateRuntime
	case "createContainer":
		return h.CreateContainer
	case "startContainer":
		return h.StartContainer
	case "poststart":
		return h.Poststart
	case "poststop":
		return h.Poststop
	}
	return nil
}

// runHooks runs hooks in order with the state on their stdin; the first
// that fails (or outlives its timeout) is the error.
func runHooks(hooks []specs.Hook, st State) error {
	in, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		ctx, cancel := context.Background(), func() {}
		if h.Timeout != nil && *h.Timeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		}
		cmd := exec.CommandContext(ctx, h.Path)
		if len(h.Args) > 0 {
			cmd.Args = h.Args
		}
		cmd.Env = h.Env
		cmd.Stdin = bytes.NewReader(in)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if msg != "" {
				msg = ": " + msg
			}
			return fmt.Errorf("hook %d (%s): %w%s", i, h.Path, err, msg)
		}
	}
	return nil
}

// Features is what `features` prints: what this runtime accepts.
func Features() map[string]any {
	return map[string]any{
		"ociVersionMin": "1.0.0",
		"ociVersionMax": specs.Version,
		"hooks":         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		"mountOptions":  oci.BindOptions(),
		"linux": map[string]any{
			"namespaces":   []string{"user", "mount", "pid", "network", "uts", "ipc", "cgroup", "time"},
			"capabilities": capability.Names(),
			"cgroup":       map[string]any{"v1": true, "v2": true, "systemd": false, "systemdUser": false},
			// The bundle's filter, as cell compiles it (x86_64 only;
			// no flags, no notify listener).
			"seccomp": map[string]any{"enabled": true, "actions": oci.SeccompActions(), "operators": oci.SeccompOperators(),
				"archs": []string{"SCMP_ARCH_X86_64"}, "knownFlags": []string{}, "supportedFlags": []string{}},
			"apparmor": map[string]any{"enabled": false},
			"selinux":  map[string]any{"enabled": false},
		},
		"annotations": map[string]string{"org.opencontainers.runtime": "cell"},
	}
}

// ExecOptions are exec's flags.
type ExecOptions struct {
	Process       *specs.Process
	ConsoleSocket string
	Stdio         [3]*os.File
}

// ExecConn is an exec'd command's link to the monitor: Wait returns its
// status, Signal relays a signal to it.
type ExecConn struct {
	c  *net.UnixConn
	rd *bufio.Reader
}

// Exec asks the monitor of container id for one more command. The
// command's credentials are the container process's: a process.user
// that differs is refused.
func (r *Runtime) Exec(id string, o ExecOptions) (*ExecConn, error) {
	rec, err := r.load(id)
	if err != nil {
		return nil, err
	}
	if s := r.status(rec); s != StatusRunning {
		return nil, fmt.Errorf("cannot exec in a container that is %s", s)
	}
	p := o.Process
	if len(p.Args) == 0 {
		return nil, errors.New("process.args: is required")
	}
	if u := rec.Process.User; p.User.UID != u.UID || p.User.GID != u.GID {
		return nil, fmt.Errorf("process.user: cell runs exec'd commands as the container process's user (uid %d, gid %d), not uid %d gid %d", u.UID, u.GID, p.User.UID, p.User.GID)
	}
	stdio := o.Stdio
	if p.Terminal {
		if o.ConsoleSocket == "" {
			return nil, errors.New("process.terminal is true: --console-socket is required")
		}
		slave, err := sendConsole(rec, o.ConsoleSocket)
		if err != nil {
			return nil, err
		}
		defer slave.Close()
		stdio = [3]*os.File{slave, slave, slave}
	}
	fds := []int{int(stdio[0].Fd()), int(stdio[1].Fd()), int(stdio[2].Fd())}
	c, br, err := call(r.dir(id), request{Op: "exec", Args: p.Args, Env: p.Env, Cwd: p.Cwd, TTY: p.Terminal}, fds)
	if err != nil {
		return nil, err
	}
	return &ExecConn{c: c, rd: br}, nil
}

// Handoff returns the connection as a file and the bytes already read
// from it, for a proxy process that waits in the runtime's place
// (NewExecConn).
func (e *ExecConn) Handoff() (*os.File, []byte, error) {
	f, err := e.c.File()
	if err != nil {
		return nil, nil, err
	}
	buf, _ := e.rd.Peek(e.rd.Buffered())
	e.c.Close()
	return f, buf, nil
}

// NewExecConn takes over a connection that Handoff gave away.
func NewExecConn(f *os.File, buffered []byte) (*ExecConn, error) {
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, errors.New("not a unix socket")
	}
	return &ExecConn{c: uc, rd: bufio.NewReader(io.MultiReader(bytes.NewReader(buffered), uc))}, nil
}

// Signal relays sig to the exec'd command.
func (e *ExecConn) Signal(sig unix.Signal) error {
	b, _ := json.Marshal(request{Op: "exec-signal", Signal: int(sig)})
	_, err := e.c.Write(append(b, '\n'))
	return err
}

// Wait returns the exec'd command's exit code, or the signal that ended
// it.
func (e *ExecConn) Wait() (code int, sig unix.Signal, err error) {
	defer e.c.Close()
	line, err := e.rd.ReadBytes('\n')
	if err != nil {
		return 0, 0, fmt.Errorf("the container's monitor: %w", err)
	}
	var rep reply
	if err := json.Unmarshal(line, &rep); err != nil {
		return 0, 0, err
	}
	if rep.Error != "" {
		return 0, 0, errors.New(rep.Error)
	}
	if rep.Exit == nil {
		return 0, 0, errors.New("the container's monitor sent no exit status")
	}
	return rep.Exit.Code, unix.Signal(rep.Exit.Signal), nil
}

// ReadProcess reads exec's --process file.
func ReadProcess(path string) (*specs.Process, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p specs.Process
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

// DefaultRoot is the state directory without --root: /run/cell-oci for
// root, else $XDG_RUNTIME_DIR/cell-oci. Root of a user namespace that a
// user made (rootless podman calls its runtime so) counts as that user,
// as it does for runc and crun: /run is not its own.
func DefaultRoot() string {
	if os.Geteuid() == 0 && initialUserNS() {
		return "/run/cell-oci"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "cell-oci")
	}
	return fmt.Sprintf("/tmp/cell-oci-%d", os.Geteuid())
}

// initialUserNS reports whether this process is in the initial user
// namespace, whose map is the whole range onto itself.
func initialUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// List returns the states of every container under the root.
func (r *Runtime) List() ([]State, error) {
	ents, err := os.ReadDir(r.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []State
	for _, e := range ents {
		if st, err := r.State(e.Name()); err == nil {
			out = append(out, st)
		}
	}
	return out, nil
}

// ContainerProcess returns a copy of the container's process, the base of
// an exec given as a command line (runc exec ID CMD...).
func ContainerProcess(r *Runtime, id string) (*specs.Process, error) {
	rec, err := r.load(id)
	if err != nil {
		return nil, err
	}
	p := *rec.Process
	p.Env = append([]string(nil), p.Env...)
	return &p, nil
}

// waitExecuted waits (up to five seconds) until init's child, the
// container's process, has executed its program, or init has ended:
// start returns when the process runs, as the poststart hooks expect.
// Init forks it, so for a moment the child is still init's program.
func waitExecuted(rec *record) {
	self, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", rec.Pid))
	if err != nil {
		return
	}
	children := fmt.Sprintf("/proc/%d/task/%d/children", rec.Pid, rec.Pid)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && rec.alive(); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(children)
		if err != nil {
			return
		}
		for _, f := range strings.Fields(string(b)) {
			if exe, err := os.Readlink("/proc/" + f + "/exe"); err == nil && exe != self {
				return
			}
		}
	}
}
