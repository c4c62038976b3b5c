package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/internal/network/lease"
	"github.com/cellsandbox/cell/internal/network/link"
	"github.com/cellsandbox/cell/internal/network/nft"
	"github.com/cellsandbox/cell/internal/sandbox"
)

// testNet is a network namespace that a test makes to stand for the
// host: cell runs in it, so its bridges, veths, rules and traffic never
// touch the machine's own network, and the namespace goes when the test
// ends.
type testNet struct {
	t      *testing.T
	holder *exec.Cmd
	stdin  io.WriteCloser
	fd     int
}

// newTestNet makes a network namespace held by a child process, with
// loopback up and IPv4 forwarding on (for NAT).
func newTestNet(t *testing.T) *testNet {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := exec.Command(self)
	h.Args[0] = sandbox.UsernsHolder // reads stdin until it closes
	// No parent-death signal: it is sent when the forking thread ends,
	// and do's threads end; the holder ends when stdin closes, which
	// the test process's death does too.
	h.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	stdin, err := h.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", h.Process.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		h.Process.Kill()
		h.Wait()
		t.Fatal(err)
	}
	n := &testNet{t: t, holder: h, stdin: stdin, fd: fd}
	t.Cleanup(n.close)
	if err := n.do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err == nil {
			err = os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// close ends the namespace and removes the lease files cell kept for it.
func (n *testNet) close() {
	var st unix.Stat_t
	if unix.Fstat(n.fd, &st) == nil {
		files, _ := filepath.Glob(filepath.Join(lease.LeaseDir, fmt.Sprintf("%d-*.json", st.Ino)))
		for _, f := range files {
			os.Remove(f)
		}
	}
	unix.Close(n.fd)
	n.stdin.Close()
	n.holder.Wait()
}

// do runs f on a thread in the namespace. The thread is not given back to
// the Go runtime: it ends with the goroutine, namespace and all.
func (n *testNet) do(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns: %w", err)
			return
		}
		done <- f()
	}()
	return <-done
}

// start starts cmd in the namespace: a process is forked from the
// calling thread, and so is born in its namespace.
func (n *testNet) start(cmd *exec.Cmd) {
	n.t.Helper()
	if err := n.do(cmd.Start); err != nil {
		n.t.Fatal(err)
	}
}

// cell runs cell with args in the namespace.
func (n *testNet) cell(args ...string) cellResult {
	n.t.Helper()
	return n.run(cellCmd(n.t, args...))
}

func (n *testNet) run(cmd *exec.Cmd) cellResult {
	n.t.Helper()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	n.start(cmd)
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		n.t.Fatalf("run cell: %v", err)
	}
	return cellResult{out.String(), errb.String(), code}
}

// serve answers each connection on addr, in the namespace, with the
// peer's address, until the test ends.
func (n *testNet) serve(addr string) {
	n.t.Helper()
	var l net.Listener
	if err := n.do(func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "peer %s", host)
			c.Close()
		}
	}()
}

// dial connects from the namespace to addr and returns the reply.
func (n *testNet) dial(addr string) (string, error) {
	var reply []byte
	err := n.do(func() error {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		reply, err = io.ReadAll(c)
		return err
	})
	return string(reply), err
}

// links lists the namespace's interfaces.
func (n *testNet) links() []string {
	var names []string
	n.do(func() error {
		ls, err := netlink.LinkList()
		for _, l := range ls {
			names = append(names, l.Attrs().Name)
		}
		return err
	})
	slices.Sort(names)
	return names
}

// settledLinks waits until the namespace's interfaces are want, for up
// to 10 s, and returns the last list: a sandbox's veth goes with its
// namespace, which the kernel tears down after the sandbox has ended.
func (n *testNet) settledLinks(want ...string) []string {
	deadline := time.Now().Add(10 * time.Second)
	got := n.links()
	for !slices.Equal(got, want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		got = n.links()
	}
	return got
}

// ruleOwners lists the comments of the rules in cell's host table.
func (n *testNet) ruleOwners() []string {
	n.t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(n.fd))
	if err != nil {
		n.t.Fatal(err)
	}
	owners, err := nft.Owners(c, "ip", network.HostTable)
	if err != nil {
		n.t.Fatal(err)
	}
	slices.Sort(owners)
	return owners
}

// leases returns the addresses leased on the bridge.
func (n *testNet) leases(bridge string) []lease.Holder {
	n.t.Helper()
	var hs []lease.Holder
	if err := n.do(func() (err error) { hs, err = lease.Leases(bridge); return err }); err != nil {
		n.t.Fatal(err)
	}
	return hs
}

// outside makes a second namespace beyond the test's host, joined to it
// by a veth pair: the host is 198.51.100.1, the outside 198.51.100.2,
// which has no route back to a bridge's subnet, so only NAT reaches it.
func (n *testNet) outside() *testNet {
	n.t.Helper()
	o := newTestNet(n.t)
	if err := n.do(func() error {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "up0"}, PeerName: "up1", PeerNamespace: netlink.NsFd(o.fd)}
		if err := netlink.LinkAdd(v); err != nil {
			return err
		}
		return link.AddrAdd("up0", "198.51.100.1/24")
	}); err != nil {
		n.t.Fatal(err)
	}
	if err := o.do(func() error { return link.AddrAdd("up1", "198.51.100.2/24") }); err != nil {
		n.t.Fatal(err)
	}
	return o
}

// netProfile is the base test profile with a network section.
func netProfile(t *testing.T, network string) string {
	return profile(t, "network:\n"+network)
}

func probeArgs(prof, probe string, args ...string) []string {
	return append([]string{"run", "-p", prof, "--set", "process.env.CELL_PROBE=" + probe, "--", "/probe"}, args...)
}

// TestNetBridge runs sandboxes on a bridge in a namespace the test made:
// two reach each other, a published port reaches a server inside, NAT
// reaches beyond the host and its absence does not, and teardown leaves
// only the bridge and its shared rules.
func TestNetBridge(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	n := newTestNet(t)
	out := n.outside()
	out.serve("198.51.100.2:9000")

	server := cellCmd(t, probeArgs(netProfile(t, "  mode: bridge\n  dns: [192.0.2.53]\n  ports: [\"18080:8080\"]\n"), "serve", "8080", "2")...)
	stdout, _ := server.StdoutPipe()
	var serverErr strings.Builder
	server.Stderr = &serverErr
	n.start(server)
	t.Cleanup(func() { server.Process.Kill(); server.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok || !strings.HasPrefix(addr, "10.88.0.") {
		server.Process.Kill()
		server.Wait()
		t.Fatalf("bridged server: %q %v; stderr %s", line, err, serverErr.String())
	}

	mac := func() string {
		var m string
		n.do(func() error {
			l, err := netlink.LinkByName("cell0")
			if err == nil {
				m = l.Attrs().HardwareAddr.String()
			}
			return err
		})
		return m
	}
	// The bridge's address is its own, set when it was made, not its
	// lowest port's, which changes as sandboxes come and go.
	bridgeMAC := mac()
	t.Cleanup(func() {
		if got := mac(); got != bridgeMAC || bridgeMAC == "" {
			t.Errorf("the bridge's MAC address changed from %q to %q as sandboxes came and went", bridgeMAC, got)
		}
	})
	if r := n.cell("ps", "--json"); !strings.Contains(r.stdout, `"address": "`+addr+`"`) {
		t.Errorf("cell ps does not show the bridged sandbox's address %s: %s", addr, r)
	}

	plain := netProfile(t, "  mode: bridge\n  dns: [192.0.2.53]\n")
	r := n.cell(probeArgs(plain, "dial", addr+":8080")...)
	if !strings.HasPrefix(r.stdout, "reply peer 10.88.0.") || strings.Contains(r.stdout, addr+"\n") {
		t.Errorf("sandbox to sandbox on the bridge: %s", r)
	}
	if reply, err := n.dial("10.88.0.1:18080"); err != nil || !strings.HasPrefix(reply, "peer ") {
		t.Errorf("published port 18080 -> %s:8080 from the host: %q %v", addr, reply, err)
	}
	if err := server.Wait(); err != nil {
		t.Errorf("server: %v; %s", err, serverErr.String())
	}

	natted := netProfile(t, "  mode: bridge\n  nat: true\n  dns: [192.0.2.53]\n")
	if r := n.cell(probeArgs(natted, "dial", "198.51.100.2:9000")...); r.stdout != "reply peer 198.51.100.1\n" {
		t.Errorf("NAT: want the outside to see the host's address; %s", r)
	}
	if r := n.cell(probeArgs(plain, "dial", "198.51.100.2:9000")...); !strings.HasPrefix(r.stdout, "dial: ") {
		t.Errorf("without nat the outside must be out of reach; %s", r)
	}

	if got := n.settledLinks("cell0", "lo", "up0"); !slices.Equal(got, []string{"cell0", "lo", "up0"}) {
		t.Errorf("links left in the host namespace: %v", got)
	}
	if hs := n.leases("cell0"); len(hs) != 0 {
		t.Errorf("leases left: %+v", hs)
	}
	want := []string{"bridge:cell0:established", "bridge:cell0:isolate"}
	if got := n.ruleOwners(); !slices.Equal(got, want) {
		t.Errorf("rules left: %v, want only the bridge's %v", got, want)
	}
}

// TestNetBridgeConcurrent launches 50 bridged sandboxes at once: each
// gets an address of its own, and all are given back.
func TestNetBridgeConcurrent(t *testing.T) {
	requirePrivilege(t)
	n := newTestNet(t)
	prof := netProfile(t, "  mode: bridge\n  dns: [192.0.2.53]\n")
	const count = 50
	results := make([]cellResult, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Add(1)
		cmd := cellCmd(t, "run", "-p", prof, "--", "sh", "-c", "ip -4 -o addr show dev eth0 && sleep 4")
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		n.start(cmd)
		go func() {
			defer wg.Done()
			err := cmd.Wait()
			results[i] = cellResult{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
			if err != nil && results[i].code == 0 {
				results[i].code = -1
			}
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for i, r := range results {
		// "2: eth0    inet 10.88.0.7/24 brd ..."
		f := strings.Fields(r.stdout)
		a := ""
		if len(f) > 3 {
			a = f[3]
		}
		if r.code != 0 || !strings.HasPrefix(a, "10.88.0.") {
			t.Errorf("sandbox %d: %s", i, r)
			continue
		}
		if j, dup := seen[a]; dup {
			t.Errorf("sandboxes %d and %d both got %s", j, i, a)
		}
		seen[a] = i
	}
	if hs := n.leases("cell0"); len(hs) != 0 {
		t.Errorf("leases left: %+v", hs)
	}
	if got := n.settledLinks("cell0", "lo"); !slices.Equal(got, []string{"cell0", "lo"}) {
		t.Errorf("links left: %v", got)
	}
}

// TestNetEgress allows one address and port: a connection there succeeds,
// another port of the same address is refused, and the command, without
// CAP_NET_ADMIN, cannot delete the rules.
func TestNetEgress(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	n := newTestNet(t)
	out := n.outside()
	out.serve("198.51.100.2:9000")
	out.serve("198.51.100.2:9001")
	prof := netProfile(t, `  mode: bridge
  nat: true
  dns: [192.0.2.53]
  egress:
    default: deny
    allow:
      - {to: 198.51.100.2, ports: [9000], proto: tcp}
`)
	if r := n.cell(probeArgs(prof, "dial", "198.51.100.2:9000")...); r.stdout != "reply peer 198.51.100.1\n" {
		t.Errorf("allowed address and port: %s", r)
	}
	if r := n.cell(probeArgs(prof, "dial", "198.51.100.2:9001")...); !strings.Contains(r.stdout, "connection refused") {
		t.Errorf("a port the allow list does not name must be refused: %s", r)
	}
	if r := n.cell(probeArgs(prof, "nft-flush")...); !strings.Contains(r.stdout, "operation not permitted") {
		t.Errorf("the command deleted or tried to delete the egress table: %s", r)
	}
	// The same profile without the rules reaches the other port: the
	// refusal above is the rules' doing.
	open := netProfile(t, "  mode: bridge\n  nat: true\n  dns: [192.0.2.53]\n")
	if r := n.cell(probeArgs(open, "dial", "198.51.100.2:9001")...); r.stdout != "reply peer 198.51.100.1\n" {
		t.Errorf("without egress rules: %s", r)
	}
}

// TestNetBridgeKilled SIGKILLs a bridged cell with NAT and a published
// port: its rules and lease outlive it until cell gc takes them back.
func TestNetBridgeKilled(t *testing.T) {
	requirePrivilege(t)
	n := newTestNet(t)
	prof := netProfile(t, "  mode: bridge\n  nat: true\n  dns: [192.0.2.53]\n  ports: [\"18081:80\"]\n")
	cmd := cellCmd(t, "run", "-p", prof, "--", "sh", "-c", "echo up; sleep 30")
	stdout, _ := cmd.StdoutPipe()
	n.start(cmd)
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "up\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("sandbox did not start: %q", line)
	}
	hs := n.leases("cell0")
	if len(hs) != 1 {
		t.Fatalf("want one lease while it runs, have %+v", hs)
	}
	cmd.Process.Kill()
	cmd.Wait()
	owners := n.ruleOwners()
	if !slices.Contains(owners, hs[0].Owner) {
		t.Fatalf("the killed sandbox's rules should still be there before gc: %v", owners)
	}
	r := n.cell("gc")
	if r.code != 0 || !strings.Contains(r.stdout, "removed lease "+hs[0].Addr+" of "+hs[0].Owner) {
		t.Errorf("cell gc: %s", r)
	}
	if hs := n.leases("cell0"); len(hs) != 0 {
		t.Errorf("leases left after gc: %+v", hs)
	}
	if got := n.ruleOwners(); slices.Contains(got, hs[0].Owner) {
		t.Errorf("rules left after gc: %v", got)
	}
	// The veth went with the sandbox's namespace.
	if got := n.settledLinks("cell0", "lo"); !slices.Equal(got, []string{"cell0", "lo"}) {
		t.Errorf("links left: %v", got)
	}
}

// userNetCell prepares cell run of the probe as the unprivileged test
// user, in the test network's namespace, with network.mode user and extra
// network fields; args are the probe's name and arguments. It skips or
// fails (CI) without slirp4netns.
func userNetCell(t *testing.T, extra string, args ...string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		if os.Getenv("CELL_TEST_STRICT") != "" {
			t.Fatal("slirp4netns is missing; .ci/run installs it")
		}
		t.Skip("no slirp4netns")
	}
	uid, gid, dir, bin := rootlessUser(t)
	prof := filepath.Join(dir, "user.yaml")
	if err := os.WriteFile(prof, []byte(profileText(t, bin)+"network:\n  mode: user\n"+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	// /dev/net/tun is root's only on some hosts (0600 here), which keeps
	// an unprivileged user from any tap device. The test changes nothing
	// of the host's: cell runs in a mount namespace of its own, where a
	// tmpfs on /dev/net holds a tun node that the user may open.
	const script = `mount -t tmpfs -o mode=0755 cell-test /dev/net && mknod -m 0666 /dev/net/tun c 10 200 && g=$1; shift; exec setpriv --reuid=$0 --regid=$g --clear-groups -- "$@"`
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation=private", "sh", "-c", script, fmt.Sprint(uid), fmt.Sprint(gid),
		bin, "run", "-p", prof, "--set", "process.env.CELL_PROBE=" + args[0], "--", "/probe"}, args[1:]...)...)
	cmd.Env = []string{"CELL_TEST_MAIN=1", "HOME=/", "USER=celltest", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Dir = dir
	return cmd
}

// TestNetUser runs an unprivileged sandbox with the user-mode network: it
// reaches a server on the host namespace's loopback through slirp4netns
// only when hostLoopback allows it.
func TestNetUser(t *testing.T) {
	requirePrivilege(t)
	n := newTestNet(t)
	n.serve("127.0.0.1:9100")
	if r := n.run(userNetCell(t, "  hostLoopback: true\n", "dial", "10.0.2.2:9100")); r.stdout != "reply peer 127.0.0.1\n" {
		t.Errorf("user-mode network to the host's loopback: %s", r)
	}
	if r := n.run(userNetCell(t, "", "dial", "10.0.2.2:9100")); !strings.HasPrefix(r.stdout, "dial: ") {
		t.Errorf("without hostLoopback the host's loopback must be out of reach: %s", r)
	}
}

// TestNetUserPorts publishes a port of an unprivileged sandbox through
// slirp4netns: a connection to the test host's port reaches the server
// inside, from the gateway's address.
func TestNetUserPorts(t *testing.T) {
	requirePrivilege(t)
	n := newTestNet(t)
	cmd := userNetCell(t, "  ports: [\"18090:8080\"]\n", "serve", "8080")
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	n.start(cmd)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || !strings.HasPrefix(line, "listening 10.0.2.100") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("server in the sandbox: %q %v; %s", line, err, stderr.String())
	}
	reply, err := n.dial("127.0.0.1:18090")
	if err != nil || !strings.HasPrefix(reply, "peer ") {
		t.Errorf("published port 18090 -> 8080: %q %v; %s", reply, err, stderr.String())
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("server: %v; %s", err, stderr.String())
	}
}
