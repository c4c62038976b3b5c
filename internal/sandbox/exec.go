package sandbox

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/cellsandbox/cell/internal/proto"
	"golang.org/x/sys/unix"
)

// newMsgReader reads init's or cell's messages from the socket fd, after
// buffered.
func newMsgReader(fd int, buffered []byte) *proto.Reader {
	return proto.NewReader(proto.FDRecv(fd), buffered)
}

// sendWithFDs writes one message and passes fds with it.
func sendWithFDs(fd int, m message, fds []int) error {
	return proto.Send(fd, m, fds)
}

// execs routes the exits init reports to the Processes that wait for
// them.
type execs struct {
	mu       sync.Mutex
	next     int
	waiting  map[int]chan ExecExit
	consoles map[int]chan *os.File
}

// Process is a command that init forked for Exec.
type Process struct {
	sb      *Sandbox
	id      int
	exit    chan ExecExit
	console chan *os.File // nil when init made none
}

// Exec asks init for one more command in the sandbox: init forks args
// from its own thread, the one that forked the sandbox's command (for a
// pooled sandbox, the first request is that command), so it shares every
// defence of it. stdio become the command's descriptors 0, 1 and 2; the
// caller may close its copies when Exec returns. With tty, stdin becomes
// the command's controlling terminal in a session of its own.
//
// Exec waits until init takes requests (it has run its steps) and fails
// when the sandbox ends first. That the command started is known from
// Wait: a command that could not be started is a *StartError there.
func (sb *Sandbox) Exec(req ExecRequest, stdio [3]*os.File) (*Process, error) {
	if len(req.Args) == 0 {
		return nil, errors.New("exec: no command")
	}
	for i, f := range stdio {
		if f == nil {
			return nil, fmt.Errorf("exec: descriptor %d is missing", i)
		}
	}
	sb.execs.mu.Lock()
	sb.execs.next++
	p := &Process{sb: sb, id: sb.execs.next, exit: make(chan ExecExit, 1), console: make(chan *os.File, 1)}
	if sb.execs.waiting == nil {
		sb.execs.waiting = map[int]chan ExecExit{}
		sb.execs.consoles = map[int]chan *os.File{}
	}
	sb.execs.waiting[p.id] = p.exit
	if req.Console {
		sb.execs.consoles[p.id] = p.console
	}
	sb.execs.mu.Unlock()
	var err error
	select {
	case <-sb.ready:
		req.ID = p.id
		m := message{Exec: &req}
		fds := []int{int(stdio[0].Fd()), int(stdio[1].Fd()), int(stdio[2].Fd())}
		sb.mu.Lock()
		err = sendWithFDs(int(sb.conn.Fd()), m, fds)
		sb.mu.Unlock()
		if err != nil {
			err = fmt.Errorf("exec: send the request to init: %w", err)
		}
	case <-sb.done:
		err = errors.New("exec: the sandbox ended before it took the request")
	}
	if err != nil {
		sb.execs.mu.Lock()
		delete(sb.execs.waiting, p.id)
		delete(sb.execs.consoles, p.id)
		sb.execs.mu.Unlock()
		return nil, err
	}
	return p, nil
}

// Console returns the master of the pty that init made for a request with
// Console, or nil when it made none (the request's descriptors serve).
func (p *Process) Console() *os.File {
	select {
	case f := <-p.console:
		return f
	case <-p.sb.done:
		select {
		case f := <-p.console:
			return f
		default:
			return nil
		}
	}
}

// execConsole hands init's answer to a Console request to its Process.
func (sb *Sandbox) execConsole(c *ExecConsole, fds []int) {
	var f *os.File
	if c.Name != "" && len(fds) == 1 {
		f = os.NewFile(uintptr(fds[0]), c.Name)
	}
	sb.execs.mu.Lock()
	ch := sb.execs.consoles[c.ID]
	delete(sb.execs.consoles, c.ID)
	sb.execs.mu.Unlock()
	if ch == nil {
		if f != nil {
			f.Close()
		}
		return
	}
	ch <- f
}

// Signal asks init to deliver sig to the command. A signal sent before
// init has forked it is held until then.
func (p *Process) Signal(sig unix.Signal) error {
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	if err := p.sb.enc.Encode(message{ExecSignal: &ExecSignal{ID: p.id, Signal: int(sig)}}); err != nil {
		return fmt.Errorf("signal exec'd command: %w", err)
	}
	return nil
}

// Wait waits until the command has ended and returns how. A command that
// init could not start is a *StartError; a sandbox that ended without a
// report of the command is an error too.
func (p *Process) Wait() (Status, error) {
	var x ExecExit
	select {
	case x = <-p.exit:
	case <-p.sb.done:
		// read() routes every report before it closes done.
		select {
		case x = <-p.exit:
		default:
			return Status{}, errors.New("the sandbox ended before the command reported how it ended")
		}
	}
	if x.Err != "" {
		return Status{}, &StartError{Msg: x.Err, Errno: unix.Errno(x.Errno)}
	}
	return x.Status, nil
}

// StartError is an exec'd command that init could not start, such as a
// command not found (Errno ENOENT).
type StartError struct {
	Msg   string
	Errno unix.Errno // 0 when the cause is not a system call's
}

func (e *StartError) Error() string { return e.Msg }

// Unwrap exposes the errno, so errors.Is(err, unix.ENOENT) works.
func (e *StartError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// execDone hands an exec'd command's end to its Process.
func (sb *Sandbox) execDone(x ExecExit) {
	sb.execs.mu.Lock()
	ch := sb.execs.waiting[x.ID]
	delete(sb.execs.waiting, x.ID)
	sb.execs.mu.Unlock()
	if ch != nil {
		ch <- x
	}
}
