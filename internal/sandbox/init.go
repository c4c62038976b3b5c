package sandbox

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/landlock"
	"github.com/cellsandbox/cell/internal/mounts"
	"github.com/cellsandbox/cell/internal/proto"
	"github.com/cellsandbox/cell/internal/rlimit"
	"github.com/cellsandbox/cell/internal/stamp"
	"github.com/cellsandbox/cell/internal/syserr"
	"github.com/cellsandbox/cell/launcher/plan"
)

// Init is the main function of a sandbox's init. It returns the exit
// status for the process; the command's status reaches cell separately.
// It must be called before anything else in the process, on the main
// goroutine.
func Init() int {
	stamp.Mark("main")
	// Capabilities, no_new_privs and the parent-death signal are per
	// thread, and the command is forked from this one.
	runtime.LockOSThread()
	fd := -1
	if len(os.Args) >= 2 {
		fd, _ = strconv.Atoi(os.Args[1])
	}
	var st unix.Stat_t
	if fd < 3 || unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		fmt.Fprintln(os.Stderr, "cell-init: no socket to cell; cell-init is started by cell run")
		return 125
	}
	if len(os.Args) == 3 && os.Args[2] == plan.WaitForMaps {
		return waitAndExec(fd)
	}
	// The descriptors init started with, before it opens any: after the
	// plan is read, those it does not name are closed.
	started := openFDs()
	unix.CloseOnExec(fd)
	conn := os.NewFile(uintptr(fd), "cell")
	enc := json.NewEncoder(conn)
	in := bufio.NewReaderSize(conn, 64<<10)
	// Handling a signal costs a round trip to the Go runtime's signal
	// thread, for each of the ~65 (1.5 ms, more on a busy host, when it
	// was done here), and nothing needs them handled before the steps:
	// it is done while the plan is read and decoded, and the steps wait
	// for it.
	signalsSet := make(chan struct{})
	go func() {
		ignoreSignals()
		close(signalsSet)
	}()

	rt, p, sum, err := readPlan(in)
	if err != nil {
		return refuse(fd, err)
	}
	closeUnnamed(started, namedFDs(p, fd))
	<-signalsSet
	stamp.Mark("plan")
	if rt.Trace {
		_ = enc.Encode(message{Trace: &Trace{PlanSHA256: hex.EncodeToString(sum[:])}})
	}
	ex := &initExec{k: hostKernel{}, passEnv: p.PassEnv, conn: fd, started: started, lease: rt.Lease}
	report := func(i int, err error) int {
		if werr := enc.Encode(message{Failure: failureOf(i, err)}); werr != nil {
			fmt.Fprintf(os.Stderr, "cell-init: step %d: %v\n", i+1, err)
		}
		return 125
	}
	trace := func(first, last int, since time.Time) {
		if rt.Trace {
			_ = enc.Encode(message{Trace: &Trace{First: first, Last: last, Micros: time.Since(since).Microseconds()}})
		}
	}
	firstCommand, failed, err := ex.run(p, trace)
	if err != nil {
		return report(failed, err)
	}
	// The command is forked before the reader below starts, so that a
	// signal relayed early finds it. A pooled sandbox's command comes
	// later, with the first request.
	stamp.Mark("steps")
	// The decoder's buffered bytes, what cell sent after the plan, are
	// read first.
	peeked, _ := in.Peek(in.Buffered())
	buffered, drained := handOver(fd, append([]byte(nil), peeked...))
	var pid, pooledID int
	var mainPid atomic.Int64
	t0 := time.Now()
	if !p.Pooled {
		var err error
		if pid, err = ex.forkCommand(); err != nil {
			return report(len(p.Steps)-1, err)
		}
		mainPid.Store(int64(pid))
		// The command's steps run in the forked child up to its execve.
		trace(firstCommand, len(p.Steps)-1, t0)
		stamp.Mark("exec")
		if rt.Trace {
			_ = enc.Encode(message{Trace: &Trace{Phases: stamp.Take("init")}})
		}
	}
	// From here on the socket carries descriptors too (exec requests), so
	// it is read with recvmsg; what came before comes first.
	rd := newMsgReader(fd, buffered)
	rd.Keep(drained)
	var encMu sync.Mutex
	send := func(m message) {
		encMu.Lock()
		defer encMu.Unlock()
		_ = enc.Encode(m)
	}
	send(message{Ready: true})
	type request struct {
		exec *ExecRequest
		fds  []int
	}
	requests := make(chan request)
	reg := &children{pids: map[int]int{}, ended: map[int]Status{}}
	go func() {
		for {
			m, fds, err := rd.Next()
			if err != nil {
				return
			}
			switch {
			case m.Signal > 0:
				sig := unix.Signal(m.Signal)
				if (sig == unix.SIGSTOP || sig == unix.SIGCONT) && os.Getpid() == 1 {
					// The caller's Ctrl-Z, fg and bg: every process of
					// the sandbox, not only the command, stops and goes on.
					_ = unix.Kill(-1, sig)
				} else if p := mainPid.Load(); p > 0 {
					_ = unix.Kill(int(p), sig)
				}
			case m.ExecSignal != nil:
				reg.signal(m.ExecSignal.ID, unix.Signal(m.ExecSignal.Signal))
			case m.Exec != nil:
				requests <- request{m.Exec, fds}
			}
		}
	}()
	// fork runs an exec request on this locked thread: the forked command
	// inherits its seccomp filter, landlock domain, capability sets and
	// no_new_privs, all of which are per thread.
	fork := func(r request) (int, bool) {
		fds := r.fds
		if r.exec.Console {
			// As the command's console: a pty of the sandbox's devpts,
			// made as the command's credentials have it; without one
			// (no devpts, or landlock forbids it) the request's own.
			c := &ExecConsole{ID: r.exec.ID}
			var uid, gid []uint32
			if ex.cred != nil {
				uid, gid = []uint32{ex.cred.Uid}, []uint32{ex.cred.Gid}
			}
			m, slave, name, err := makePTY("/dev/ptmx", append(uid, gid...))
			if err != nil {
				c.Err = err.Error()
				send(message{ExecConsole: c})
			} else {
				c.Name = name
				encMu.Lock()
				err = sendWithFDs(fd, message{ExecConsole: c}, []int{m})
				encMu.Unlock()
				unix.Close(m)
				defer slave.Close()
				if err == nil {
					s := int(slave.Fd())
					fds, r.exec.TTY = []int{s, s, s}, true
				}
			}
		}
		p, err := ex.forkExtra(r.exec, fds)
		for _, fd := range r.fds {
			unix.Close(fd)
		}
		if err != nil {
			x := &ExecExit{ID: r.exec.ID, Err: err.Error()}
			var errno unix.Errno
			if errors.As(err, &errno) {
				x.Errno = int(errno)
			}
			send(message{ExecExit: x})
			return 0, false
		}
		return p, true
	}
	if p.Pooled {
		// A pooled sandbox is ready: its command is the first request's.
		r := <-requests
		var ok bool
		if pid, ok = fork(r); !ok {
			return 127
		}
		pooledID = r.exec.ID
		reg.add(pid, pooledID, func(ExecExit) {})
		mainPid.Store(int64(pid))
		trace(firstCommand, len(p.Steps)-1, t0)
	}
	done := make(chan Status)
	go reap(pid, reg, done, func(x ExecExit) { send(message{ExecExit: &x}) })
	for {
		select {
		case status := <-done:
			if p.Pooled {
				send(message{ExecExit: &ExecExit{ID: pooledID, Status: status}})
			}
			send(message{Exit: &status})
			return status.ExitCode()
		case r := <-requests:
			if p, ok := fork(r); ok {
				reg.add(p, r.exec.ID, func(x ExecExit) { send(message{ExecExit: &x}) })
			}
		}
	}
}

// children maps exec'd commands' pids to their request ids, and keeps
// the status of one that ended before it was registered.
type children struct {
	mu    sync.Mutex
	pids  map[int]int // pid -> id
	ended map[int]Status
	// pending holds signals for a request whose command is not forked
	// yet (a client relays from the moment it has sent its request);
	// added is the highest id registered, whose signals are not held.
	pending map[int][]unix.Signal
	added   int
}

// signal delivers sig to the command of request id, or holds it until
// that command exists.
func (c *children) signal(id int, sig unix.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, i := range c.pids {
		if i == id {
			_ = unix.Kill(p, sig)
			return
		}
	}
	if id > c.added {
		if c.pending == nil {
			c.pending = map[int][]unix.Signal{}
		}
		c.pending[id] = append(c.pending[id], sig)
	}
}

func (c *children) add(pid, id int, exited func(ExecExit)) {
	c.mu.Lock()
	st, gone := c.ended[pid]
	if gone {
		delete(c.ended, pid)
	} else {
		c.pids[pid] = id
		for _, sig := range c.pending[id] {
			_ = unix.Kill(pid, sig)
		}
	}
	delete(c.pending, id)
	c.added = max(c.added, id)
	c.mu.Unlock()
	if gone {
		exited(ExecExit{ID: id, Status: st})
	}
}

// exited reports whether pid is an exec'd command, and records the exit
// of a pid not registered yet.
func (c *children) exited(pid int, st Status, exited func(ExecExit)) {
	c.mu.Lock()
	id, ok := c.pids[pid]
	if ok {
		delete(c.pids, pid)
	} else {
		c.ended[pid] = st
	}
	c.mu.Unlock()
	if ok {
		exited(ExecExit{ID: id, Status: st})
	}
}

// reap waits for every child, so that orphans reparented to init do not
// stay zombies; it reports exec'd commands as they end and sends the
// command's status on done.
func reap(pid int, reg *children, done chan<- Status, exited func(ExecExit)) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// ECHILD: the command is gone without a status we saw.
			done <- Status{Pid: pid, Code: 125}
			return
		}
		if !(ws.Exited() || ws.Signaled()) {
			continue
		}
		st := Status{Pid: got, Code: ws.ExitStatus()}
		if ws.Signaled() {
			st = Status{Pid: got, Signal: int(ws.Signal())}
		}
		if got == pid {
			done <- st
			return
		}
		reg.exited(got, st, exited)
	}
}

// initExec holds what init's steps build up: the open roots and the
// command's process attributes.
type initExec struct {
	// k makes the steps' calls: hostKernel, or a test's fake.
	k kernel
	// roots are the directories opened to resolve paths in, by path.
	roots   map[string]root
	attr    syscall.ProcAttr
	sys     syscall.SysProcAttr
	cred    *syscall.Credential
	keepFDs []uint32
	exec    *plan.Exec
	// passEnv names the variables an exec request may bring.
	passEnv []string
	// conn is the socket to cell; console is the slave of the pty that
	// a console step made, the command's stdio.
	conn    int
	console *os.File
	// started are the descriptors init was started with: an optional
	// tree that cell did not pass is not among them.
	started []int
	// lease is the address that the steps write as {lease} (Runtime).
	lease string
}

// readPlan reads what cell sends init before it runs a step: the Runtime,
// then the plan, each a line. It returns the plan checked, and, when the
// run is traced, the SHA-256 of its bytes as they came.
func readPlan(in *bufio.Reader) (*Runtime, *plan.Plan, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	rt, b, err := proto.ReadStart(in)
	if err != nil {
		return nil, nil, sum, err
	}
	if rt.Trace {
		sum = sha256.Sum256(b)
	}
	p, err := plan.Decode(b)
	if err != nil {
		return nil, nil, sum, err
	}
	return rt, p, sum, nil
}

// refuse reports to cell that init will run no step, and why (another
// protocol version, a plan it cannot decode): cell reports that instead
// of an init that ended without a report.
func refuse(fd int, err error) int {
	if serr := sendWithFDs(fd, message{Failure: &failure{Step: -1, Err: err.Error()}}, nil); serr != nil {
		fmt.Fprintf(os.Stderr, "cell-init: %v\n", err)
	}
	return 125
}

// run runs init's part of p, the steps after its exec-init, in printed
// order: init's own, and the command's, which it records for the fork
// (the parent's, cgroup joins that cell made before it sent the plan,
// are not init's). A panic in a step is that step's failure. It returns
// the index of the first command step, or the index of the step that
// failed and why. trace gets each of init's own steps as it ends.
func (e *initExec) run(p *plan.Plan, trace func(first, last int, since time.Time)) (firstCommand, failed int, err error) {
	start := 0
	for i := range p.Steps {
		if p.Steps[i].Op() == plan.OpExecInit {
			start = i + 1
		}
	}
	firstCommand = len(p.Steps)
	for i := start; i < len(p.Steps); i++ {
		s := &p.Steps[i]
		if s.Side == plan.Parent {
			continue
		}
		if s.Side == plan.Command && firstCommand == len(p.Steps) {
			firstCommand = i
		}
		t0 := time.Now()
		if err := guard(func() error { return e.step(s.Side, s.Do) }); err != nil {
			return firstCommand, i, err
		}
		if s.Side == plan.Init {
			trace(i, i, t0)
		}
	}
	return firstCommand, -1, nil
}

// failureOf is init's report of step i's failure.
func failureOf(i int, err error) *failure {
	f := &failure{Step: i, Err: err.Error()}
	var errno unix.Errno
	if errors.As(err, &errno) {
		f.Errno = int(errno)
	}
	return f
}

// resolve puts the leased address in place of {lease}.
func (e *initExec) resolve(s string) string {
	if e.lease == "" {
		return s
	}
	return strings.ReplaceAll(s, plan.Lease, e.lease)
}

func (e *initExec) root(dir string) (root, error) {
	if r, ok := e.roots[dir]; ok {
		return r, nil
	}
	r, err := e.k.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	if e.roots == nil {
		e.roots = map[string]root{}
	}
	e.roots[dir] = r
	return r, nil
}

// step runs one init step, or records a command step for the fork.
func (e *initExec) step(side plan.Side, a plan.Action) error {
	k := e.k
	switch a := a.(type) {
	case *plan.Mount:
		return wrap("mount", a.Target, k.Mount(a.Source, a.Target, a.FSType, uintptr(a.Flags), a.Data))
	case *plan.Chdir:
		if side == plan.Command {
			e.attr.Dir = a.Dir
			return nil
		}
		return wrap("chdir", a.Dir, k.Chdir(a.Dir))
	case *plan.Mkdir:
		if a.Root == "" {
			return wrap("mkdir", a.Path, k.Mkdir(a.Path, a.Mode))
		}
		r, err := e.root(a.Root)
		if err != nil {
			return err
		}
		fd, err := r.Mkdir(a.Path, a.Mode)
		if err == nil {
			k.Close(fd)
		}
		return wrap("mkdirat", a.Path, err)
	case *plan.PivotRoot:
		// Descriptors of the roots would pin them; they belong to the
		// tree being left.
		e.closeRoots()
		return wrap("pivot_root", a.NewRoot, k.PivotRoot(a.NewRoot, a.PutOld))
	case *plan.BindRootfs:
		// A root opened before the bind would resolve beneath it.
		e.closeRoots()
		return wrap("open_tree", a.Path, k.BindRootfs(a.Path))
	case *plan.Chroot:
		e.closeRoots()
		return wrap("chroot", a.Dir, k.Chroot(a.Dir))
	case *plan.Umount:
		e.closeRoots()
		return wrap("umount2", a.Target, k.Unmount(a.Target, int(a.Flags)))
	case *plan.MountFS:
		r, err := e.root(a.Root)
		if err != nil {
			return err
		}
		opts := a.Config()
		if a.NoSymlinks {
			// The overlay's lower directories, opened without
			// following links, reach overlayfs as their descriptors
			// through the host's /proc, still at /oldroot/proc.
			old, err := e.root("/oldroot")
			if err != nil {
				return err
			}
			var fds []int
			if opts, fds, err = old.PinLowers(opts, "/oldroot/proc"); err != nil {
				return err
			}
			defer func() {
				for _, fd := range fds {
					k.Close(fd)
				}
			}()
		}
		err = r.MountFS(a.FSType, opts, uint64(a.Attr), a.Target, mounts.Target{Existing: a.Existing, Optional: a.Optional})
		if errors.Is(err, mounts.ErrSkipped) {
			return nil
		}
		return wrap("fsmount", a.Target, err)
	case *plan.Bind:
		r, err := e.root(a.Root)
		if err != nil {
			return err
		}
		src, err := e.root(a.SourceRoot)
		if err != nil {
			return err
		}
		err = r.Bind(src, a.Source, a.Target, uint64(a.Attr), a.Recursive, a.NoSymlinks, mounts.Target{Existing: a.Existing, Optional: a.Optional})
		if errors.Is(err, mounts.ErrSkipped) {
			return nil
		}
		return wrap("open_tree", a.Source, err)
	case *plan.AttachTree:
		r, err := e.root(a.Root)
		if err != nil {
			return err
		}
		if a.Optional && !slices.Contains(e.started, int(a.FD)) {
			return nil // its source does not exist; cell passed no tree
		}
		// The tree is attached once; its descriptor must not stay
		// in pid 1.
		defer k.Close(int(a.FD))
		return wrap("move_mount", a.Target, r.Attach(int(a.FD), a.Target))
	case *plan.WriteFile:
		r, err := e.root(a.Root)
		if err != nil {
			return err
		}
		return wrap("write", a.Target, r.WriteFile(a.Target, a.Mode, e.resolve(a.Content)))
	case *plan.Symlink:
		r, err := e.root(a.Root)
		if err != nil {
			return err
		}
		return wrap("symlinkat", a.Target, r.Symlink(a.LinkTo, a.Target))
	case *plan.Setattr:
		return wrap("mount_setattr", a.Target, k.Setattr(a.Target, uint64(a.Attr)))
	case *plan.Sethostname:
		return wrap("sethostname", "", k.Sethostname(a.Hostname))
	case *plan.Setdomainname:
		return wrap("setdomainname", "", k.Setdomainname(a.Domainname))
	case *plan.LinkUp:
		return wrap("RTM_NEWLINK", a.Interface, k.LinkUp(a.Interface))
	case *plan.SetDumpable:
		return wrap("prctl PR_SET_DUMPABLE", "", k.Prctl(unix.PR_SET_DUMPABLE, 0))
	case *plan.SessionKeyring:
		err := k.JoinSessionKeyring()
		if err == unix.ENOSYS {
			return nil // no keyrings to share
		}
		return wrap("keyctl KEYCTL_JOIN_SESSION_KEYRING", "", err)
	case *plan.Subreaper:
		return wrap("prctl PR_SET_CHILD_SUBREAPER", "", k.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1))
	case *plan.Umask:
		k.Umask(int(a.Mask))
		return nil
	case *plan.OOMScoreAdj:
		return wrap("write", "/proc/self/oom_score_adj", k.OOMScoreAdj(a.Score))
	case *plan.Sysctl:
		return k.Sysctl(a.Name, a.Value)
	case *plan.Propagation:
		return wrap("mount", a.Target, k.Propagate(a.Target, uint64(a.Flags)))
	case *plan.Mknod:
		r, err := e.root(a.Root)
		if err != nil {
			return err
		}
		return wrap("mknodat", a.Target, r.Mknod(a.Target, a.Mode, unix.Mkdev(a.Major, a.Minor), a.UID, a.GID))
	case *plan.SetRlimit:
		r, err := rlimit.Parse(a.Limit.Resource)
		if err != nil {
			return err
		}
		return wrap("prlimit", a.Limit.Resource, k.Setrlimit(rlimit.Limit{Resource: r, Soft: a.Limit.Soft, Hard: a.Limit.Hard}))
	case *plan.Landlock:
		r, err := landlockRules(&a.Rules)
		if err != nil {
			return err
		}
		return wrap("landlock_restrict_self", "", k.Landlock(r))
	case *plan.Seccomp:
		if len(a.Filter) == 0 {
			return errors.New("seccomp step without a filter")
		}
		prog := make([]unix.SockFilter, len(a.Filter))
		for i, in := range a.Filter {
			prog[i] = unix.SockFilter{Code: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
		}
		return wrap("seccomp", "SECCOMP_SET_MODE_FILTER", k.Seccomp(prog))
	case *plan.CapBSetDrop:
		return wrap("prctl PR_CAPBSET_DROP", "", k.DropBoundingSet(a.Keep))
	case *plan.CapInheritable:
		return wrap("capset", "inheritable", k.SetInheritable(a.Caps))
	case *plan.NoNewPrivs:
		return wrap("prctl PR_SET_NO_NEW_PRIVS", "", k.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1))
	case *plan.CloseFDs:
		e.keepFDs = a.Keep
		return wrap("close_range", "", k.CloseFDs(a.Keep))
	case *plan.Setsid:
		e.sys.Setsid = true
		return nil
	case *plan.Setctty:
		e.sys.Setctty, e.sys.Ctty = true, 0
		return nil
	case *plan.Console:
		return e.openConsole(a)
	case *plan.EgressProxy:
		return e.egressSockets(a)
	case *plan.Setgroups:
		c := e.credential()
		c.Groups, c.NoSetGroups = a.GIDs, false
		return nil
	case *plan.Setgid:
		e.credential().Gid = a.GID
		return nil
	case *plan.Setuid:
		e.credential().Uid = a.UID
		return nil
	case *plan.Pdeathsig:
		if side == plan.Init {
			return wrap("prctl PR_SET_PDEATHSIG", "", k.Prctl(unix.PR_SET_PDEATHSIG, uintptr(a.Signal)))
		}
		e.sys.Pdeathsig = syscall.Signal(a.Signal)
		return nil
	case *plan.AmbientCaps:
		if side != plan.Command {
			break
		}
		for _, c := range a.Caps {
			e.sys.AmbientCaps = append(e.sys.AmbientCaps, uintptr(c))
		}
		return nil
	case *plan.Exec:
		e.exec = a
		return nil
	case *plan.AddrAdd:
		return wrap("RTM_NEWADDR", a.Interface, k.AddrAdd(a.Interface, e.resolve(a.Address)))
	case *plan.RouteAdd:
		return wrap("RTM_NEWROUTE", a.Interface, k.DefaultRoute(a.Interface, a.Gateway))
	case *plan.Nft:
		r := a.Rule
		if e.lease != "" {
			r = r.Resolve(e.lease)
		}
		if err := k.Nft(&r); err != nil {
			return wrap("nftables", r.String(), err)
		}
		return nil
	}
	return fmt.Errorf("%s in %s is not a step init can run", a.Op(), side)
}

// landlockRules converts the plan's landlock rules to internal/landlock's.
func landlockRules(p *plan.LandlockRules) (*landlock.Rules, error) {
	r := &landlock.Rules{ReadOnly: p.ReadOnly, ReadWrite: p.ReadWrite, ReadExec: p.ReadExec, BindTCP: p.BindTCP, ConnectTCP: p.ConnectTCP}
	if err := r.Mode.UnmarshalText([]byte(p.Mode)); err != nil {
		return nil, err
	}
	r.Scope = make([]landlock.Scope, len(p.Scope))
	for i, s := range p.Scope {
		if err := r.Scope[i].UnmarshalText([]byte(s)); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// credential starts the command's credentials. Without a setgroups step
// the supplementary groups are left alone (setgroups is denied in a user
// namespace that an unprivileged caller made).
func (e *initExec) credential() *syscall.Credential {
	if e.cred == nil {
		e.cred = &syscall.Credential{NoSetGroups: true}
	}
	return e.cred
}

func (e *initExec) closeRoots() {
	for dir, r := range e.roots {
		r.Close()
		delete(e.roots, dir)
	}
}

// wrap names the call and object of a bare errno; an error that names
// its call already, or none, passes unchanged.
func wrap(call, object string, err error) error {
	if errno, ok := err.(unix.Errno); ok {
		return &syserr.Error{Call: call, Object: object, Err: errno}
	}
	return err
}

// dropBoundingSet drops every capability the kernel knows but keep from
// the bounding set (the loop ends at the first number the kernel rejects),
// then empties the ambient and inheritable sets, which a fork keeps and
// the bounding set does not limit.
func dropBoundingSet(keep []uint32) error {
	for c := 0; ; c++ {
		if slices.Contains(keep, uint32(c)) {
			continue
		}
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if err == unix.EINVAL && c > 0 {
			break
		}
		if err != nil {
			return &syserr.Error{Call: "prctl PR_CAPBSET_DROP", Object: fmt.Sprint(c), Err: err}
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return &syserr.Error{Call: "prctl PR_CAP_AMBIENT_CLEAR_ALL", Err: err}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return &syserr.Error{Call: "capget", Err: err}
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return &syserr.Error{Call: "capset", Err: err}
	}
	return nil
}

// openFDs lists the open descriptors above 2, from /proc/self/fd (the
// host's /proc while init starts), or by probing each number up to the
// descriptor limit without it.
func openFDs() []int {
	var fds []int
	dir, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		defer unix.Close(dir)
		buf := make([]byte, 4096)
		for {
			n, err := unix.Getdents(dir, buf)
			if err != nil || n <= 0 {
				return fds
			}
			var names []string
			_, _, names = unix.ParseDirent(buf[:n], -1, names)
			for _, name := range names {
				if fd, err := strconv.Atoi(name); err == nil && fd > 2 && fd != dir {
					fds = append(fds, fd)
				}
			}
		}
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
		lim.Cur = 1024
	}
	for fd := 3; uint64(fd) < min(lim.Cur, 1<<20); fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			fds = append(fds, fd)
		}
	}
	return fds
}

// namedFDs are the descriptors the plan gives init: its socket, the
// ID-mapped trees and the ones the command inherits.
func namedFDs(p *plan.Plan, socket int) []int {
	named := []int{socket}
	for i := range p.Steps {
		switch a := p.Steps[i].Do.(type) {
		case *plan.IDMappedTree:
			named = append(named, int(a.FD))
		case *plan.CloseFDs:
			for _, fd := range a.Keep {
				named = append(named, int(fd))
			}
		}
	}
	return named
}

// closeUnnamed closes each descriptor of fds that named does not hold.
// cell starts init with none such; this is the check that none came.
// A close-on-exec descriptor did not come through the exec: init's own
// runtime opened it (the poller's epoll and eventfd, started when a
// package initialiser opened a file, as protobuf's does), and closing it
// would crash the runtime ("netpoll failed"); the command's exec drops it.
func closeUnnamed(fds, named []int) {
	for _, fd := range fds {
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		if !slices.Contains(named, fd) {
			unix.Close(fd)
		}
	}
}

// closeFDs marks every descriptor from 3 up close-on-exec, except keep
// (sorted), so that nothing of cell's or init's reaches the command.
func closeFDs(keep []uint32) error {
	first := uint(3)
	for _, k := range keep {
		if uint(k) > first {
			if err := unix.CloseRange(first, uint(k)-1, unix.CLOSE_RANGE_CLOEXEC); err != nil {
				return &syserr.Error{Call: "close_range", Err: err}
			}
		}
		first = uint(k) + 1
	}
	if err := unix.CloseRange(first, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return &syserr.Error{Call: "close_range", Err: err}
	}
	return nil
}

// openConsole makes the command's pty in the devpts that s.Path (the
// sandbox's /dev/ptmx) belongs to, and sends the master to cell. The slave
// is opened with TIOCGPTPEER, from the master itself, not by a path that
// the sandbox's file system could redirect.
func (e *initExec) openConsole(s *plan.Console) error {
	m, slave, name, err := e.k.OpenPTY(s.Ptmx, []uint32{s.UID, s.GID})
	if err != nil {
		return err
	}
	defer e.k.Close(m)
	if err := sendWithFDs(e.conn, message{Console: name}, []int{m}); err != nil {
		slave.Close()
		return &syserr.Error{Call: "sendmsg", Object: "the console to cell", Err: err}
	}
	e.console = slave
	return nil
}

// makePTY opens a new pty of the devpts that ptmx belongs to and returns
// its master, its slave (owned by ids, uid and gid, when given) and the
// slave's name.
func makePTY(ptmx string, ids []uint32) (int, *os.File, string, error) {
	m, err := unix.Open(ptmx, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, nil, "", &syserr.Error{Call: "open", Object: ptmx, Err: err}
	}
	fail := func(call string, err error) (int, *os.File, string, error) {
		unix.Close(m)
		return -1, nil, "", &syserr.Error{Call: call, Object: ptmx, Err: err}
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		return fail("ioctl TIOCSPTLCK", err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		return fail("ioctl TIOCGPTN", err)
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return fail("ioctl TIOCGPTPEER", errno)
	}
	slave := os.NewFile(r, name)
	if len(ids) == 2 {
		if err := unix.Fchown(int(r), int(ids[0]), int(ids[1])); err != nil {
			slave.Close()
			return fail("fchown "+name, err)
		}
	}
	return m, slave, name, nil
}

// forkExtra starts an exec'd command like the command: the same
// credentials, directory, environment and session, the request's
// arguments and descriptors, and the request's terminal as controlling
// terminal when it asks for one.
func (e *initExec) forkExtra(r *ExecRequest, fds []int) (int, error) {
	if len(r.Args) == 0 {
		return 0, errors.New("exec: no command")
	}
	path, err := lookPath(r.Args[0], e.exec.Env)
	if err != nil {
		return 0, err
	}
	attr := e.attr
	sys := e.sys
	sys.Credential = e.cred
	sys.Setsid = true
	sys.Setctty, sys.Ctty = r.TTY, 0
	sys.AmbientCaps = append([]uintptr(nil), e.sys.AmbientCaps...)
	attr.Env = requestEnv(e.exec.Env, e.passEnv, r.Env)
	if r.Dir != "" {
		// Checked here, so that a missing directory is not reported
		// as a missing command (both are ENOENT from the fork).
		if st, err := os.Stat(r.Dir); err != nil || !st.IsDir() {
			return 0, fmt.Errorf("working directory %q is not a directory in the sandbox", r.Dir)
		}
		attr.Dir = r.Dir
	}
	attr.Files = []uintptr{uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2])}
	attr.Sys = &sys
	pid, err := syscall.ForkExec(path, r.Args, &attr)
	if err != nil {
		return 0, &syserr.Error{Call: "execve", Object: path, Err: err}
	}
	return pid, nil
}

// forkCommand starts the command as recorded by the command steps.
// requestEnv is base with the request's values of the variables that
// passEnv names added (a request cannot override base: the profile's own
// values win, as for cell run), sorted.
func requestEnv(base, passEnv, req []string) []string {
	if len(req) == 0 {
		return base
	}
	env := append([]string(nil), base...)
	have := map[string]bool{}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		have[k] = true
	}
	for _, kv := range req {
		k, _, ok := strings.Cut(kv, "=")
		if ok && !have[k] && slices.Contains(passEnv, k) {
			env = append(env, kv)
			have[k] = true
		}
	}
	sort.Strings(env)
	return env
}

func (e *initExec) forkCommand() (int, error) {
	s := e.exec
	path, err := lookPath(s.Path, s.Env)
	if err != nil {
		return 0, err
	}
	files := []uintptr{0, 1, 2}
	if e.console != nil {
		// Init keeps no copy: the command's end (and its orphans') is
		// what ends cell's reading of the master.
		defer e.console.Close()
		c := e.console.Fd()
		files = []uintptr{c, c, c}
	}
	for _, fd := range e.keepFDs {
		for uint32(len(files)) <= fd {
			files = append(files, ^uintptr(0)) // closed in the command
		}
		files[fd] = uintptr(fd)
	}
	e.attr.Env = s.Env
	e.attr.Files = files
	e.sys.Credential = e.cred
	e.attr.Sys = &e.sys
	pid, err := syscall.ForkExec(path, s.Args, &e.attr)
	if err != nil {
		return 0, &syserr.Error{Call: "execve", Object: path, Err: err}
	}
	return pid, nil
}

// lookPath finds name as execvp does, in the PATH of env or the default.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathList := plan.DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathList = v
		}
	}
	denied := false
	for _, dir := range strings.Split(pathList, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFDIR {
			continue
		}
		if st.Mode&0o111 == 0 {
			denied = true
			continue
		}
		return p, nil
	}
	if denied {
		return "", &syserr.Error{Call: "execve", Object: name, Err: unix.EACCES}
	}
	return "", &syserr.Error{Call: "execve", Object: name, Err: unix.ENOENT}
}

// waitAndExec is init's first life when its ID maps are written by the
// setuid helpers: it was executed before it had maps, so without
// capabilities. It waits for cell's word that the maps exist, then
// executes itself again, which gives it every capability of its user
// namespace as root there. The socket stays open across the exec; the
// word is read a byte at a time, so no byte of the plan that follows it
// is consumed here.
func waitAndExec(fd int) int {
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			fmt.Fprintf(os.Stderr, "cell-init: waiting for the ID maps: %v\n", err)
			return 125
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	if err := proto.CheckMapped(line); err != nil {
		return refuse(fd, err)
	}
	err := unix.Exec("/proc/self/exe", []string{os.Args[0], os.Args[1]}, initEnv)
	fmt.Fprintf(os.Stderr, "cell-init: execve /proc/self/exe: %v\n", err)
	return 125
}

// setInheritable sets init's inheritable set (after dropBoundingSet
// emptied it), for the command it forks.
func setInheritable(caps []uint32) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return &syserr.Error{Call: "capget", Err: err}
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	for _, c := range caps {
		data[c/32].Inheritable |= 1 << (c % 32)
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return &syserr.Error{Call: "capset", Object: "inheritable", Err: err}
	}
	return nil
}

// guard runs one step of init's. A panic in it (a bug of cell's, or a
// plan that Check let through) becomes the step's failure: cell then
// reports the step and its profile position, instead of an init that
// "ended without a report" after a goroutine dump (which init, running
// with GOTRACEBACK=none, would not print anyway).
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v (a bug of cell's; please report it)", r)
		}
	}()
	return f()
}

// handOver replaces init's socket to cell with one made here, in the
// sandbox's network namespace (cell made the first before the clone, in
// the host's, where CRIU dumping the sandbox's would not find it: see
// message.Socket). init sends cell the new socket's other end, reads the
// old one to its end (cell closes it when it switches), so that nothing
// cell sent before is lost, and puts the new one at the old one's
// number. It returns what it read (after buffered) and the descriptors
// that came with it, for the reader; if the new socket cannot be made,
// the old one stays.
func handOver(fd int, buffered []byte) ([]byte, []int) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return buffered, nil
	}
	defer unix.Close(pair[1])
	if err := sendWithFDs(fd, message{Socket: true}, pair[1:]); err != nil {
		unix.Close(pair[0])
		return buffered, nil
	}
	old := newMsgReader(fd, buffered)
	old.Drain()
	if err := unix.Dup3(pair[0], fd, unix.O_CLOEXEC); err != nil {
		// cell has switched: the old socket is of no use.
		unix.Close(pair[0])
		return old.Buffered()
	}
	unix.Close(pair[0])
	return old.Buffered()
}
