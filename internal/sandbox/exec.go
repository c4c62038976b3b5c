package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// ExecRequest asks a running sandbox for one more command: init forks it
// from its own thread, the one that forked the sandbox's command, so it
// shares every defence of it (namespaces, root, cgroup, credentials,
// capabilities, no_new_privs, landlock, seccomp). Its stdin, stdout and
// stderr travel with the request as descriptors.
type ExecRequest struct {
	ID   int      `json:"id"`
	Args []string `json:"args"`
	// TTY makes the command's stdin its controlling terminal.
	TTY bool `json:"tty,omitempty"`
	// Console asks init for a new pty in the sandbox's own devpts as the
	// command's stdin, stdout, stderr and controlling terminal, whose
	// master comes back (Process.Console). When init cannot make one
	// the request's descriptors are used, with TTY.
	Console bool `json:"console,omitempty"`
	// Env are the caller's variables, KEY=VALUE; init takes only those
	// that the plan's PassEnv names. Dir, when set, is the working
	// directory instead of the plan's.
	Env []string `json:"env,omitempty"`
	Dir string   `json:"dir,omitempty"`
}

// ExecExit is how an exec'd command ended.
type ExecExit struct {
	ID     int    `json:"id"`
	Status Status `json:"status"`
	// Err is set when the command could not be started, with its errno.
	Err   string `json:"err,omitempty"`
	Errno int    `json:"errno,omitempty"`
}

// ExecConsole, from init, answers an exec request's Console: the pty's
// name, whose master comes with the message, or why there is none.
type ExecConsole struct {
	ID   int    `json:"id"`
	Name string `json:"name,omitempty"`
	Err  string `json:"err,omitempty"`
}

// ExecSignal asks init to deliver a signal to an exec'd command.
type ExecSignal struct {
	ID     int `json:"id"`
	Signal int `json:"signal"`
}

// msgReader reads newline-separated JSON messages from a unix socket and
// the descriptors that arrive with them (SCM_RIGHTS), which a plain read
// would drop.
type msgReader struct {
	fd  int
	buf []byte
	fds []int
}

// maxFDs is the most descriptors a message carries: the egress proxy's
// six sockets.
const maxFDs = 6

func newMsgReader(fd int, buffered []byte) *msgReader {
	return &msgReader{fd: fd, buf: append([]byte(nil), buffered...)}
}

// next returns the next message and the descriptors that came with it:
// three for an exec request, the master for a console.
func (r *msgReader) next() (message, []int, error) {
	for {
		if i := bytes.IndexByte(r.buf, '\n'); i >= 0 {
			line := r.buf[:i]
			r.buf = r.buf[i+1:]
			if len(bytes.TrimSpace(line)) == 0 {
				continue // the newline after a value a json.Decoder read
			}
			var m message
			if err := json.Unmarshal(line, &m); err != nil {
				return m, nil, fmt.Errorf("bad message %q: %w", line, err)
			}
			n := m.fds()
			if n == 0 {
				return m, nil, nil
			}
			if len(r.fds) < n {
				return m, nil, fmt.Errorf("message %q without its %d descriptors", line, n)
			}
			fds := r.fds[:n]
			r.fds = r.fds[n:]
			return m, fds, nil
		}
		b := make([]byte, 4096)
		oob := make([]byte, unix.CmsgSpace(maxFDs*4))
		n, oobn, _, _, err := unix.Recvmsg(r.fd, b, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return message{}, nil, err
		}
		if n == 0 {
			return message{}, nil, errors.New("EOF")
		}
		if oobn > 0 {
			scms, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err == nil {
				for _, scm := range scms {
					if fds, err := unix.ParseUnixRights(&scm); err == nil {
						r.fds = append(r.fds, fds...)
					}
				}
			}
		}
		r.buf = append(r.buf, b[:n]...)
	}
}

// drain reads the socket to its end, keeping what it read (and the
// descriptors) for next.
func (r *msgReader) drain() {
	for {
		b := make([]byte, 4096)
		oob := make([]byte, unix.CmsgSpace(3*4))
		n, oobn, _, _, err := unix.Recvmsg(r.fd, b, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return
		}
		if oobn > 0 {
			if scms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, scm := range scms {
					if fds, err := unix.ParseUnixRights(&scm); err == nil {
						r.fds = append(r.fds, fds...)
					}
				}
			}
		}
		r.buf = append(r.buf, b[:n]...)
	}
}

// sendWithFDs writes one message and passes fds with it.
func sendWithFDs(fd int, m message, fds []int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return unix.Sendmsg(fd, b, unix.UnixRights(fds...), nil, 0)
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
