package sandbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/internal/syserr"
	"github.com/cellsandbox/cell/launcher/plan"
)

// egressSockets makes the egress proxy's sockets in init's network
// namespace and sends them to cell, keeping no copy: the command cannot
// accept on them. A socket on ::1 is left out where the namespace has
// no IPv6 (EADDRNOTAVAIL); every other failure fails the step.
func (e *initExec) egressSockets(a *plan.EgressProxy) error {
	var made []network.Listen
	var fds []int
	defer func() {
		for _, fd := range fds {
			e.k.Close(fd)
		}
	}()
	for _, l := range a.Proxy.Listen {
		fd, err := e.k.Listen(l)
		if errors.Is(err, unix.EADDRNOTAVAIL) && netip.MustParseAddrPort(l.Addr).Addr().Is6() {
			continue
		}
		if err != nil {
			return wrap("socket", l.String(), err)
		}
		made = append(made, l)
		fds = append(fds, fd)
	}
	if err := sendWithFDs(e.conn, message{Egress: made}, fds); err != nil {
		return &syserr.Error{Call: "sendmsg", Object: "the egress proxy's sockets to cell", Err: err}
	}
	// The command starts once the proxy answers: a connection made
	// before would wait in the backlog for as long as the proxy takes
	// to start, seconds on a loaded host.
	for _, l := range made {
		if l.Serves == "proxy" {
			return wrap("connect", l.Addr, e.k.ProxyReady(l.Addr, egressReadyTimeout))
		}
	}
	return nil
}

// egressReadyTimeout bounds the wait for the proxy process to serve.
const egressReadyTimeout = 30 * time.Second

// proxyReady waits until the proxy at addr answers a SOCKS5 greeting
// that offers no method, which it refuses (5, 255) without a decision.
func proxyReady(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return fmt.Errorf("connect to the egress proxy at %s: %w", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte{5, 0}); err != nil {
		return fmt.Errorf("greet the egress proxy at %s: %w", addr, err)
	}
	b := make([]byte, 2)
	if _, err := io.ReadFull(c, b); err != nil {
		return fmt.Errorf("the egress proxy at %s did not answer within %v: %w", addr, timeout, err)
	}
	if b[0] != 5 || b[1] != 0xff {
		return fmt.Errorf("the egress proxy at %s answered %v to a greeting without methods", addr, b)
	}
	return nil
}

// listenSocket makes the socket l: bound, and listening when it is TCP.
func listenSocket(l network.Listen) (int, error) {
	ap, err := netip.ParseAddrPort(l.Addr)
	if err != nil {
		return -1, err
	}
	fam, typ := unix.AF_INET6, unix.SOCK_STREAM
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	if ap.Addr().Is4() {
		fam, sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	if l.Net == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(fam, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, &syserr.Error{Call: "socket", Object: l.String(), Err: err}
	}
	fail := func(call string, err error) (int, error) {
		unix.Close(fd)
		return -1, &syserr.Error{Call: call, Object: l.String(), Err: err}
	}
	if fam == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail("setsockopt(IPV6_V6ONLY)", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if typ == unix.SOCK_STREAM {
		if err := unix.Listen(fd, 1024); err != nil {
			return fail("listen", err)
		}
	}
	return fd, nil
}

// EgressProxy is a running egress proxy process, as a sandbox counts its
// denials and ends it.
type EgressProxy interface {
	Denied() int64
	Stop() error
}

// SpawnEgress starts a sandbox's egress proxy from the program self, to
// serve the sockets init made (internal/network/egress's Spawn, which the
// launcher package installs here). The sandbox package does not link the
// proxy itself, so that init's own binary (cmd/cell-init), which never
// runs one, starts without it and its DNS library. Without it a sandbox
// whose plan has a proxy is ended, not run without one.
var SpawnEgress func(self string, p *network.Proxy, listen []network.Listen, files []*os.File, log, trace io.Writer) (EgressProxy, error)

type egressHandle struct{ EgressProxy }

// egressState is the parent's part of the egress proxy: the process
// serving the sockets init sent, its log, or why it could not start.
type egressState struct {
	// proc is set by the goroutine that reads init's messages and read
	// by EgressDenied's callers.
	proc atomic.Pointer[egressHandle]
	log  *os.File
	err  error
}

// startEgress serves the sockets init made with the proxy process. What
// cannot be served is refused, not let through: the sockets close, and
// the sandbox is ended with the reason.
func (sb *Sandbox) startEgress(made []network.Listen, fds []int) {
	files := make([]*os.File, len(fds))
	for i, fd := range fds {
		files[i] = os.NewFile(uintptr(fd), made[i].String())
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var p *network.Proxy
	for i := range sb.plan.Steps {
		if a, ok := sb.plan.Steps[i].Do.(*plan.EgressProxy); ok {
			p = &a.Proxy
		}
	}
	if p == nil || sb.egress.proc.Load() != nil {
		sb.egress.err = errors.New("init sent egress proxy sockets that the plan does not have")
		_ = sb.Kill()
		return
	}
	var log io.Writer
	if sb.plan.Name != "" {
		if f, err := openEgressLog(sb.plan.Name); err == nil {
			sb.egress.log, log = f, f
		} else {
			fmt.Fprintf(os.Stderr, "cell: warning: egress log: %v\n", err)
		}
	}
	var trace io.Writer
	if sb.onTrace != nil { // cell run --trace
		trace = os.Stderr
	}
	if SpawnEgress == nil {
		sb.egress.err = errors.New("this program does not link the egress proxy (internal/network/egress): launch through the launcher package")
		_ = sb.Kill()
		return
	}
	proc, err := SpawnEgress("/proc/self/exe", p, made, files, log, trace)
	if err != nil {
		sb.egress.err = err
		_ = sb.Kill()
		return
	}
	sb.egress.proc.Store(&egressHandle{proc})
}

func openEgressLog(name string) (*os.File, error) {
	dir, err := state.Dir(os.Geteuid(), os.Getenv("XDG_RUNTIME_DIR"))
	if err != nil {
		return nil, err
	}
	st, err := state.Open(dir)
	if err != nil {
		return nil, err
	}
	return os.OpenFile(st.EgressLog(name), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
}

// EgressDenied is how many connections and name questions the sandbox's
// egress proxy denied so far (0 without one).
func (sb *Sandbox) EgressDenied() int64 {
	if proc := sb.egress.proc.Load(); proc != nil {
		return proc.Denied()
	}
	return 0
}

// stopEgress ends the proxy process, after the sandbox.
func (sb *Sandbox) stopEgress() error {
	var errs []error
	if sb.egress.err != nil {
		errs = append(errs, fmt.Errorf("egress proxy: %w", sb.egress.err))
	}
	if proc := sb.egress.proc.Load(); proc != nil {
		if err := proc.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("egress proxy: %w", err))
		}
	}
	if sb.egress.log != nil {
		sb.egress.log.Close()
	}
	return errors.Join(errs...)
}
