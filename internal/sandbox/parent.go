package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/internal/cgroup/cgroupfs"
	"github.com/cellsandbox/cell/internal/mounts"
	"github.com/cellsandbox/cell/internal/proto"
	"github.com/cellsandbox/cell/internal/stamp"
	"github.com/cellsandbox/cell/launcher/plan"
)

// Stdio are the command's standard descriptors; nil means /dev/null.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
}

// Sandbox is a running sandbox seen from cell.
type Sandbox struct {
	plan *plan.Plan
	cmd  *exec.Cmd
	conn *os.File
	enc  *json.Encoder
	mu   sync.Mutex // serialises writes to conn

	done   chan struct{}
	ready  chan struct{} // closed when init takes exec requests
	result message       // the last report of init: exit or failure
	cg     *cgroups
	net    *nets
	ids    *leasedIDs

	started, ended time.Time
	stats          *cgroup.Stats
	onTrace        func(Trace)
	execs          execs
	console        chan *os.File // the master of a console step's pty
	egress         egressState
	// adopted is a restored init (Restoring.Adopt): a child of cell's,
	// but not one its exec.Cmd started.
	adopted bool
	// sent is the plan as init received it: nil for an adopted init.
	sent []byte
}

// SentPlan returns the plan's JSON exactly as it was sent to init (and
// as `cell plan --json` prints it, compact); nil for a restored sandbox,
// whose init received its plan before the checkpoint. The caller must
// not modify it.
func (sb *Sandbox) SentPlan() []byte { return sb.sent }

// Kill ends the sandbox at once: SIGKILL to init, pid 1 of its pid
// namespace, takes every process of the sandbox with it.
func (sb *Sandbox) Kill() error { return sb.cmd.Process.Kill() }

// Cgroup returns what the sandbox's cgroups counted, after Wait; nil
// without cgroups.
func (sb *Sandbox) Cgroup() *cgroup.Stats { return sb.stats }

// Rusage returns the resource usage of init and of the processes it
// reaped (the command and its orphans), after Wait.
func (sb *Sandbox) Rusage() *syscall.Rusage {
	if sb.cmd.ProcessState == nil {
		return nil
	}
	ru, _ := sb.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return ru
}

// Wall returns how long the sandbox ran, from its clone to the end of
// Wait.
func (sb *Sandbox) Wall() time.Duration { return sb.ended.Sub(sb.started) }

// Start runs the parent's steps of p: it clones init into the namespaces,
// writes its ID maps and sends it the plan, then returns while init runs
// the rest. Inherited lists the caller's descriptors that the command
// receives at the same numbers.
//
// The parent-death signal that ties the sandbox to cell fires when the
// thread that started it exits, so the caller must hold its goroutine
// locked to its thread (runtime.LockOSThread) until Wait returns.
//
// onTrace, when not nil, receives each step (or run of steps done
// together, such as Go's clone through init's exec) as it completes, from
// the parent and from init, the phases of init's life and the hash of
// the plan init received.
func Start(p *plan.Plan, stdio Stdio, inherited []int, onTrace func(Trace)) (*Sandbox, error) {
	trace := func(first, last int, since time.Time) {
		if onTrace != nil {
			onTrace(Trace{First: first, Last: last, Micros: time.Since(since).Microseconds()})
		}
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	// Encoded before anything runs: what init receives is this, byte for
	// byte, whatever the parent's steps find.
	planBytes, err := p.Encode()
	if err != nil {
		return nil, err
	}
	sys := &syscall.SysProcAttr{GidMappingsEnableSetgroups: true}
	cg := groupOf(p)
	nw := &nets{}
	lids := &leasedIDs{}
	// undo runs the plan's cleanup when starting fails.
	undo := func(err error) error {
		if terr := teardown(p, cg, nw, lids); terr != nil {
			return errors.Join(err, fmt.Errorf("teardown: %w", terr))
		}
		return err
	}
	stepErr := func(i int, err error) error {
		s := &p.Steps[i]
		se := &StepError{Pos: s.Pos, Index: i + 1, Step: *s, Err: err.Error()}
		var errno unix.Errno
		if errors.As(err, &errno) {
			se.Errno = errno
		}
		return se
	}
	var initStep *plan.ExecInit
	initIndex := 0
	var passed []passedFile
	var joins []*plan.Setns
	for i := range p.Steps {
		s := &p.Steps[i]
		a, err := lids.resolve(s)
		if err != nil {
			return nil, undo(stepErr(i, err))
		}
		t0 := time.Now()
		done := true // the step ran here, on its own
		switch a := a.(type) {
		case *plan.IDLease:
			err = lids.lease(a)
		case *plan.Setns:
			// Entered on this thread just before the clone.
			joins = append(joins, a)
		case *plan.CgroupMkdir, *plan.CgroupWrite, *plan.CgroupDevices:
			err = cg.step(a, 0)
		case *plan.Require, *plan.NetLease, *plan.Bridge:
			err = nw.step(a, 0)
		case *plan.Nft:
			err = nw.step(a, 0)
		case *plan.CloseFDs:
			// Only marked: cell keeps its descriptors, init gets none
			// of them but what ExtraFiles places (Go's fork clears the
			// flag of a descriptor placed at its own number).
			err = closeFDs(a.Keep)
		case *plan.IDMappedTree:
			var f *os.File
			f, err = idmapUserns(a)
			if a.Optional && mounts.Missing(err) {
				// No tree at its number: init skips the attach.
				err = nil
				break
			}
			if err == nil {
				defer f.Close()
				passed = append(passed, passedFile{int(a.FD), f})
			}
		case *plan.Clone:
			done = false
			if a.Cgroup != "" {
				f, ferr := cgroupfs.OpenDir(a.Cgroup)
				if ferr != nil {
					return nil, undo(stepErr(i, ferr))
				}
				cg.cloneFD = f
				sys.UseCgroupFD, sys.CgroupFD = true, int(f.Fd())
			}
			err = parentStep(s.Side, a, sys)
		default:
			done = false
			err = parentStep(s.Side, a, sys)
		}
		if err != nil {
			return nil, undo(stepErr(i, err))
		}
		if done {
			trace(i, i, t0)
		}
		if e, ok := a.(*plan.ExecInit); ok {
			initStep, initIndex = e, i
			break
		}
	}
	if initStep == nil {
		return nil, undo(errors.New("plan has no exec-init step"))
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, undo(fmt.Errorf("socketpair: %w", err))
	}
	conn := os.NewFile(uintptr(fds[0]), "cell-init")
	initEnd := os.NewFile(uintptr(fds[1]), "cell-init")
	defer initEnd.Close()

	sockFD, err := initSocketFD(initStep)
	if err != nil {
		conn.Close()
		return nil, undo(err)
	}
	// ExtraFiles[i] becomes descriptor 3+i in init; nil entries are closed.
	var extra []*os.File
	place := func(fd int, f *os.File) {
		for len(extra) <= fd-3 {
			extra = append(extra, nil)
		}
		extra[fd-3] = f
	}
	place(sockFD, initEnd)
	for _, pf := range passed {
		place(pf.fd, pf.f)
	}
	for _, fd := range inherited {
		f := os.NewFile(uintptr(fd), "inherited-"+strconv.Itoa(fd))
		if _, err := f.Stat(); err != nil {
			conn.Close()
			return nil, undo(fmt.Errorf("process.inheritFds: descriptor %d is not open in cell: %w", fd, err))
		}
		place(fd, f)
	}
	cmd := &exec.Cmd{
		Path:        initStep.Path,
		Args:        initStep.Args,
		Env:         initEnv,
		ExtraFiles:  extra,
		SysProcAttr: sys,
	}
	// A nil *os.File must stay a nil interface: exec.Cmd then uses /dev/null.
	if stdio.Stdin != nil {
		cmd.Stdin = stdio.Stdin
	}
	if stdio.Stdout != nil {
		cmd.Stdout = stdio.Stdout
	}
	if stdio.Stderr != nil {
		cmd.Stderr = stdio.Stderr
	}
	started := time.Now()
	clone := 0
	for p.Steps[clone].Op() != plan.OpClone {
		clone++
	}
	stamp.Mark("parent-steps")
	var restore func() error
	if len(joins) > 0 {
		if restore, err = joinNamespaces(joins); err != nil {
			conn.Close()
			return nil, undo(stepErr(clone, err))
		}
	}
	err = cmd.Start()
	if restore != nil {
		if rerr := restore(); rerr != nil {
			if err == nil {
				_ = cmd.Process.Kill()
				_, _ = cmd.Process.Wait()
			}
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		conn.Close()
		return nil, undo(stepErr(clone, err))
	}
	stamp.Mark("clone")
	trace(clone, initIndex, started)
	cg.closeCloneFD()
	sb := &Sandbox{plan: p, cmd: cmd, conn: conn, enc: json.NewEncoder(conn), done: make(chan struct{}), ready: make(chan struct{}), cg: cg, net: nw, ids: lids, started: started, onTrace: onTrace, console: make(chan *os.File, 1), sent: planBytes}
	// Parent steps after init's exec (joining v1 cgroups) come before init
	// is given the plan, so it runs no step outside its limits.
	for i := initIndex + 1; i < len(p.Steps); i++ {
		s := &p.Steps[i]
		a, err := lids.resolve(s)
		t0 := time.Now()
		if err == nil {
			switch a := a.(type) {
			case *plan.ExecInit:
				// init waits unmapped for this word, then executes
				// itself again as root of its namespace.
				err = sb.enc.Encode(message{Version: proto.InitVersion, Mapped: true})
			case *plan.NewIDMap:
				err = newIDMap(a, cmd.Process.Pid)
			case *plan.DenySetgroups:
				// Before the helpers write the gid_map.
				err = os.WriteFile(fmt.Sprintf("/proc/%d/setgroups", cmd.Process.Pid), []byte("deny"), 0)
			case *plan.Veth, *plan.UserNet, *plan.UserNetPort:
				err = nw.step(a, cmd.Process.Pid)
			case *plan.CgroupJoin:
				err = cg.step(a, cmd.Process.Pid)
			default:
				if s.Side == plan.Parent {
					err = fmt.Errorf("%s is not a step the parent runs after init's exec", a.Op())
				} else {
					continue // init's and the command's
				}
			}
		}
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			conn.Close()
			return nil, undo(stepErr(i, err))
		}
		trace(i, i, t0)
	}
	// What only this run knows, then the plan whole, as encoded above;
	// init checks it again.
	rt := &Runtime{Trace: onTrace != nil}
	if nw.lease.IsValid() {
		rt.Lease = nw.lease.String()
	}
	err = sb.enc.Encode(message{Version: proto.InitVersion, Runtime: rt})
	if err == nil {
		_, err = conn.Write(append(planBytes, '\n'))
	}
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		conn.Close()
		return nil, undo(fmt.Errorf("send plan to init: %w", err))
	}
	go sb.read()
	return sb, nil
}

// teardown runs the plan's cleanup steps, in their printed order, each
// whatever the ones before it did: the cgroups' kill and removal, the
// release of leased IDs, the network's rules, lease and helper. What
// cell never made is skipped by the step that would undo it.
func teardown(p *plan.Plan, cg *cgroups, nw *nets, ids *leasedIDs) error {
	cg.closeCloneFD()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for i := range p.Cleanup {
		s := &p.Cleanup[i]
		var err error
		switch a := s.Do.(type) {
		case *plan.CgroupKill:
			err = cg.kill(ctx, a.Dir)
		case *plan.CgroupRemove:
			err = cg.remove(ctx, a.Dir)
		case *plan.IDRelease:
			err = ids.release()
		case *plan.NftDelete, *plan.LeaseRelease, *plan.UserNetStop:
			err = nw.cleanup(a)
		case *plan.UmountRootfs:
			err = mounts.UmountRootfs(a.Root, a.Target)
		default:
			err = fmt.Errorf("%s is not a step of cleanup", a.Op())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cleanup %s: %w", s.Call(), err))
		}
	}
	return errors.Join(errs...)
}

// initSocketFD is the descriptor on which init expects its socket: the
// second argument of the exec-init step.
func initSocketFD(s *plan.ExecInit) (int, error) {
	if len(s.Args) < 2 {
		return 0, fmt.Errorf("exec-init step: want arguments [%s FD], have %q", s.Args, s.Args)
	}
	fd, err := strconv.Atoi(s.Args[1])
	if err != nil || fd < 3 {
		return 0, fmt.Errorf("exec-init step: bad socket descriptor %q", s.Args[1])
	}
	return fd, nil
}

// parentStep records the effect of a step up to init's exec, the clone
// spec, in the attributes of init's clone. Go's os/exec performs them in
// the parent (the clone, the ID maps) and in the forked child (setsid,
// credentials, ambient capabilities, pdeathsig, execve) in its own fixed
// order, which the plan prints and Check enforces (launcher/plan's
// fork.go).
func parentStep(side plan.Side, a plan.Action, sys *syscall.SysProcAttr) error {
	switch a := a.(type) {
	case *plan.Clone:
		sys.Cloneflags = uintptr(a.Flags)
	case *plan.WriteIDMap:
		switch a.File {
		case "uid_map", "gid_map":
			m, err := parseMap(a.Data)
			if err != nil {
				return err
			}
			if a.File == "uid_map" {
				sys.UidMappings = m
			} else {
				sys.GidMappings = m
			}
		case "setgroups":
			if a.Data != "deny" {
				return fmt.Errorf("setgroups %q: only deny is written", a.Data)
			}
			sys.GidMappingsEnableSetgroups = false
		default:
			return fmt.Errorf("unknown id map file %q", a.File)
		}
	case *plan.Setsid:
		sys.Setsid = true
	case *plan.Pdeathsig:
		sys.Pdeathsig = syscall.Signal(a.Signal)
	case *plan.InitIDs:
		sys.Credential = &syscall.Credential{Uid: a.UID, Gid: a.GID, NoSetGroups: true}
	case *plan.AmbientCaps:
		for _, c := range a.Caps {
			sys.AmbientCaps = append(sys.AmbientCaps, uintptr(c))
		}
	case *plan.ExecInit:
	default:
		return fmt.Errorf("%s in %s is not a step that runs before init", a.Op(), side)
	}
	return nil
}

func parseMap(data string) ([]syscall.SysProcIDMap, error) {
	var m []syscall.SysProcIDMap
	for _, line := range strings.Split(strings.TrimSpace(data), "\n") {
		var r syscall.SysProcIDMap
		var in, out, n uint32
		if _, err := fmt.Sscanf(line, "%d %d %d", &in, &out, &n); err != nil {
			return nil, fmt.Errorf("id map line %q: %w", line, err)
		}
		// SysProcIDMap holds ints; on 64-bit Linux they keep every uint32.
		r.ContainerID, r.HostID, r.Size = int(in), int(out), int(n)
		m = append(m, r)
	}
	return m, nil
}

// read takes init's reports until init closes the socket. They are read
// with recvmsg, as the console's master comes with its message.
func (sb *Sandbox) read() {
	defer close(sb.done)
	rd := newMsgReader(int(sb.conn.Fd()), nil)
	for {
		m, fds, err := rd.Next()
		if err != nil {
			return
		}
		if m.Console != "" {
			f := os.NewFile(uintptr(fds[0]), m.Console)
			select {
			case sb.console <- f:
			default:
				f.Close() // a plan has one console
			}
		}
		if m.ExecConsole != nil {
			sb.execConsole(m.ExecConsole, fds)
		}
		if len(m.Egress) > 0 {
			sb.startEgress(m.Egress, fds)
		}
		if m.Socket {
			// init's new socket takes the old one's number: cell's
			// writers go on unchanged, init reads the old one to its
			// end (this closes it), then only the new one.
			sb.mu.Lock()
			err := unix.Dup3(fds[0], int(sb.conn.Fd()), unix.O_CLOEXEC)
			sb.mu.Unlock()
			unix.Close(fds[0])
			if err == nil {
				rd = newMsgReader(int(sb.conn.Fd()), nil)
			}
		}
		if m.Ready {
			close(sb.ready)
		}
		if m.Exit != nil || m.Failure != nil {
			sb.result = m
		}
		if m.Trace != nil && sb.onTrace != nil {
			sb.onTrace(*m.Trace)
		}
		if m.ExecExit != nil {
			sb.execDone(*m.ExecExit)
		}
	}
}

// Console returns the master of the pty that the plan's console step made
// in the sandbox, once init has made it; it fails when the sandbox ended
// first (a step failed: Wait says which).
func (sb *Sandbox) Console() (*os.File, error) {
	select {
	case f := <-sb.console:
		return f, nil
	case <-sb.done:
		select {
		case f := <-sb.console:
			return f, nil
		default:
			return nil, errors.New("the sandbox ended before it made its terminal")
		}
	}
}

// Pid is init's pid on the host.
func (sb *Sandbox) Pid() int { return sb.cmd.Process.Pid }

// Address is the address the sandbox leased on its bridge, "" when it has
// none (a network mode other than bridge).
func (sb *Sandbox) Address() string {
	if !sb.net.lease.IsValid() {
		return ""
	}
	return sb.net.lease.String()
}

// Signal asks init to deliver sig to the command.
func (sb *Sandbox) Signal(sig syscall.Signal) error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if err := sb.enc.Encode(message{Signal: int(sig)}); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		return fmt.Errorf("signal sandbox: %w", err)
	}
	return nil
}

// Wait waits for init to end and returns how the command ended. A step
// that failed in init is a *StepError; a command that could not be
// executed an *ExecError.
func (sb *Sandbox) Wait() (Status, error) {
	st, err := sb.wait()
	sb.ended = time.Now()
	// Every process of the sandbox is gone with init: what it left in
	// its hand-back binds is checked before the caller takes it.
	for i := range sb.plan.Steps {
		if dir, keep, ok := handBack(sb.plan.Steps[i].Do); ok {
			if herr := mounts.HandBack(dir, keep); herr != nil {
				err = errors.Join(err, herr)
			}
		}
	}
	if g := sb.cg.group; g != nil {
		// Counters are read before the cgroups go; a counter the host
		// lacks stays unknown (nil).
		stats, serr := cgroupfs.ReadStats(g)
		if serr != nil {
			err = errors.Join(err, fmt.Errorf("read cgroup statistics: %w", serr))
		}
		sb.stats = stats
	}
	if terr := errors.Join(sb.stopEgress(), teardown(sb.plan, sb.cg, sb.net, sb.ids)); terr != nil {
		err = errors.Join(err, fmt.Errorf("teardown: %w", terr))
	}
	return st, err
}

func (sb *Sandbox) wait() (Status, error) {
	var werr error
	if sb.adopted {
		sb.cmd.ProcessState, werr = sb.cmd.Process.Wait()
	} else {
		werr = sb.cmd.Wait()
	}
	<-sb.done
	sb.conn.Close()
	switch m := sb.result; {
	case m.Exit != nil:
		return *m.Exit, nil
	case m.Failure != nil:
		return Status{}, stepError(sb.plan, m.Failure)
	}
	return Status{}, fmt.Errorf("sandbox init ended without a report: %v", werr)
}

// stepError is init's failure report f as the error that Wait returns: a
// *StepError (an *ExecError for the command's execve) that names the step
// and its profile position, or init's refusal of what cell sent.
func stepError(p *plan.Plan, f *failure) error {
	if f.Step == -1 {
		// Before any step: init refused what cell sent.
		return fmt.Errorf("cell-init refused to start: %s", f.Err)
	}
	if f.Step < 0 || f.Step >= len(p.Steps) {
		return fmt.Errorf("init reported step %d of %d: %s", f.Step+1, len(p.Steps), f.Err)
	}
	s := p.Steps[f.Step]
	se := &StepError{Pos: s.Pos, Index: f.Step + 1, Step: s, Errno: unix.Errno(f.Errno), Err: f.Err}
	if s.Op() == plan.OpExec {
		return &ExecError{se}
	}
	return se
}

// handBack returns the host directory that a step hands back to the
// caller after the sandbox (see plan.Bind), and whether it has one.
func handBack(a plan.Action) (dir string, keepSymlinks, ok bool) {
	switch a := a.(type) {
	case *plan.Bind:
		return a.Source, a.KeepSymlinks, a.HandBack
	case *plan.IDMappedTree:
		return a.Source, a.KeepSymlinks, a.HandBack
	case *plan.Mkdir:
		return a.HandBack, a.KeepSymlinks, a.HandBack != ""
	}
	return "", false, false
}

// newIDMap runs newuidmap or newgidmap on init.
func newIDMap(s *plan.NewIDMap, pid int) error {
	args := append([]string{strconv.Itoa(pid)}, s.Ranges...)
	out, err := exec.Command(s.Helper, args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s %s: %s", s.Helper, strings.Join(args, " "), msg)
	}
	return nil
}

// passedFile is a descriptor the parent hands init at a fixed number.
type passedFile struct {
	fd int
	f  *os.File
}

// UsernsHolder is the argv[0] of the process that holds a user namespace
// for an ID-mapped mount while cell opens it: it waits for its stdin to
// close.
const UsernsHolder = "cell-userns-holder"

// idmapUserns makes a user namespace with the step's maps (Go's os/exec
// writes them before the holder runs), then the ID-mapped tree of the
// step's source with it, and returns the tree's descriptor.
func idmapUserns(s *plan.IDMappedTree) (*os.File, error) {
	ns, err := holdUserns(s)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	tree, err := mounts.IDMappedTree(s.Source, uint64(s.Attr), s.Recursive, s.NoSymlinks, int(ns.Fd()))
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(tree), "idmapped "+s.Source), nil
}

// holdUserns returns a descriptor of a new user namespace with the step's
// maps; the namespace outlives its holder while the descriptor is open.
func holdUserns(s *plan.IDMappedTree) (*os.File, error) {
	uids, err := parseMap(s.UIDMap)
	if err != nil {
		return nil, err
	}
	gids, err := parseMap(s.GIDMap)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{UsernsHolder}
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER, UidMappings: uids, GidMappings: gids,
		GidMappingsEnableSetgroups: true, Pdeathsig: syscall.SIGKILL,
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the holder of an ID-mapped mount's user namespace: %w", err)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	stdin.Close()
	_ = cmd.Wait()
	if err != nil {
		return nil, fmt.Errorf("open the user namespace of an ID-mapped mount: %w", err)
	}
	return f, nil
}
