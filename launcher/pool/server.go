package pool

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/proto"
	"github.com/cellsandbox/cell/internal/sandbox"
)

// requestTimeout bounds the wait for a client's request after it
// connected, so that a client that never sends one does not hold a
// server's goroutine (and `cell pool stop`) for ever.
const requestTimeout = 10 * time.Second

// Conn is a client's connection, seen from the server, once its request
// has been read.
type Conn struct {
	c  *net.UnixConn
	rd *proto.Reader
	// Args, TTY, Console, Stats, Env and Dir are the request's (see the
	// package documentation).
	Args    []string
	TTY     bool
	Console bool
	Stats   bool
	Env     []string
	Dir     string
	// stdio are the request's descriptors, closed once handed to init.
	stdio [3]*os.File
}

// Accept reads the request of a client that connected to c. The peer must
// be the server's own user or root. A request of another Version is
// refused, with an error naming both versions, as is a malformed one: the
// client is told why, the connection is closed and Accept returns the
// reason. On success the caller must call one of Refuse, Exec or
// RunPooled.
func Accept(c *net.UnixConn) (*Conn, error) {
	conn, err := accept(c)
	if err != nil {
		_ = send(c, serverMsg{Version: Version, Error: &wireError{Msg: err.Error()}})
		c.Close()
		return nil, err
	}
	return conn, nil
}

func accept(c *net.UnixConn) (*Conn, error) {
	cred, err := peerCred(c)
	if err != nil {
		return nil, err
	}
	if cred.Uid != uint32(os.Geteuid()) && cred.Uid != 0 {
		return nil, fmt.Errorf("uid %d may not use a server of uid %d", cred.Uid, os.Geteuid())
	}
	_ = c.SetReadDeadline(time.Now().Add(requestTimeout))
	rd := newReader(c)
	line, err := rd.Line()
	if err != nil {
		rd.CloseFDs()
		return nil, fmt.Errorf("read the request: %w", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		rd.CloseFDs()
		return nil, fmt.Errorf("bad request %q: %w", line, err)
	}
	if req.Version != Version {
		rd.CloseFDs()
		return nil, fmt.Errorf("protocol version %d is not served here: this server speaks version %d", req.Version, Version)
	}
	fds := rd.TakeAll()
	if len(fds) != 3 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("the request must carry 3 descriptors (stdin, stdout, stderr), it carried %d", len(fds))
	}
	if req.Run == nil || len(req.Run.Args) == 0 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, errors.New(`the request has no command ("run": {"args": [...]})`)
	}
	conn := &Conn{c: c, rd: rd, Args: req.Run.Args, TTY: req.Run.TTY, Console: req.Run.Console, Stats: req.Run.Stats, Env: req.Run.Env, Dir: req.Run.Dir}
	for i, fd := range fds {
		conn.stdio[i] = os.NewFile(uintptr(fd), fmt.Sprintf("client-fd-%d", i))
	}
	return conn, nil
}

// Refuse tells the client that its request will not be served, and why,
// and closes the connection.
func (c *Conn) Refuse(err error) {
	_ = send(c.c, serverMsg{Version: Version, Error: &wireError{Msg: err.Error()}})
	c.close()
}

func (c *Conn) close() {
	for _, f := range c.stdio {
		if f != nil {
			f.Close()
		}
	}
	c.rd.CloseFDs()
	c.c.Close()
}

// Exec runs the request in sb, a running sandbox named name (cell exec),
// and reports its end to the client; it returns when the command has
// ended or the request failed. Statistics are refused: they are the
// whole sandbox's, which has not ended.
func (c *Conn) Exec(sb *sandbox.Sandbox, name string) {
	if c.Stats {
		c.Refuse(fmt.Errorf("statistics are reported for a pool's sandbox only; sandbox %s's come from its own cell run --stats", name))
		return
	}
	defer c.close()
	p, err := c.handOver(sb, name)
	if err != nil {
		return
	}
	st, err := c.wait(p)
	c.report(st, err, nil)
}

// RunPooled runs the request in sb, a sandbox of a pool named name that
// waits for its command, and returns when the sandbox has ended, with
// sb.Wait's result (sb.Wait must not be called again). Without Stats the
// client is told of the command's end as soon as init reports it; with
// Stats once the sandbox has ended and its counters are read. A sandbox
// that could not take the request is killed.
func (c *Conn) RunPooled(sb *sandbox.Sandbox, name string) (sandbox.Status, error) {
	defer c.close()
	handed := time.Now()
	p, err := c.handOver(sb, name)
	if err != nil {
		_ = sb.Kill()
		return sb.Wait()
	}
	st, err := c.wait(p)
	if !c.Stats {
		c.report(st, err, nil)
		return sb.Wait()
	}
	sst, serr := sb.Wait()
	var stats *sandbox.Stats
	if err == nil {
		stats = sb.Stats(st)
		stats.WallTimeUs = time.Since(handed).Microseconds()
	}
	c.report(st, err, stats)
	return sst, serr
}

// handOver gives the request to init and answers it, with the master of
// the pty that init made when the request asked for a console; the
// request's descriptors are closed here once init holds them.
func (c *Conn) handOver(sb *sandbox.Sandbox, name string) (*sandbox.Process, error) {
	p, err := sb.Exec(sandbox.ExecRequest{Args: c.Args, TTY: c.TTY, Console: c.Console, Env: c.Env, Dir: c.Dir}, c.stdio)
	for i, f := range c.stdio {
		f.Close()
		c.stdio[i] = nil
	}
	answer := serverMsg{Version: Version, Sandbox: name}
	var fds []int
	if err == nil && c.Console {
		if m := p.Console(); m != nil {
			defer m.Close()
			answer.Console, fds = m.Name(), []int{int(m.Fd())}
		}
	}
	if serr := send(c.c, answer, fds...); serr != nil && err == nil {
		return nil, serr
	}
	if err != nil {
		_ = send(c.c, serverMsg{Error: &wireError{Msg: err.Error()}})
		return nil, err
	}
	return p, nil
}

// wait relays the client's signals to p until p has ended, and kills p
// when the client hangs up first.
func (c *Conn) wait(p *sandbox.Process) (sandbox.Status, error) {
	var wg sync.WaitGroup
	ended := make(chan struct{})
	wg.Go(func() {
		for {
			line, err := c.rd.Line()
			c.rd.CloseFDs() // none are expected after the request
			if err != nil {
				select {
				case <-ended:
				default:
					_ = p.Signal(unix.SIGKILL) // the client gave up
				}
				return
			}
			var m clientMsg
			if json.Unmarshal(line, &m) == nil && m.Signal > 0 && m.Signal < 65 {
				_ = p.Signal(unix.Signal(m.Signal))
			}
		}
	})
	st, err := p.Wait()
	close(ended)
	// The reader returns when the read side is shut (CloseRead wakes it).
	_ = c.c.CloseRead()
	wg.Wait()
	return st, err
}

// report sends the last message: the command's end, or why it did not
// start.
func (c *Conn) report(st sandbox.Status, err error, stats *sandbox.Stats) {
	m := serverMsg{Exit: &st, Stats: stats}
	if err != nil {
		m = serverMsg{Error: &wireError{Msg: err.Error()}}
		var errno unix.Errno
		if errors.As(err, &errno) {
			m.Error.Errno = int(errno)
		}
	}
	_ = send(c.c, m)
}

// ServeExec serves requests for one more command in sb, a running sandbox
// named name (cell exec), on a unix socket it creates at path (mode
// 0600), until stop is called or the sandbox ends.
func ServeExec(sb *sandbox.Sandbox, name, path string) (stop func(), err error) {
	_ = os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("exec socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("exec socket: %w", err)
	}
	go func() {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			go func() {
				conn, err := Accept(c)
				if err != nil {
					return
				}
				conn.Exec(sb, name)
			}()
		}
	}()
	return func() { ln.Close(); os.Remove(path) }, nil
}
