package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/internal/network/egress/proc"
)

// Decision is one decision of the proxy (proc.Decision).
type Decision = proc.Decision

// Server serves one sandbox's proxy and name server.
type Server struct {
	p      *network.Proxy
	report func(Decision)
	dialer net.Dialer
	// HeaderTimeout bounds the wait for a request's header and a
	// tunnel's ClientHello.
	HeaderTimeout time.Duration
	conns         sync.WaitGroup
	// slots bounds the connections served at once: the proxy runs
	// outside the sandbox's cgroup and limits, so a sandbox that opens
	// connections without end must not take the host's descriptors.
	slots chan struct{}
	// asking bounds the sandbox's questions forwarded upstream at
	// once, so that a sandbox cannot flood the host's name servers.
	asking chan struct{}
	cache  addrCache
}

// MaxAsking is how many of a sandbox's name questions the proxy forwards
// at once; more are answered SERVFAIL at once.
const MaxAsking = 64

// addrCache keeps the addresses of names the proxy connected to for as
// long as their records live (at most a minute), so that a package
// manager's hundred connections to one registry ask the name servers
// once.
type addrCache struct {
	mu sync.Mutex
	m  map[string]cached
}

type cached struct {
	addrs   []netip.Addr
	expires time.Time
}

// maxCached bounds the cache; a full cache is emptied.
const maxCached = 4096

func (c *addrCache) get(name string) []netip.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[name]; ok && time.Now().Before(e.expires) {
		return e.addrs
	}
	return nil
}

func (c *addrCache) put(name string, addrs []netip.Addr, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = make(map[string]cached)
	}
	c.m[name] = cached{addrs, time.Now().Add(min(ttl, time.Minute))}
}

// MaxConns is how many connections a proxy serves at once; one more is
// closed at once.
const MaxConns = 1024

// New returns a server of p that reports each decision to report, which
// must be safe for concurrent use.
func New(p *network.Proxy, report func(Decision)) *Server {
	return &Server{p: p, report: report, dialer: net.Dialer{Timeout: 10 * time.Second}, HeaderTimeout: 10 * time.Second,
		slots: make(chan struct{}, MaxConns), asking: make(chan struct{}, MaxAsking)}
}

func (s *Server) decide(via, host string, port uint16) (*network.ProxyRule, Decision) {
	d := Decision{Time: time.Now().UTC(), Sandbox: s.p.Sandbox, Via: via, Name: host, Port: port, Rule: s.p.Default}
	r := network.Decide(s.p, host, port)
	if r != nil {
		d.Allowed, d.Rule = true, r.Pos
	}
	return r, d
}

// deniedText is what a denied client reads.
func (s *Server) deniedText(host string, port uint16) string {
	return fmt.Sprintf("cell egress: %s is not allowed: no rule of network.egress.allow names it (default deny, %s)",
		net.JoinHostPort(host, strconv.Itoa(int(port))), s.p.Default)
}

// ServeProxy accepts HTTP and SOCKS5 clients on l until it is closed.
func (s *Server) ServeProxy(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		select {
		case s.slots <- struct{}{}:
		default:
			c.Close()
			continue
		}
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer func() { <-s.slots }()
			defer c.Close()
			s.handle(c)
		}()
	}
}

func (s *Server) handle(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(s.HeaderTimeout))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	if err != nil {
		return
	}
	if first[0] == 5 {
		s.socks(c, br)
		return
	}
	s.http(c, br)
}

// refuse writes an HTTP error response and closes.
func refuse(c net.Conn, code int, text string) {
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\nX-Cell-Egress: refused\r\n\r\n%s\n",
		code, http.StatusText(code), len(text)+1, text)
}

// hostPort splits an authority, with def as the port when it has none.
func hostPort(authority string, def uint16) (string, uint16, error) {
	host, ps, err := net.SplitHostPort(authority)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return strings.Trim(authority, "[]"), def, nil
		}
		return "", 0, err
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, uint16(p), nil
}

// openHTTP decides a CONNECT or plain HTTP request for host:port and
// connects to it; what is denied or cannot be reached is reported and
// answered with its HTTP status, and ok is false.
func (s *Server) openHTTP(c net.Conn, via, host string, port uint16) (up net.Conn, r *network.ProxyRule, d Decision, ok bool) {
	r, d = s.decide(via, host, port)
	if r == nil {
		s.report(d)
		refuse(c, http.StatusForbidden, s.deniedText(host, port))
		return nil, nil, d, false
	}
	up, err := s.dial(host, port)
	if err != nil {
		d.Reason = err.Error()
		s.report(d)
		refuse(c, http.StatusBadGateway, "cell egress: "+err.Error())
		return nil, nil, d, false
	}
	return up, r, d, true
}

func (s *Server) http(c net.Conn, br *bufio.Reader) {
	req, err := http.ReadRequest(br)
	if err != nil {
		refuse(c, http.StatusBadRequest, "cell egress: not an HTTP or SOCKS5 request")
		return
	}
	if req.Method == http.MethodConnect {
		host, port, err := hostPort(req.RequestURI, 443)
		if err != nil || host == "" {
			refuse(c, http.StatusBadRequest, "cell egress: CONNECT needs HOST:PORT")
			return
		}
		up, r, d, ok := s.openHTTP(c, "connect", host, port)
		if !ok {
			return
		}
		defer up.Close()
		if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
			return
		}
		s.tunnel(c, br, up, host, port, r, d)
		return
	}
	// A plain request: the absolute URL's host decides, and a Host
	// header is ignored (RFC 9112 3.2.2; net/http drops it): the
	// request goes out with the URL's host, so the server cannot be
	// told another. A request in origin form has only its Host.
	authority := req.URL.Host
	if authority == "" {
		authority = req.Host
	}
	if req.URL.Scheme != "" && req.URL.Scheme != "http" {
		refuse(c, http.StatusBadRequest, fmt.Sprintf("cell egress: a plain request must be http, not %s (use CONNECT for https)", req.URL.Scheme))
		return
	}
	host, port, err := hostPort(authority, 80)
	if err != nil || host == "" {
		refuse(c, http.StatusBadRequest, "cell egress: the request names no host")
		return
	}
	up, _, d, ok := s.openHTTP(c, "http", host, port)
	if !ok {
		return
	}
	defer up.Close()
	s.report(d)
	_ = c.SetReadDeadline(time.Time{})
	// One request per connection: a second request on a kept-alive
	// connection could name another host.
	req.Header.Del("Proxy-Connection")
	req.Header.Del("Proxy-Authorization")
	req.Close = true
	req.Host = authority
	if err := req.Write(up); err != nil {
		return
	}
	_, _ = io.Copy(c, up)
}

// socks serves a SOCKS5 client: no authentication, CONNECT only.
func (s *Server) socks(c net.Conn, br *bufio.Reader) {
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return
	}
	if !strings.ContainsRune(string(methods), 0) {
		_, _ = c.Write([]byte{5, 0xff})
		return
	}
	if _, err := c.Write([]byte{5, 0}); err != nil {
		return
	}
	req := make([]byte, 4)
	if _, err := io.ReadFull(br, req); err != nil {
		return
	}
	reply := func(code byte) { _, _ = c.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0}) }
	if req[0] != 5 {
		return
	}
	if req[1] != 1 {
		reply(7) // command not supported
		return
	}
	var host string
	switch req[3] {
	case 1, 4:
		b := make([]byte, 4)
		if req[3] == 4 {
			b = make([]byte, 16)
		}
		if _, err := io.ReadFull(br, b); err != nil {
			return
		}
		a, _ := netip.AddrFromSlice(b)
		host = a.Unmap().String()
	case 3:
		n, err := br.ReadByte()
		if err != nil {
			return
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return
		}
		host = string(b)
	default:
		reply(8) // address type not supported
		return
	}
	pb := make([]byte, 2)
	if _, err := io.ReadFull(br, pb); err != nil {
		return
	}
	port := uint16(pb[0])<<8 | uint16(pb[1])
	r, d := s.decide("socks5", host, port)
	if r == nil {
		s.report(d)
		reply(2) // connection not allowed by ruleset
		return
	}
	up, err := s.dial(host, port)
	if err != nil {
		d.Reason = err.Error()
		s.report(d)
		reply(4) // host unreachable
		return
	}
	defer up.Close()
	reply(0)
	s.tunnel(c, br, up, host, port, r, d)
}

// errHello stops a TLS handshake once the ClientHello has been read.
var errHello = errors.New("client hello read")

// recorder is a net.Conn that reads from r and discards writes: the TLS
// server that parses a ClientHello through it answers nobody.
type recorder struct {
	net.Conn
	r io.Reader
}

func (c recorder) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c recorder) Write(b []byte) (int, error) { return len(b), nil }

// clientHello reads the ClientHello at the start of br with crypto/tls's
// own parser and returns its server name and every byte it read, which
// the tunnel then forwards. ok is false when br does not start with a
// ClientHello.
func clientHello(c net.Conn, br *bufio.Reader) (sni string, read []byte, ok bool) {
	var buf strings.Builder
	tee := io.TeeReader(br, &buf)
	srv := tls.Server(recorder{Conn: c, r: tee}, &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sni, ok = h.ServerName, true
			return nil, errHello
		},
	})
	_ = srv.Handshake()
	return sni, []byte(buf.String()), ok
}

// tunnel copies between the client and the server after the client's
// first bytes passed the server name check: a tunnel to a name on port
// 443 must start with a ClientHello for that name, and a ClientHello on
// another port must name it too. Address rules skip the check.
func (s *Server) tunnel(c net.Conn, br *bufio.Reader, up net.Conn, host string, port uint16, r *network.ProxyRule, d Decision) {
	_ = c.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	// The server may speak first (SSH, SMTP), and its bytes tell the
	// client nothing it may not know: they flow at once.
	go func() {
		defer close(done)
		_, _ = io.Copy(c, up)
		closeWrite(c)
	}()
	var head []byte
	if r.Domain != "" {
		mustTLS := port == 443 && !r.SNIOptional
		if mustTLS {
			_ = c.SetReadDeadline(time.Now().Add(s.HeaderTimeout))
		}
		first, err := br.Peek(1)
		if err != nil {
			d.Allowed, d.Reason = false, "no data"
			if !mustTLS {
				d.Allowed, d.Reason = true, ""
			}
			s.report(d)
			return
		}
		if first[0] == 0x16 || mustTLS {
			sni, read, ok := clientHello(c, br)
			switch {
			case !ok && mustTLS:
				d.Allowed, d.Reason = false, "port 443 without a TLS ClientHello"
			case ok && sni == "" && mustTLS:
				d.Allowed, d.Reason = false, "the TLS ClientHello names no server (SNI)"
			case ok && sni != "" && network.CanonicalName(sni) != network.CanonicalName(host):
				d.Allowed, d.Reason = false, fmt.Sprintf("the TLS ClientHello names %q, not %q", sni, host)
			}
			if !d.Allowed {
				d.Rule = s.p.Default
				s.report(d)
				up.Close()
				<-done
				return
			}
			head = read
		}
		_ = c.SetReadDeadline(time.Time{})
	}
	s.report(d)
	if len(head) > 0 {
		if _, err := up.Write(head); err != nil {
			return
		}
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		if _, err := up.Write(b); err != nil {
			return
		}
		_, _ = br.Discard(n)
	}
	// From here on the client's socket itself: io.Copy between two TCP
	// sockets is splice(2).
	_, _ = io.Copy(up, c)
	closeWrite(up)
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		return
	}
	c.Close()
}

// forbidden reports why the proxy will not connect to a, "" when it will:
// the host's own services (loopback, link-local, unspecified, multicast)
// are out of reach through a name; an address rule can name them.
func forbidden(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "a loopback address"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case a.IsUnspecified():
		return "the unspecified address"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "a multicast address"
	}
	return ""
}

// dial connects to host (a name the upstream servers resolve, or an
// address an address rule allowed) and port, from the proxy's own
// network namespace.
func (s *Server) dial(host string, port uint16) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		addrs = []netip.Addr{a.Unmap()}
	} else {
		found, err := s.lookup(ctx, network.CanonicalName(host))
		if err != nil {
			return nil, err
		}
		for _, a := range found {
			if why := forbidden(a); why != "" {
				return nil, fmt.Errorf("%s resolves to %s, %s, which the proxy does not connect to", host, a, why)
			}
		}
		addrs = found
	}
	var errs []error
	for _, a := range addrs {
		c, err := s.dialer.DialContext(ctx, "tcp", netip.AddrPortFrom(a, port).String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("connect to %s: %w", net.JoinHostPort(host, strconv.Itoa(int(port))), errors.Join(errs...))
}

// lookup returns name's IPv4 and IPv6 addresses, the IPv4 ones first,
// from the cache or the upstream name servers.
func (s *Server) lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	if addrs := s.cache.get(name); addrs != nil {
		return addrs, nil
	}
	type answer struct {
		addrs []netip.Addr
		ttl   uint32
		err   error
	}
	ask := func(qtype uint16, out chan<- answer) {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), qtype)
		resp, err := s.exchange(ctx, m)
		if err != nil {
			out <- answer{err: err}
			return
		}
		a := answer{ttl: 60}
		for _, rr := range resp.Answer {
			a.ttl = min(a.ttl, rr.Header().Ttl)
			switch rr := rr.(type) {
			case *dns.A:
				if ip, ok := netip.AddrFromSlice(rr.A.To4()); ok {
					a.addrs = append(a.addrs, ip)
				}
			case *dns.AAAA:
				if ip, ok := netip.AddrFromSlice(rr.AAAA.To16()); ok {
					a.addrs = append(a.addrs, ip.Unmap())
				}
			}
		}
		out <- a
	}
	v4, v6 := make(chan answer, 1), make(chan answer, 1)
	go ask(dns.TypeA, v4)
	go ask(dns.TypeAAAA, v6)
	a4, a6 := <-v4, <-v6
	addrs := append(a4.addrs, a6.addrs...)
	if len(addrs) == 0 {
		if err := errors.Join(a4.err, a6.err); err != nil {
			return nil, fmt.Errorf("resolve %s: %w", name, err)
		}
		return nil, fmt.Errorf("resolve %s: no address", name)
	}
	if a4.err == nil && a6.err == nil {
		s.cache.put(name, addrs, time.Duration(min(a4.ttl, a6.ttl))*time.Second)
	}
	return addrs, nil
}

// exchange asks the upstream servers in turn, over UDP and then TCP when
// the answer was truncated.
func (s *Server) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	if len(s.p.Upstream) == 0 {
		return nil, errors.New("no upstream name server")
	}
	var errs []error
	for _, up := range s.p.Upstream {
		c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
		resp, _, err := c.ExchangeContext(ctx, m, up)
		if err == nil && resp.Truncated {
			c.Net = "tcp"
			resp, _, err = c.ExchangeContext(ctx, m, up)
		}
		if err == nil {
			return resp, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// Wait waits for the connections being served to end.
func (s *Server) Wait() { s.conns.Wait() }
