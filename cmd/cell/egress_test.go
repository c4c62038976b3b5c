package main

import (
	"bufio"
	ctx "context"
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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/proxy"
	"golang.org/x/sys/unix"
)

// egressProbe runs inside a sandbox with domain egress rules:
//
//	connect PROXY TARGET...  CONNECT through the HTTP proxy at PROXY
//	socks PROXY TARGET...    SOCKS5 through PROXY
//	tls PROXY TARGET SNI     CONNECT, then a TLS handshake naming SNI
//	resolve NAME...          the sandbox's name server, as Go asks it
//
// and prints one line per target.
func egressProbe(name string, args []string) int {
	switch name {
	case "connect":
		for _, target := range args[1:] {
			c, err := connectVia(args[0], target)
			if err != nil {
				fmt.Printf("%s %v\n", target, err)
				continue
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			b, _ := io.ReadAll(c)
			c.Close()
			fmt.Printf("%s reply %s\n", target, b)
		}
	case "socks":
		d, err := proxy.SOCKS5("tcp", args[0], nil, &net.Dialer{Timeout: 10 * time.Second})
		if err != nil {
			fmt.Println("socks:", err)
			return 1
		}
		for _, target := range args[1:] {
			c, err := d.Dial("tcp", target)
			if err != nil {
				fmt.Printf("%s socks: %v\n", target, err)
				continue
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			b, _ := io.ReadAll(c)
			c.Close()
			fmt.Printf("%s reply %s\n", target, b)
		}
	case "tls":
		c, err := connectVia(args[0], args[1])
		if err != nil {
			fmt.Println(err)
			return 0
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Client(c, &tls.Config{ServerName: args[2], InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			fmt.Println("handshake:", err)
			return 0
		}
		b, _ := io.ReadAll(tc)
		fmt.Printf("handshake ok, reply %s\n", b)
	case "resolve":
		r := &net.Resolver{PreferGo: true}
		for _, n := range args {
			addrs, err := r.LookupHost(ctx.Background(), n)
			if err != nil {
				fmt.Printf("%s error %v\n", n, err)
				continue
			}
			fmt.Printf("%s %s\n", n, strings.Join(addrs, " "))
		}
	}
	return 0
}

// connectVia opens a tunnel to target through the HTTP proxy at addr; a
// refusal is an error with the proxy's status and first line of text.
func connectVia(addr, target string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		c.Close()
		return nil, fmt.Errorf("refused %d %s", resp.StatusCode, strings.SplitN(string(b), "\n", 2)[0])
	}
	_ = c.SetDeadline(time.Time{})
	// What the server sent may have come with the proxy's response.
	return bufferedConn{c, br}, nil
}

// bufferedConn reads what its reader buffered first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// egressWorld puts the "internet" of the egress tests in the test's
// network namespace: documentation addresses on its loopback, a server
// on port 9000 of each (answering with the peer's address), a TLS server
// on 192.0.2.10:9443, and a name server on 127.0.0.1:53 that knows
// allowed.test, other.test, v6.test and h0.test to h49.test.
func (n *testNet) egressWorld() {
	n.t.Helper()
	if err := n.do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		for _, a := range []string{"192.0.2.10/32", "192.0.2.20/32", "2001:db8::10/128"} {
			addr, _ := netlink.ParseAddr(a)
			addr.Flags = unix.IFA_F_NODAD
			if err := netlink.AddrAdd(lo, addr); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		n.t.Fatal(err)
	}
	for _, a := range []string{"192.0.2.10:9000", "192.0.2.20:9000", "[2001:db8::10]:9000"} {
		n.serve(a)
	}
	zone := map[string][]string{
		"allowed.test.": {"192.0.2.10"},
		"other.test.":   {"192.0.2.20"},
		"v6.test.":      {"2001:db8::10"},
	}
	for i := range 50 {
		zone[fmt.Sprintf("h%d.test.", i)] = []string{"192.0.2.10"}
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		qq := q.Question[0]
		addrs, ok := zone[strings.ToLower(qq.Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, a := range addrs {
			ip := net.ParseIP(a)
			hdr := dns.RR_Header{Name: qq.Name, Class: dns.ClassINET, Ttl: 60, Rrtype: qq.Qtype}
			switch {
			case ip.To4() != nil && qq.Qtype == dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip})
			case ip.To4() == nil && qq.Qtype == dns.TypeAAAA:
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
			}
		}
		_ = w.WriteMsg(m)
	})
	var pc net.PacketConn
	var tl net.Listener
	if err := n.do(func() (err error) {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:53"); err != nil {
			return err
		}
		tl, err = net.Listen("tcp", "192.0.2.10:9443")
		return err
	}); err != nil {
		n.t.Fatal(err)
	}
	ds := &dns.Server{PacketConn: pc, Handler: handler}
	go func() { _ = ds.ActivateAndServe() }()
	n.t.Cleanup(func() { _ = ds.Shutdown() })
	tl = tls.NewListener(tl, &tls.Config{Certificates: []tls.Certificate{testCert(n.t)}})
	n.t.Cleanup(func() { tl.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, "tls peer")
			c.Close()
		}
	}()
}

func testCert(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "allowed.test"}, DNSNames: []string{"allowed.test", "other.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// egressRules is the network section of the egress tests after the mode.
const egressRules = `  dns: [127.0.0.1]
  egress:
    default: deny
    allow:
      - {domain: allowed.test, ports: [9000, 9443]}
      - {domain: v6.test, ports: [9000]}
`

// checkEgress runs the probes of a sandbox with egressRules through run
// (bridge and none as root, user as the unprivileged user) and checks
// what the command reaches.
func checkEgress(t *testing.T, mode string, run func(probe string, args ...string) cellResult) {
	t.Helper()
	const p4, p6 = "127.0.0.1:3128", "[::1]:3128"
	t0 := time.Now()
	r := run("connect", p4, "allowed.test:9000", "other.test:9000", "allowed.test:9001", "v6.test:9000")
	want := []string{
		"allowed.test:9000 reply peer 192.0.2.10",
		"other.test:9000 refused 403 cell egress: other.test:9000 is not allowed",
		"allowed.test:9001 refused 403 cell egress: allowed.test:9001 is not allowed",
		"v6.test:9000 reply peer 2001:db8::10",
	}
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("CONNECT: want %q in\n%s", w, r)
		}
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Logf("the CONNECT probe took %v", d)
	}
	r = run("socks", p6, "allowed.test:9000", "other.test:9000", "192.0.2.10:9000")
	for _, w := range []string{"allowed.test:9000 reply peer 192.0.2.10", "other.test:9000 socks: ", "192.0.2.10:9000 socks: "} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("SOCKS5 over IPv6: want %q in\n%s", w, r)
		}
	}
	if r := run("tls", p4, "allowed.test:9443", "allowed.test"); !strings.Contains(r.stdout, "handshake ok, reply tls peer") {
		t.Errorf("TLS naming the CONNECT's name: %s", r)
	}
	if r := run("tls", p4, "allowed.test:9443", "other.test"); !strings.Contains(r.stdout, "handshake: ") {
		t.Errorf("TLS naming another name than the CONNECT's must fail: %s", r)
	}
	// A command that ignores the proxy is refused by the sandbox's own
	// egress chain, at once: the addresses are the test host's own,
	// which bridge and user reach without the rules. Mode none has no
	// route at all.
	r = run("dial", "192.0.2.10:9000")
	why := "connection refused"
	if mode == "none" {
		why = "network is unreachable"
	}
	if !strings.Contains(r.stdout, "dial: ") || !strings.Contains(r.stdout, why) {
		t.Errorf("a direct connection past the proxy must fail with %q: %s", why, r)
	}
	r = run("resolve", "allowed.test", "other.test", "v6.test")
	for _, w := range []string{"allowed.test 192.0.2.10", "other.test error", "v6.test 2001:db8::10"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("DNS: want %q in\n%s", w, r)
		}
	}
}

// TestNetEgressDomains runs sandboxes with domain egress rules in mode
// bridge and none, as root, in a namespace the test made.
func TestNetEgressDomains(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	n := newTestNet(t)
	n.egressWorld()
	for _, mode := range []string{"bridge", "none"} {
		t.Run(mode, func(t *testing.T) {
			prof := netProfile(t, "  mode: "+mode+"\n"+egressRules)
			checkEgress(t, mode, func(probe string, args ...string) cellResult {
				return n.cell(probeArgs(prof, probe, args...)...)
			})
		})
	}
	t.Run("log", func(t *testing.T) {
		prof := netProfile(t, "  mode: none\n"+egressRules)
		name := fmt.Sprintf("egress-log-%d", os.Getpid())
		log := filepath.Join("/run/cell", name+".egress.jsonl")
		os.Remove(log)
		t.Cleanup(func() { os.Remove(log) })
		r := n.cell(append([]string{"run", "--trace", "--name", name}, probeArgs(prof, "connect", "127.0.0.1:3128", "allowed.test:9000", "other.test:9000")[1:]...)...)
		// The rules' positions in the test profile: allow[0] is on
		// line 23, the default on line 21.
		for _, w := range []string{"cell: egress: allowed connect allowed.test:9000 by " + prof + ":23:9", "cell: egress: denied connect other.test:9000 by " + prof + ":21:14"} {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("--trace: want %q in\n%s", w, r.stderr)
			}
		}
		b, err := os.ReadFile(log)
		if err != nil || strings.Count(string(b), "\n") != 2 || !strings.Contains(string(b), `"name":"other.test","port":9000,"allowed":false,"rule":"`+prof+`:21:14"`) {
			t.Errorf("decision log %s: %v\n%s", log, err, b)
		}
	})
}

// TestNetUserEgressDomains runs an unprivileged sandbox with the user-mode
// network and domain egress rules.
func TestNetUserEgressDomains(t *testing.T) {
	requirePrivilege(t)
	n := newTestNet(t)
	n.egressWorld()
	checkEgress(t, "user", func(probe string, args ...string) cellResult {
		return n.run(userNetCell(t, egressRules, append([]string{probe}, args...)...))
	})
}

// TestNetEgressApart runs sandboxes at once, sandbox i allowed only
// h<i>.test: each reaches its own name and neither neighbour's, and its
// name server knows only its own.
func TestNetEgressApart(t *testing.T) {
	requirePrivilege(t)
	n := newTestNet(t)
	n.egressWorld()
	const count = 50
	var wg sync.WaitGroup
	results := make([]cellResult, count)
	for i := range count {
		prof := netProfile(t, fmt.Sprintf("  mode: none\n  dns: [127.0.0.1]\n  egress:\n    default: deny\n    allow:\n      - {domain: h%d.test, ports: [9000]}\n", i))
		prev, next := (i+count-1)%count, (i+1)%count
		cmd := cellCmd(t, probeArgs(prof, "connect", "127.0.0.1:3128", fmt.Sprintf("h%d.test:9000", i), fmt.Sprintf("h%d.test:9000", prev), fmt.Sprintf("h%d.test:9000", next))...)
		wg.Go(func() { results[i] = n.run(cmd) })
	}
	wg.Wait()
	for i, r := range results {
		prev, next := (i+count-1)%count, (i+1)%count
		for _, w := range []string{
			fmt.Sprintf("h%d.test:9000 reply peer 192.0.2.10", i),
			fmt.Sprintf("h%d.test:9000 refused 403", prev),
			fmt.Sprintf("h%d.test:9000 refused 403", next),
		} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("sandbox %d: want %q in\n%s", i, w, r)
			}
		}
	}
}

// TestNetEgressProxyEnds checks that the proxy process ends with its
// sandbox, and with cell when cell is killed.
func TestNetEgressProxyEnds(t *testing.T) {
	requirePrivilege(t)
	n := newTestNet(t)
	n.egressWorld()
	prof := netProfile(t, "  mode: none\n"+egressRules)
	// proxyOf finds the proxy process among cell's children (of any of
	// its threads).
	proxyOf := func(cell int) int {
		files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", cell))
		var kids []string
		for _, f := range files {
			b, _ := os.ReadFile(f)
			kids = append(kids, strings.Fields(string(b))...)
		}
		for _, f := range kids {
			argv, _ := os.ReadFile("/proc/" + f + "/cmdline")
			if strings.HasPrefix(string(argv), "cell-egress\x00") {
				var pid int
				fmt.Sscan(f, &pid)
				return pid
			}
		}
		return 0
	}
	gone := func(pid int) bool {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if err := unix.Kill(pid, 0); err == unix.ESRCH {
				return true
			}
			// A zombie is gone too: its parent (cell, killed) is no
			// longer there to reap it, init will.
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(st), ") Z ") {
				return true
			}
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}
	for _, kill := range []bool{false, true} {
		cmd := cellCmd(t, "run", "-p", prof, "--", "sh", "-c", "echo up; sleep 2")
		stdout, _ := cmd.StdoutPipe()
		n.start(cmd)
		if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "up\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("sandbox did not start: %q", line)
		}
		proxy := proxyOf(cmd.Process.Pid)
		if proxy == 0 {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("no cell-egress child of cell while the sandbox runs")
		}
		if kill {
			cmd.Process.Kill()
		}
		cmd.Wait()
		if !gone(proxy) {
			unix.Kill(proxy, unix.SIGKILL)
			t.Errorf("the proxy (pid %d) outlived its sandbox (cell killed: %v)", proxy, kill)
		}
	}
}
