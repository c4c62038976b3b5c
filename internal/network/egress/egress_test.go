package egress

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/proxy"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/internal/testenv"
)

// The tests run in a network namespace of their own: the test binary
// executes itself again with CLONE_NEWNET, where loopback holds
// the "internet" (192.0.2.0/24 and 2001:db8::/64, documentation ranges)
// and a name server the test controls answers on 127.0.0.1:5353.
const inNetns = "CELL_EGRESS_TEST_NETNS"

// netns runs the calling test or benchmark again in a new network
// namespace and reports whether the caller is that run (true: go on) or
// the one that started it (false: return, the outcome is reported).
func netns(tb testing.TB) bool {
	tb.Helper()
	if os.Getenv(inNetns) == "1" {
		setupNetns(tb)
		return true
	}
	testenv.Root(tb)
	args := []string{"-test.run=^" + tb.Name() + "$", "-test.v"}
	if _, bench := tb.(*testing.B); bench {
		args = []string{"-test.run=^$", "-test.bench=^" + tb.Name() + "$", "-test.benchmem"}
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), inNetns+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	tb.Logf("in a new network namespace:\n%s", out)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return false
}

func setupNetns(tb testing.TB) {
	tb.Helper()
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		tb.Fatal(err)
	}
	// The "internet" is addresses on loopback: the kernel of this
	// machine may have no dummy interfaces.
	for _, a := range []string{"192.0.2.10/32", "192.0.2.20/32", "192.0.2.30/32", "2001:db8::10/128"} {
		addr, _ := netlink.ParseAddr(a)
		addr.Flags = unix.IFA_F_NODAD
		if err := netlink.AddrAdd(lo, addr); err != nil {
			tb.Fatal(err)
		}
	}
}

// zone is what the test's name server answers.
var zone = map[string][]string{
	"allowed.test.":  {"192.0.2.10"},
	"other.test.":    {"192.0.2.20"},
	"v6only.test.":   {"2001:db8::10"},
	"wild.test.":     {"192.0.2.10"},
	"a.wild.test.":   {"192.0.2.10"},
	"b.c.wild.test.": {"192.0.2.10"},
	"loop.test.":     {"127.0.0.1"},
	"slow.test.":     {"192.0.2.10"},
}

func init() {
	for i := range 50 {
		zone[fmt.Sprintf("h%d.test.", i)] = []string{"192.0.2.10"}
	}
}

// asked counts the questions the test's name server was asked, by name.
var asked sync.Map

// world starts the test's name server and its servers: HTTP on port 80
// and HTTPS on 443 of every address (they answer with the Host header and
// the address they were reached at), an echo on port 7. It returns the
// name server's address and the pool that trusts the HTTPS certificate.
func world(tb testing.TB) (string, *x509.CertPool) {
	tb.Helper()
	mux := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		qq := q.Question[0]
		n, _ := asked.LoadOrStore(strings.ToLower(qq.Name), new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		if strings.HasPrefix(strings.ToLower(qq.Name), "slow.") {
			time.Sleep(3 * time.Second)
		}
		addrs, ok := zone[strings.ToLower(qq.Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, a := range addrs {
			ip := net.ParseIP(a)
			hdr := dns.RR_Header{Name: qq.Name, Class: dns.ClassINET, Ttl: 60}
			switch {
			case ip.To4() != nil && qq.Qtype == dns.TypeA:
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip})
			case ip.To4() == nil && qq.Qtype == dns.TypeAAAA:
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
			}
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:5353")
	if err != nil {
		tb.Fatal(err)
	}
	ds := &dns.Server{PacketConn: pc, Handler: mux}
	go func() { _ = ds.ActivateAndServe() }()
	tb.Cleanup(func() { _ = ds.Shutdown() })

	cert, pool := selfSigned(tb, "allowed.test", "other.test", "v6only.test", "a.wild.test")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "host=%s local=%s", r.Host, r.Context().Value(http.LocalAddrContextKey))
	})
	for _, port := range []string{":80", ":443"} {
		l, err := net.Listen("tcp", port)
		if err != nil {
			tb.Fatal(err)
		}
		srv := &http.Server{Handler: handler}
		if port == ":443" {
			l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}})
		}
		go func() { _ = srv.Serve(l) }()
		tb.Cleanup(func() { srv.Close() })
	}
	echo, err := net.Listen("tcp", ":7")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	return "127.0.0.1:5353", pool
}

func selfSigned(tb testing.TB, names ...string) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// started is a proxy the test serves, with the decisions it reported.
type started struct {
	proxy, proxy6, dns string
	mu                 sync.Mutex
	log                []Decision
}

func (st *started) decisions() []Decision {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]Decision(nil), st.log...)
}

func serveProxy(tb testing.TB, p *network.Proxy) *started {
	tb.Helper()
	st := &started{}
	s := New(p, func(d Decision) {
		st.mu.Lock()
		st.log = append(st.log, d)
		st.mu.Unlock()
	})
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { l.Close() })
		go func() { _ = s.ServeProxy(l) }()
		if st.proxy == "" {
			st.proxy = l.Addr().String()
		} else {
			st.proxy6 = l.Addr().String()
		}
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	go func() { _ = s.ServeDNS(pc, nil) }()
	st.dns = pc.LocalAddr().String()
	return st
}

func testProxy(upstream string) *network.Proxy {
	return &network.Proxy{
		Default:  "t.yaml:9:5",
		Upstream: []string{upstream},
		Rules: []network.ProxyRule{
			{Domain: "allowed.test", Ports: []uint16{443, 80, 7}, Pos: "t.yaml:1:1"},
			{Domain: "*.wild.test", Pos: "t.yaml:2:1"},
			{Domain: "v6only.test", SNIOptional: true, Pos: "t.yaml:3:1"},
			{Domain: "loop.test", Pos: "t.yaml:4:1"},
			{Domain: "slow.test", Pos: "t.yaml:6:1"},
			{Prefix: "192.0.2.30/32", Ports: []uint16{7}, Pos: "t.yaml:5:1"},
		},
	}
}

func httpsVia(proxyAddr string, pool *x509.CertPool, serverName string) *http.Client {
	u, _ := url.Parse("http://" + proxyAddr)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy:           http.ProxyURL(u),
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName},
	}}
}

func get(c *http.Client, u string) (string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %s: %s", resp.Status, b)
	}
	return string(b), nil
}

func TestProxy(t *testing.T) {
	if !netns(t) {
		return
	}
	upstream, pool := world(t)
	st := serveProxy(t, testProxy(upstream))

	t.Run("connect allowed", func(t *testing.T) {
		body, err := get(httpsVia(st.proxy, pool, ""), "https://allowed.test/")
		if err != nil || !strings.Contains(body, "host=allowed.test local=192.0.2.10:443") {
			t.Fatalf("got %q, %v", body, err)
		}
	})
	t.Run("connect wildcard", func(t *testing.T) {
		body, err := get(httpsVia(st.proxy, pool, ""), "https://a.wild.test/")
		if err != nil || !strings.Contains(body, "host=a.wild.test") {
			t.Fatalf("got %q, %v", body, err)
		}
	})
	t.Run("names cached", func(t *testing.T) {
		for range 3 {
			if _, err := get(httpsVia(st.proxy, pool, ""), "http://b.c.wild.test/"); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := asked.Load("b.c.wild.test."); n == nil || n.(*atomic.Int64).Load() != 2 {
			t.Errorf("b.c.wild.test. asked %v times for three connections, want 2 (A and AAAA once)", n)
		}
	})
	t.Run("plain http allowed", func(t *testing.T) {
		body, err := get(httpsVia(st.proxy, pool, ""), "http://allowed.test/x")
		if err != nil || !strings.Contains(body, "host=allowed.test local=192.0.2.10:80") {
			t.Fatalf("got %q, %v", body, err)
		}
	})
	t.Run("denied at once", func(t *testing.T) {
		for _, u := range []string{"https://other.test/", "http://other.test/", "https://wild.test/", "https://allowed.test:8443/"} {
			t0 := time.Now()
			body, err := get(httpsVia(st.proxy, pool, ""), u)
			if err == nil {
				t.Errorf("%s: allowed: %q", u, body)
				continue
			}
			if !strings.Contains(err.Error(), "Forbidden") && !strings.Contains(err.Error(), "403") || time.Since(t0) > time.Second {
				t.Errorf("%s: %v after %v, want 403 at once", u, err, time.Since(t0))
			}
		}
		c, err := net.Dial("tcp", st.proxy)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "CONNECT other.test:443 HTTP/1.1\r\nHost: other.test:443\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 403 || !strings.Contains(string(b), "other.test:443 is not allowed") || !strings.Contains(string(b), "t.yaml:9:5") {
			t.Errorf("denied CONNECT: %s %q", resp.Status, b)
		}
	})
	t.Run("host header differs", func(t *testing.T) {
		// RFC 9112 3.2.2: the URL's host decides, and is what the
		// server is told.
		c, err := net.Dial("tcp", st.proxy)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET http://allowed.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), "host=allowed.test local=192.0.2.10:80") {
			t.Errorf("Host other than the URL's: %s %q", resp.Status, b)
		}
	})
	t.Run("sni differs", func(t *testing.T) {
		// The CONNECT names allowed.test; the ClientHello other.test,
		// whose certificate the server has too.
		body, err := get(httpsVia(st.proxy, pool, "other.test"), "https://allowed.test/")
		if err == nil {
			t.Fatalf("SNI other.test through CONNECT allowed.test: %q", body)
		}
		// No SNI at all (an address as server name) on 443.
		c := httpsVia(st.proxy, pool, "")
		c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true, ServerName: "192.0.2.10"}
		if body, err := get(c, "https://allowed.test/"); err == nil {
			t.Fatalf("no SNI through CONNECT allowed.test: %q", body)
		}
		var reasons []string
		for _, d := range st.decisions() {
			if d.Via == "connect" && !d.Allowed && d.Name == "allowed.test" && d.Reason != "" {
				reasons = append(reasons, d.Reason)
			}
		}
		if len(reasons) != 2 || !strings.Contains(reasons[0], `names "other.test", not "allowed.test"`) || !strings.Contains(reasons[1], "names no server") {
			t.Errorf("decisions: %q", reasons)
		}
	})
	t.Run("sni optional", func(t *testing.T) {
		// No server name (an address) passes a rule with sni optional;
		// another name still does not.
		c := httpsVia(st.proxy6, pool, "")
		c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true, ServerName: "2001:db8::10"}
		if body, err := get(c, "https://v6only.test/"); err != nil || !strings.Contains(body, "host=v6only.test") {
			// A CONNECT the proxy answers 502 shows in the client only as
			// "Bad Gateway": the proxy's decisions say why.
			t.Errorf("no SNI, sni optional: %q, %v (decisions: %+v)", body, err, st.decisions())
		}
		if body, err := get(httpsVia(st.proxy6, pool, "other.test"), "https://v6only.test/"); err == nil {
			t.Errorf("SNI other.test, sni optional: %q", body)
		}
	})
	t.Run("socks5", func(t *testing.T) {
		d, err := proxy.SOCKS5("tcp", st.proxy, nil, proxy.Direct)
		if err != nil {
			t.Fatal(err)
		}
		c, err := d.Dial("tcp", "allowed.test:7")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, "ping")
		b := make([]byte, 4)
		_, err = io.ReadFull(c, b)
		c.Close()
		if err != nil || string(b) != "ping" {
			t.Fatalf("echo through SOCKS5: %q, %v", b, err)
		}
		tr := &http.Transport{DialContext: d.(proxy.ContextDialer).DialContext, TLSClientConfig: &tls.Config{RootCAs: pool}}
		if body, err := get(&http.Client{Transport: tr, Timeout: 5 * time.Second}, "https://allowed.test/"); err != nil || !strings.Contains(body, "host=allowed.test") {
			t.Fatalf("HTTPS through SOCKS5: %q, %v", body, err)
		}
		t0 := time.Now()
		if _, err := d.Dial("tcp", "other.test:7"); err == nil || !strings.Contains(err.Error(), "not allowed") || time.Since(t0) > time.Second {
			t.Errorf("SOCKS5 to a denied name: %v after %v", err, time.Since(t0))
		}
		// By address: allowed only where an address rule allows it.
		if _, err := d.Dial("tcp", "192.0.2.10:7"); err == nil {
			t.Error("SOCKS5 to an allowed name's address: no error")
		}
		c, err = d.Dial("tcp", "192.0.2.30:7")
		if err != nil {
			t.Fatalf("SOCKS5 to an address rule's address: %v", err)
		}
		c.Close()
	})
	t.Run("ipv6", func(t *testing.T) {
		body, err := get(httpsVia(st.proxy6, pool, ""), "https://v6only.test/")
		if err != nil || !strings.Contains(body, "local=[2001:db8::10]:443") {
			t.Fatalf("got %q, %v", body, err)
		}
		d, _ := proxy.SOCKS5("tcp", st.proxy6, nil, proxy.Direct)
		if _, err := d.Dial("tcp", "other.test:7"); err == nil {
			t.Error("SOCKS5 over IPv6 to a denied name: no error")
		}
	})
	t.Run("no loopback through a name", func(t *testing.T) {
		body, err := get(httpsVia(st.proxy, pool, ""), "http://loop.test/")
		if err == nil || !strings.Contains(body, "loopback") {
			t.Fatalf("loop.test (127.0.0.1): %q, %v", body, err)
		}
	})
	t.Run("dns", func(t *testing.T) {
		ask := func(name string, qtype uint16) *dns.Msg {
			m := new(dns.Msg)
			m.SetQuestion(name, qtype)
			r, err := dns.Exchange(m, st.dns)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return r
		}
		if r := ask("allowed.test.", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.10" {
			t.Errorf("allowed.test A: %v", r)
		}
		if r := ask("V6ONLY.test.", dns.TypeAAAA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("v6only.test AAAA: %v", r)
		}
		for _, name := range []string{"other.test.", "wild.test.", "secret-data.example.", "h1.test."} {
			if r := ask(name, dns.TypeA); r.Rcode != dns.RcodeNameError || len(r.Answer) != 0 {
				t.Errorf("%s: %v, want NXDOMAIN", name, r)
			}
		}
	})
	t.Run("dns in flight", func(t *testing.T) {
		// The test's name server takes 3 s for slow.test: of
		// MaxAsking+20 questions at once, 20 fail at once.
		var wg sync.WaitGroup
		var failed atomic.Int64
		for range MaxAsking + 20 {
			wg.Go(func() {
				m := new(dns.Msg)
				m.SetQuestion("slow.test.", dns.TypeA)
				c := &dns.Client{Timeout: 5 * time.Second}
				r, _, err := c.Exchange(m, st.dns)
				if err == nil && r.Rcode == dns.RcodeServerFailure {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		if failed.Load() < 20 {
			t.Errorf("%d of %d questions at once failed, want at least 20", failed.Load(), MaxAsking+20)
		}
	})
	t.Run("log", func(t *testing.T) {
		var allowed, denied int
		for _, d := range st.decisions() {
			if d.Rule == "" || d.Name == "" || d.Via == "" {
				t.Errorf("incomplete decision %+v", d)
			}
			if d.Allowed {
				allowed++
			} else {
				denied++
			}
		}
		if allowed == 0 || denied == 0 {
			t.Errorf("%d allowed, %d denied", allowed, denied)
		}
	})
}

// TestProxiesApart serves 50 proxies at once, proxy i allowing only
// h<i>.test, and checks from each that its own name is reachable and
// its neighbours' are not.
func TestProxiesApart(t *testing.T) {
	if !netns(t) {
		return
	}
	upstream, _ := world(t)
	const n = 50
	proxies := make([]*started, n)
	for i := range n {
		proxies[i] = serveProxy(t, &network.Proxy{Default: fmt.Sprintf("p%d.yaml:1:1", i), Upstream: []string{upstream},
			Rules: []network.ProxyRule{{Domain: fmt.Sprintf("h%d.test", i), Ports: []uint16{80}, Pos: fmt.Sprintf("p%d.yaml:2:3", i)}}})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i := range n {
		wg.Go(func() {
			c := httpsVia(proxies[i].proxy, nil, "")
			if body, err := get(c, fmt.Sprintf("http://h%d.test/", i)); err != nil || !strings.Contains(body, fmt.Sprintf("host=h%d.test", i)) {
				errs <- fmt.Errorf("proxy %d to its own name: %q, %v", i, body, err)
			}
			for _, j := range []int{(i + 1) % n, (i + n - 1) % n} {
				if body, err := get(c, fmt.Sprintf("http://h%d.test/", j)); err == nil {
					errs <- fmt.Errorf("proxy %d reached h%d.test: %q", i, j, body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, p := range proxies {
		for _, d := range p.decisions() {
			want := fmt.Sprintf("p%d.yaml:", i)
			if !strings.HasPrefix(d.Rule, want) {
				t.Errorf("proxy %d decided by %s", i, d.Rule)
			}
		}
	}
}

// BenchmarkConnect measures a connection with one request and reply to
// the echo server, directly and through the proxy (CONNECT), and the
// throughput of a 64 MiB stream each way.
func BenchmarkConnect(b *testing.B) {
	if !netns(b) {
		return
	}
	upstream, _ := world(b)
	st := serveProxy(b, testProxy(upstream))
	dialDirect := func() (net.Conn, error) { return net.Dial("tcp", "192.0.2.10:7") }
	connect := func(target string) (net.Conn, error) {
		c, err := net.Dial("tcp", st.proxy)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 || br.Buffered() != 0 {
			c.Close()
			return nil, fmt.Errorf("CONNECT: %v %v", resp, err)
		}
		return c, nil
	}
	// By name: the proxy asks the name server each time; by address (an
	// address rule): the proxy's own cost.
	dialProxy := func() (net.Conn, error) { return connect("allowed.test:7") }
	dialProxyAddr := func() (net.Conn, error) { return connect("192.0.2.30:7") }
	for _, via := range []struct {
		name string
		dial func() (net.Conn, error)
	}{{"direct", dialDirect}, {"proxy", dialProxy}, {"proxy-by-address", dialProxyAddr}} {
		b.Run("latency/"+via.name, func(b *testing.B) {
			buf := make([]byte, 4)
			for b.Loop() {
				c, err := via.dial()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Write([]byte("ping")); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
		b.Run("throughput/"+via.name, func(b *testing.B) {
			const size = 64 << 20
			chunk := make([]byte, 256<<10)
			b.SetBytes(size)
			for b.Loop() {
				c, err := via.dial()
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				go func() {
					for sent := 0; sent < size && ctx.Err() == nil; sent += len(chunk) {
						if _, err := c.Write(chunk); err != nil {
							return
						}
					}
				}()
				if _, err := io.CopyN(io.Discard, c, size); err != nil {
					b.Fatal(err)
				}
				cancel()
				c.Close()
			}
		})
	}
}

// TestMaxConns holds MaxConns connections open in their header phase:
// one more is closed at once.
func TestMaxConns(t *testing.T) {
	if !netns(t) {
		return
	}
	upstream, _ := world(t)
	st := serveProxy(t, testProxy(upstream))
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for range MaxConns {
		c, err := net.Dial("tcp", st.proxy)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// The proxy accepts in order: it has accepted them all when the
	// last is answered, and that one keeps its slot, as a tunnel.
	last := held[MaxConns-1]
	fmt.Fprintf(last, "CONNECT allowed.test:7 HTTP/1.1\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(last), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT on the last connection: %v, %v", resp, err)
	}
	c, err := net.Dial("tcp", st.proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("connection %d: read %d, %v; want EOF at once", MaxConns+1, n, err)
	}
}
