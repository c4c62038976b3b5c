package ociruntime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher"
)

// MonitorArg0 is the argv[0] of a container's monitor; ProxyArg0 that of
// an exec proxy. The runtime's main dispatches on them.
const (
	MonitorArg0 = "cell-oci-monitor"
	ProxyArg0   = "cell-oci-exec"
)

const monitorSocket = "monitor.sock"

// socketAddr returns an address of the monitor's socket in dir that fits
// a sockaddr_un (108 bytes) however long dir is: a path through a
// descriptor of dir (/proc/self/fd/N/monitor.sock), which the caller
// closes after bind or connect. containerd's CRI state directories with
// 64-character container IDs are already longer.
func socketAddr(dir string) (string, func(), error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", fd, monitorSocket), func() { unix.Close(fd) }, nil
}

// request is one message to the monitor; exec's carries three
// descriptors (its stdio).
type request struct {
	Op     string   `json:"op"` // start, exec, signal, exec-signal
	Args   []string `json:"args,omitempty"`
	Env    []string `json:"env,omitempty"`
	Cwd    string   `json:"cwd,omitempty"`
	TTY    bool     `json:"tty,omitempty"`
	Signal int      `json:"signal,omitempty"`
}

// reply is the monitor's answer: OK or Error, then for exec the exit.
type reply struct {
	OK    bool                 `json:"ok,omitempty"`
	Error string               `json:"error,omitempty"`
	Exit  *launcher.ExitStatus `json:"exit,omitempty"`
}

// Monitor is the main of a container's monitor (argv: MonitorArg0 DIR
// TTY; descriptors 3 init's socket, 4 the listening socket, 5-7 the
// container's stdio). It returns when init has ended.
func Monitor(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "cell-oci-monitor: started by cell-oci create")
		return 2
	}
	dir := args[1]
	tty := args[2] == "1"
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return 1
	}
	rec, err := decodeRecord(b)
	if err != nil {
		return 1
	}
	conn := os.NewFile(3, "init")
	lf := os.NewFile(4, "monitor.sock")
	stdio := [3]*os.File{os.NewFile(5, "stdin"), os.NewFile(6, "stdout"), os.NewFile(7, "stderr")}
	for _, fd := range []int{3, 4, 5, 6, 7} {
		unix.CloseOnExec(fd)
	}
	l, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		return 1
	}
	sb, err := launcher.Attach(rec.Plan, conn)
	if err != nil {
		return 1
	}
	m := &monitor{sb: sb, rec: rec, stdio: stdio, tty: tty}
	go func() {
		<-sb.Done()
		l.Close()
	}()
	// Requests in flight are answered before the monitor ends: a
	// process that ends at once ends init, and with it the monitor,
	// before start has its reply.
	var serving sync.WaitGroup
	for {
		c, err := l.Accept()
		if err != nil {
			break
		}
		serving.Add(1)
		go func() {
			defer serving.Done()
			m.serve(c.(*net.UnixConn))
		}()
	}
	os.Remove(filepath.Join(dir, monitorSocket))
	serving.Wait()
	return 0
}

type monitor struct {
	sb      *launcher.Attached
	rec     *record
	mu      sync.Mutex
	stdio   [3]*os.File
	tty     bool
	started bool
}

func (m *monitor) serve(c *net.UnixConn) {
	defer c.Close()
	enc := json.NewEncoder(c)
	rd := &fdReader{c: c}
	req, fds, err := rd.next()
	if err != nil {
		return
	}
	fail := func(err error) { _ = enc.Encode(reply{Error: err.Error()}) }
	switch req.Op {
	case "start":
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.started {
			fail(errors.New("the container was started already"))
			return
		}
		p := m.rec.Process
		proc, err := m.sb.Exec(launcher.ExecRequest{Args: p.Args, Dir: p.Cwd, TTY: m.tty}, m.stdio)
		if err != nil {
			fail(err)
			return
		}
		m.started = true
		// A process that could not be executed (init then ends with
		// status 127 or 126) says why on its own stderr, which is all
		// its caller reads by then.
		stderr := m.stdio[2]
		go func() {
			defer stderr.Close()
			if _, err := proc.Wait(); err != nil {
				var se *launcher.ExecStartError
				if errors.As(err, &se) {
					fmt.Fprintf(stderr, "cell-oci: %s: %v\n", strings.Join(p.Args, " "), err)
				}
			}
		}()
		m.stdio[0].Close()
		m.stdio[1].Close()
		_ = enc.Encode(reply{OK: true})
	case "signal":
		if err := m.sb.Signal(syscall.Signal(req.Signal)); err != nil {
			fail(err)
			return
		}
		_ = enc.Encode(reply{OK: true})
	case "exec":
		if len(fds) != 3 {
			fail(errors.New("exec request without its three descriptors"))
			return
		}
		files := [3]*os.File{os.NewFile(uintptr(fds[0]), "stdin"), os.NewFile(uintptr(fds[1]), "stdout"), os.NewFile(uintptr(fds[2]), "stderr")}
		p, err := m.sb.Exec(launcher.ExecRequest{Args: req.Args, Env: req.Env, Dir: req.Cwd, TTY: req.TTY}, files)
		for _, f := range files {
			f.Close()
		}
		if err != nil {
			fail(err)
			return
		}
		_ = enc.Encode(reply{OK: true})
		go func() {
			// The proxy's relayed signals.
			for {
				r, _, err := rd.next()
				if err != nil {
					return
				}
				if r.Op == "exec-signal" {
					_ = p.Signal(unix.Signal(r.Signal))
				}
			}
		}()
		st, err := p.Wait()
		if err != nil {
			fail(err)
			return
		}
		_ = enc.Encode(reply{Exit: &st})
	default:
		fail(fmt.Errorf("unknown request %q", req.Op))
	}
}

// fdReader reads newline-separated requests from a unix socket with the
// descriptors that come with them.
type fdReader struct {
	c   *net.UnixConn
	buf []byte
	fds []int
}

func (r *fdReader) next() (request, []int, error) {
	for {
		if i := indexByte(r.buf, '\n'); i >= 0 {
			line := r.buf[:i]
			r.buf = r.buf[i+1:]
			var q request
			if err := json.Unmarshal(line, &q); err != nil {
				return q, nil, err
			}
			fds := r.fds
			r.fds = nil
			return q, fds, nil
		}
		b := make([]byte, 65536)
		oob := make([]byte, unix.CmsgSpace(4*4))
		n, oobn, _, _, err := r.c.ReadMsgUnix(b, oob)
		if err != nil {
			return request{}, nil, err
		}
		if n == 0 {
			return request{}, nil, errors.New("EOF")
		}
		if oobn > 0 {
			if scms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, scm := range scms {
					if fds, err := unix.ParseUnixRights(&scm); err == nil {
						for _, fd := range fds {
							unix.CloseOnExec(fd)
						}
						r.fds = append(r.fds, fds...)
					}
				}
			}
		}
		r.buf = append(r.buf, b[:n]...)
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// call sends one request (with fds) to the monitor of the container in
// dir and returns the connection, after reading the first reply.
func call(dir string, req request, fds []int) (*net.UnixConn, *bufio.Reader, error) {
	addr, done, err := socketAddr(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("the container's monitor: %w", err)
	}
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: addr, Net: "unix"})
	done()
	if err != nil {
		return nil, nil, fmt.Errorf("the container's monitor: %w", err)
	}
	b, _ := json.Marshal(req)
	b = append(b, '\n')
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := c.WriteMsgUnix(b, oob, nil); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("the container's monitor: %w", err)
	}
	br := bufio.NewReader(c)
	var rep reply
	line, err := br.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &rep)
	}
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("the container's monitor: %w", err)
	}
	if rep.Error != "" {
		c.Close()
		return nil, nil, errors.New(rep.Error)
	}
	return c, br, nil
}
