package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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
}

// ExecExit is how an exec'd command ended.
type ExecExit struct {
	ID     int    `json:"id"`
	Status Status `json:"status"`
	// Err is set when the command could not be started, with its errno.
	Err   string `json:"err,omitempty"`
	Errno int    `json:"errno,omitempty"`
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

func newMsgReader(fd int, buffered []byte) *msgReader {
	return &msgReader{fd: fd, buf: append([]byte(nil), buffered...)}
}

// next returns the next message and, for an exec request, its three
// descriptors.
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
			if m.Exec == nil {
				return m, nil, nil
			}
			if len(r.fds) < 3 {
				return m, nil, errors.New("exec request without its three descriptors")
			}
			fds := r.fds[:3]
			r.fds = r.fds[3:]
			return m, fds, nil
		}
		b := make([]byte, 4096)
		oob := make([]byte, unix.CmsgSpace(3*4))
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

// sendWithFDs writes one message and passes fds with it.
func sendWithFDs(fd int, m message, fds []int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return unix.Sendmsg(fd, b, unix.UnixRights(fds...), nil, 0)
}

// execs routes exec'd commands' exits to the clients that asked.
type execs struct {
	mu      sync.Mutex
	next    int
	clients map[int]*os.File
}

// ServeExec accepts exec requests on the unix socket at path until the
// sandbox ends; only the owner of cell (or root) may connect. Each
// request is passed to init with its descriptors, and the command's
// status goes back to the client that asked.
func (sb *Sandbox) ServeExec(path string) (stop func(), err error) {
	_ = os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("exec socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	go func() {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			go sb.ServeConn(c)
		}
	}()
	return func() { ln.Close(); os.Remove(path) }, nil
}

// ServeConn serves one client's exec request on c: a pool hands each of
// its sandboxes one connection. It returns when the client is done.
func (sb *Sandbox) ServeConn(c *net.UnixConn) {
	f, err := c.File() // a blocking copy for recvmsg
	c.Close()
	if err != nil {
		return
	}
	cred, err := unix.GetsockoptUcred(int(f.Fd()), unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil || cred.Uid != uint32(os.Geteuid()) && cred.Uid != 0 {
		f.Close()
		return
	}
	rd := newMsgReader(int(f.Fd()), nil)
	m, fds, err := rd.next()
	if err != nil || m.Exec == nil {
		f.Close()
		return
	}
	sb.execs.mu.Lock()
	sb.execs.next++
	id := sb.execs.next
	if sb.execs.clients == nil {
		sb.execs.clients = map[int]*os.File{}
	}
	sb.execs.clients[id] = f
	sb.execs.mu.Unlock()
	m.Exec.ID = id
	select {
	case <-sb.ready:
		sb.mu.Lock()
		err = sendWithFDs(int(sb.conn.Fd()), m, fds)
		sb.mu.Unlock()
	case <-sb.done:
		err = errors.New("the sandbox ended before it took the request")
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	if err != nil {
		sb.execDone(ExecExit{ID: id, Err: "send to init: " + err.Error()})
		return
	}
	// Signals from the client go to its command.
	for {
		m, _, err := rd.next()
		if err != nil {
			return
		}
		if m.Signal > 0 {
			sb.mu.Lock()
			_ = sb.enc.Encode(message{ExecSignal: &ExecSignal{ID: id, Signal: m.Signal}})
			sb.mu.Unlock()
		}
	}
}

// execDone tells the client of an exec'd command how it ended.
func (sb *Sandbox) execDone(x ExecExit) {
	sb.execs.mu.Lock()
	f := sb.execs.clients[x.ID]
	delete(sb.execs.clients, x.ID)
	sb.execs.mu.Unlock()
	if f == nil {
		return
	}
	_ = json.NewEncoder(f).Encode(message{ExecExit: &x})
	f.Close()
}

// Exec asks the sandbox whose exec socket is at path to run args with
// stdio as its standard descriptors, relays the signals sent on sigs,
// and returns how it ended.
func Exec(path string, args []string, tty bool, stdio [3]*os.File, sigs <-chan os.Signal) (Status, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return Status{}, fmt.Errorf("connect to the sandbox: %w", err)
	}
	f, err := c.File()
	c.Close()
	if err != nil {
		return Status{}, err
	}
	defer f.Close()
	fds := []int{int(stdio[0].Fd()), int(stdio[1].Fd()), int(stdio[2].Fd())}
	if err := sendWithFDs(int(f.Fd()), message{Exec: &ExecRequest{Args: args, TTY: tty}}, fds); err != nil {
		return Status{}, fmt.Errorf("send the request: %w", err)
	}
	var mu sync.Mutex
	enc := json.NewEncoder(f)
	go func() {
		for s := range sigs {
			if n, ok := s.(unix.Signal); ok {
				mu.Lock()
				_ = enc.Encode(message{Signal: int(n)})
				mu.Unlock()
			}
		}
	}()
	var m message
	if err := json.NewDecoder(f).Decode(&m); err != nil || m.ExecExit == nil {
		return Status{}, fmt.Errorf("the sandbox ended before the command reported (%v)", err)
	}
	if x := m.ExecExit; x.Err != "" {
		err := errors.New(x.Err)
		if x.Errno != 0 {
			err = fmt.Errorf("%s: %w", x.Err, unix.Errno(x.Errno))
		}
		return Status{}, err
	}
	return m.ExecExit.Status, nil
}
