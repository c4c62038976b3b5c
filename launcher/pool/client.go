package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/proto"
	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/internal/state"
)

// Client sends requests to one pool (or one running sandbox). It holds no
// connection: each request has its own, and in a pool its own sandbox. A
// Client may be used from several goroutines at once.
type Client struct {
	socket string
	// pid and start, when pid is set, are the server process that the
	// socket must lead to, by pid and start time.
	pid   int
	start uint64
}

// Dial returns a client of the pool named name whose state directory is
// stateDir (internal/state.Dir: /run/cell for root). It fails when the
// pool has no record and socket there, or when they are not the
// caller's own (state.CheckDir, Store.CheckSocket); each request then
// checks that the socket leads to the pool's daemon that the record
// names, and the protocol version.
func Dial(stateDir, name string) (*Client, error) {
	if err := state.ValidName(name); err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	st, err := state.Open(stateDir)
	if err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	r, err := st.Get(RecordName(name))
	if err == nil && !r.CellAlive() {
		err = errors.New("its daemon has ended")
	}
	if err != nil {
		return nil, fmt.Errorf("pool %s is not running (start it with cell pool start --name %s): %w", name, name, err)
	}
	path, err := st.CheckSocket(RecordName(name))
	if err != nil {
		return nil, fmt.Errorf("pool %s: %w", name, err)
	}
	return DialSocket(path).Expect(r.CellPid, r.CellStart), nil
}

// DialSocket returns a client of the server at path: a pool's socket, or
// a running sandbox's, which runs each request as one more command in it
// (cell exec). Nothing is checked until a request is sent; then the
// server must run as the caller or root (SO_PEERCRED).
func DialSocket(path string) *Client { return &Client{socket: path} }

// Expect makes each request check that the server is the process pid
// whose start time is start (a state record's cell process), besides its
// uid: a socket that someone else put in place is refused before the
// request, and the descriptors it carries, are sent.
func (cl *Client) Expect(pid int, start uint64) *Client {
	c := *cl
	c.pid, c.start = pid, start
	return &c
}

// checkPeer checks the server at the other end of c.
func (cl *Client) checkPeer(c *net.UnixConn) error {
	cred, err := peerCred(c)
	if err != nil {
		return err
	}
	if euid := uint32(os.Geteuid()); cred.Uid != euid && cred.Uid != 0 {
		return fmt.Errorf("the server at %s runs as uid %d, neither you (uid %d) nor root; refused", cl.socket, cred.Uid, euid)
	}
	if cl.pid == 0 {
		return nil
	}
	if int(cred.Pid) != cl.pid {
		return fmt.Errorf("the server at %s is process %d, not the sandbox's cell (pid %d); refused", cl.socket, cred.Pid, cl.pid)
	}
	if start, err := state.StartTime(cl.pid); err != nil || start != cl.start {
		return fmt.Errorf("the server at %s is not the process its record names (pid %d was reused); refused", cl.socket, cl.pid)
	}
	return nil
}

// peerCred returns the credentials of the process at the other end of c
// when it connected or listened (SO_PEERCRED).
func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if credErr != nil {
		return nil, fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	return cred, nil
}

// Request is one command for a sandbox of the pool.
type Request struct {
	// Args is the argument vector; Args[0] is looked up in the profile's
	// PATH. It must not be empty.
	Args []string
	// Stdin, Stdout and Stderr are the command's standard descriptors:
	// an *os.File is handed over as it is; another reader or writer is
	// copied through a pipe, which Wait waits for; nil is /dev/null.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TTY makes Stdin, which must then be a terminal (*os.File), the
	// command's controlling terminal.
	TTY bool
	// Console asks for the command's terminal to be made in the sandbox's
	// own devpts, so that its /dev/pts/N exists inside; Process.Console
	// returns its master. A server that cannot make one uses Stdin with
	// TTY as before.
	Console bool
	// Env is the caller's environment, KEY=VALUE: the command gets the
	// values of the variables that the profile's passEnv names and its
	// env does not set; the rest is ignored, as cell run ignores them.
	Env []string
	// Dir is the working directory inside the sandbox; empty means the
	// profile's process.cwd.
	Dir string
	// Stats asks for the sandbox's resource statistics (Result.Stats).
	// The end of the command is then reported when the sandbox has ended,
	// its pid namespace torn down and its cgroup read and removed, which
	// takes a little longer.
	Stats bool
}

// Result is how a request's command ended.
type Result struct {
	// Sandbox names the sandbox that ran the command.
	Sandbox string
	// Status is the command's end: its pid inside the sandbox, its exit
	// code or the signal that killed it.
	Status sandbox.Status
	// Stats are the sandbox's statistics, when the request asked for them.
	Stats *sandbox.Stats
}

// ExitCode is the status a shell would report: the code, or 128+signal.
func (r Result) ExitCode() int { return r.Status.ExitCode() }

// Process is a request's command, handed to a sandbox.
type Process struct {
	c       *net.UnixConn
	rd      *proto.Reader
	socket  string
	sandbox string
	mu      sync.Mutex // serialises writes to c
	copies  sync.WaitGroup
	closers []io.Closer // the parent's ends of the copying pipes
	stop    func() bool // ends the watch of the context
	ctx     context.Context
	console *os.File
}

// Run sends the request and waits for its command's end. When ctx is done
// first, the command is killed (SIGKILL), Run waits for its end and
// returns the result with ctx's error.
func (cl *Client) Run(ctx context.Context, req Request) (Result, error) {
	p, err := cl.Start(ctx, req)
	if err != nil {
		return Result{}, err
	}
	return p.Wait()
}

// Start sends the request and returns when a sandbox has taken it; Wait
// then waits for the command's end. A request the server refuses, such as
// one of another protocol version (*VersionError), is an error here.
func (cl *Client) Start(ctx context.Context, req Request) (*Process, error) {
	if len(req.Args) == 0 {
		return nil, errors.New("pool: the request has no command")
	}
	p := &Process{socket: cl.socket, ctx: ctx}
	var fds [3]*os.File
	var childEnds []*os.File // closed once sent: the sandbox holds them
	defer func() {
		for _, f := range childEnds {
			f.Close()
		}
	}()
	var err error
	if fds[0], err = p.input(req.Stdin, &childEnds); err == nil {
		if fds[1], err = p.output(req.Stdout, &childEnds); err == nil {
			fds[2], err = p.output(req.Stderr, &childEnds)
		}
	}
	if err != nil {
		p.closeCopies()
		return nil, err
	}
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: cl.socket, Net: "unix"})
	if err != nil {
		p.closeCopies()
		return nil, fmt.Errorf("pool: connect to %s: %w", cl.socket, err)
	}
	if err := cl.checkPeer(c); err != nil {
		c.Close()
		p.closeCopies()
		return nil, fmt.Errorf("pool: %w", err)
	}
	p.c, p.rd = c, newReader(c)
	m := request{Version: Version, Run: &runReq{Args: req.Args, TTY: req.TTY, Console: req.Console, Stats: req.Stats, Env: req.Env, Dir: req.Dir}}
	err = send(c, m, int(fds[0].Fd()), int(fds[1].Fd()), int(fds[2].Fd()))
	for _, f := range childEnds {
		f.Close()
	}
	childEnds = nil
	if err != nil {
		// A server that refused the peer at once (SO_PEERCRED) said why
		// before it closed the connection.
		var a serverMsg
		if p.read(&a) == nil && a.Error != nil {
			p.abort()
			return nil, &RefusedError{Msg: a.Error.Msg}
		}
		p.abort()
		return nil, fmt.Errorf("pool: send the request to %s: %w", cl.socket, err)
	}
	// The answer: the sandbox that took the request, or a refusal; with
	// the master of the command's console when it has one.
	var a serverMsg
	got, err := p.readFDs(&a)
	if a.Console != "" && len(got) == 1 && err == nil {
		p.console = os.NewFile(uintptr(got[0]), a.Console)
	} else {
		for _, fd := range got {
			unix.Close(fd)
		}
	}
	if err != nil {
		p.abort()
		return nil, err
	}
	if a.Version != Version {
		p.abort()
		return nil, &VersionError{Client: Version, Server: a.Version, Socket: cl.socket}
	}
	if a.Error != nil {
		p.abort()
		return nil, &RefusedError{Msg: a.Error.Msg}
	}
	p.sandbox = a.Sandbox
	p.stop = context.AfterFunc(ctx, func() { _ = p.Signal(unix.SIGKILL) })
	return p, nil
}

// input is the descriptor to send for r.
func (p *Process) input(r io.Reader, childEnds *[]*os.File) (*os.File, error) {
	switch r := r.(type) {
	case *os.File:
		return r, nil
	case nil:
		return devNull(childEnds)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pool: stdin pipe: %w", err)
	}
	*childEnds = append(*childEnds, pr)
	p.closers = append(p.closers, pw)
	// Not waited for: the command need not read its input to the end; the
	// copy ends when the pipe's write end is closed after the command.
	go func() {
		_, _ = io.Copy(pw, r)
		pw.Close()
	}()
	return pr, nil
}

// output is the descriptor to send for w.
func (p *Process) output(w io.Writer, childEnds *[]*os.File) (*os.File, error) {
	switch w := w.(type) {
	case *os.File:
		return w, nil
	case nil:
		return devNull(childEnds)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pool: output pipe: %w", err)
	}
	*childEnds = append(*childEnds, pw)
	p.closers = append(p.closers, pr)
	p.copies.Go(func() { _, _ = io.Copy(w, pr) })
	return pw, nil
}

func devNull(childEnds *[]*os.File) (*os.File, error) {
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	*childEnds = append(*childEnds, f)
	return f, nil
}

// closeCopies ends the copying of stdio through pipes.
func (p *Process) closeCopies() {
	for _, c := range p.closers {
		c.Close()
	}
	p.copies.Wait()
}

// abort ends a request that did not start.
func (p *Process) abort() {
	if p.console != nil {
		p.console.Close()
	}
	p.c.Close()
	p.closeCopies()
}

// read reads one message of the server.
func (p *Process) read(m *serverMsg) error {
	fds, err := p.readFDs(m)
	for _, fd := range fds {
		unix.Close(fd)
	}
	return err
}

// readFDs reads one message of the server and returns the descriptors
// that came with it.
func (p *Process) readFDs(m *serverMsg) ([]int, error) {
	line, err := p.rd.Line()
	fds := p.rd.TakeAll()
	if err != nil {
		return fds, fmt.Errorf("pool: %s closed the connection: %w", p.socket, err)
	}
	if err := json.Unmarshal(line, m); err != nil {
		return fds, fmt.Errorf("pool: bad message from %s %q: %w", p.socket, line, err)
	}
	return fds, nil
}

// Console is the master of the command's pty in the sandbox, when the
// request asked for one and the server made it; nil otherwise. The caller
// copies between it and its terminal, and closes it.
func (p *Process) Console() *os.File { return p.console }

// Sandbox names the sandbox that took the request.
func (p *Process) Sandbox() string { return p.sandbox }

// Signal asks the sandbox to deliver sig to the command.
func (p *Process) Signal(sig unix.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := send(p.c, clientMsg{Signal: int(sig)}); err != nil {
		return fmt.Errorf("pool: signal the command: %w", err)
	}
	return nil
}

// Wait waits for the command's end and for the copying of its output. A
// command that could not be started is a *sandbox.StartError (errors.Is
// with unix.ENOENT: not found). Wait must be called once.
func (p *Process) Wait() (Result, error) {
	var m serverMsg
	err := p.read(&m)
	killed := !p.stop() // the context's kill ran
	p.c.Close()
	// The command's end closed its descriptors, but an orphan of a
	// running sandbox (cell exec) may hold them a while longer.
	p.copies.Wait()
	for _, c := range p.closers {
		c.Close()
	}
	res := Result{Sandbox: p.sandbox}
	switch {
	case err != nil:
		return res, fmt.Errorf("%w (the command's end was not reported)", err)
	case m.Error != nil:
		return res, &sandbox.StartError{Msg: m.Error.Msg, Errno: unix.Errno(m.Error.Errno)}
	case m.Exit == nil:
		return res, fmt.Errorf("pool: %s sent no exit report: %+v", p.socket, m)
	}
	res.Status, res.Stats = *m.Exit, m.Stats
	if killed {
		return res, fmt.Errorf("pool: command killed: %w", p.ctx.Err())
	}
	return res, nil
}
