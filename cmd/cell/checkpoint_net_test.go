package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/checkpoint"
	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/internal/network/lease"
	"github.com/cellsandbox/cell/internal/network/link"
)

// The checkpoints of bridged sandboxes. Each test makes a network
// namespace to stand for the host (testNet), so its bridge, leases,
// rules and veths never touch the machine's own network.

// ckptNetProfile is ckptProfile with the network section network.
func ckptNetProfile(t *testing.T, network string) string {
	self, _ := os.Executable()
	p := filepath.Join(t.TempDir(), "ckpt-net.yaml")
	y := fmt.Sprintf(ckptBase, self) + "resources:\n  memory: {max: 256Mi}\n  pids: {max: 64}\nnetwork:\n" + network
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startIn runs cell run in the test's namespace and waits for the
// probe's "ready".
func startIn(t *testing.T, n *testNet, name string, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := cellCmd(t, append([]string{"run", "--name", name}, args...)...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	n.start(cmd)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "ready") {
		t.Fatalf("sandbox %s did not start: %q", name, sc.Text())
	}
	return cmd, sc
}

// addressOf is the bridged address in the sandbox's record.
func addressOf(t *testing.T, name string) string {
	t.Helper()
	st, err := openStore()
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Get(name)
	if err != nil {
		t.Fatalf("record of %s: %v", name, err)
	}
	if !strings.HasPrefix(rec.Address, "10.88.0.") {
		t.Fatalf("sandbox %s's address: %q, want one of 10.88.0.0/24", name, rec.Address)
	}
	return rec.Address
}

// dialFrom connects to addr from a thread in the network namespace of
// process pid (the socket stays in it). No keepalive: the probes would go
// unanswered while the sandbox is on disk.
func dialFrom(pid int, addr string) (net.Conn, error) {
	var c net.Conn
	err := link.InNetns(pid, func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
		c, err = d.Dial("tcp", addr)
		return err
	})
	return c, err
}

// ping writes a word to c and wants it echoed within wait.
func ping(c net.Conn, word string, wait time.Duration) error {
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte(word)); err != nil {
		return err
	}
	buf := make([]byte, len(word))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != word {
		return fmt.Errorf("echo %q, want %q", buf, word)
	}
	return nil
}

// noNetLeft checks that nothing of the sandbox name is left in the
// test's host: no rule it owns, no lease, no veth, no record.
func noNetLeft(t *testing.T, n *testNet, name string) {
	t.Helper()
	if owners := n.ruleOwners(); slices.Contains(owners, name) {
		t.Errorf("rules of %s left: %v", name, owners)
	}
	for _, h := range n.leases("cell0") {
		if h.Owner == name {
			t.Errorf("lease of %s left: %+v", name, h)
		}
	}
	// The host end of the veth goes with the sandbox's network
	// namespace, which the kernel destroys after the last process has
	// left it, asynchronously: wait for it as settledLinks does.
	links := n.links()
	for deadline := time.Now().Add(10 * time.Second); slices.Contains(links, network.VethName(name)) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		links = n.links()
	}
	if slices.Contains(links, network.VethName(name)) {
		t.Errorf("veth %s of %s left: %v", network.VethName(name), name, links)
	}
	st, _ := openStore()
	if _, err := st.Get(name); err == nil {
		t.Errorf("record of %s left", name)
	}
}

// fakeBridgedCheckpoint is fakeCheckpoint with a bridged sandbox's
// network in its manifest.
func fakeBridgedCheckpoint(t *testing.T, planJSON []byte, nw *checkpoint.Network) string {
	dir := fakeCheckpoint(t, planJSON)
	b, err := os.ReadFile(filepath.Join(dir, checkpoint.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m checkpoint.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m.Network = nw
	// The plan's hash is of the compact JSON fakeCheckpoint wrote.
	var cb bytes.Buffer
	json.Compact(&cb, m.Plan)
	h := sha256.Sum256(cb.Bytes())
	if hex.EncodeToString(h[:]) != m.PlanSHA256 {
		t.Fatal("fakeCheckpoint's plan hash")
	}
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, checkpoint.ManifestFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCheckpointBridgeFailure runs on any host, CRIU or not: a restore
// of a bridged checkpoint whose address another sandbox holds is refused
// before anything is made, naming the address and the holder; once the
// address is free, a restore that fails after the network's steps (here
// at the check of cell's init, as a failing CRIU would) leaves no lease,
// rule, veth or record of the sandbox, though its steps ran (the bridge
// and its shared rules are there, as after a launch).
func TestCheckpointBridgeFailure(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	n := newTestNet(t)
	name := uniqueName("ckbf")
	prof := netProfile(t, "  mode: bridge\n  dns: [192.0.2.53]\n  ports: [\"18082:8080\"]\n")
	pj := cell(t, "plan", "--json", "-p", prof, "--name", name, "--", "/probe")
	if pj.code != 0 {
		t.Fatal(pj)
	}
	nw := &checkpoint.Network{Bridge: "cell0", Subnet: "10.88.0.0/24", Interface: "eth0", Address: "10.88.0.2", MAC: "02:00:00:00:00:02"}
	dir := fakeBridgedCheckpoint(t, []byte(pj.stdout), nw)
	if r := n.cell("plan", "--restore", dir); r.code != 0 || !strings.Contains(r.stdout, "{lease} = 10.88.0.2") || !strings.Contains(r.stdout, `release("`+name+`")`) {
		t.Errorf("cell plan --restore of a bridged checkpoint: %s", r)
	}

	// Another sandbox holds the address: refused, nothing made.
	if err := n.do(func() error {
		return lease.AcquireAddr("cell0", "10.88.0.0/24", "squatter", netip.MustParseAddr(nw.Address), nil)
	}); err != nil {
		t.Fatal(err)
	}
	r := n.cell("restore", dir)
	if r.code != 125 || !strings.Contains(r.stderr, "10.88.0.2 on bridge cell0 is held by sandbox squatter") {
		t.Errorf("restore onto a held address: %s\nwant status 125 (a step failed) naming the address and its holder", r)
	}
	noNetLeft(t, n, name)
	if slices.Contains(n.links(), "cell0") {
		t.Error("the refused restore made the bridge: the lease is its first step")
	}
	if hs := n.leases("cell0"); len(hs) != 1 || hs[0].Owner != "squatter" {
		t.Errorf("the refused restore changed the bridge's leases: %+v", hs)
	}
	if err := n.do(func() error { return lease.Release("cell0", "squatter") }); err != nil {
		t.Fatal(err)
	}

	// The address is free: the lease, bridge and rules are made, then a
	// later step fails, and the cleanup takes them back.
	r = n.cell("restore", dir)
	if r.code == 0 {
		t.Errorf("restore of a checkpoint without images: %s, want a failure", r)
	}
	noNetLeft(t, n, name)
	if !slices.Contains(n.links(), "cell0") {
		t.Errorf("the restore did not get to its bridge step (links %v): %s", n.links(), r)
	}
	want := []string{"bridge:cell0:established", "bridge:cell0:isolate"}
	if got := n.ruleOwners(); !slices.Equal(got, want) {
		t.Errorf("rules after the failed restore: %v, want only the bridge's %v", got, want)
	}
	if hs := n.leases("cell0"); len(hs) != 0 {
		t.Errorf("leases after the failed restore: %+v", hs)
	}
}

// TestCheckpointBridge checkpoints a bridged sandbox (a published port)
// whose TCP server has a connection from the host (the test's namespace,
// through the bridge), refuses a restore while another sandbox holds its
// address, then restores it under a new name: the same connection goes
// on, the address, rules and port are back, cell update, freeze and thaw
// work on it, and its end takes the rules, lease and veth away.
func TestCheckpointBridge(t *testing.T) {
	requireCRIU(t)
	noLeaks(t)
	n := newTestNet(t)
	name := uniqueName("ckbr")
	prof := ckptNetProfile(t, "  mode: bridge\n  dns: [192.0.2.53]\n  ports: [\"18083:8080\"]\n")
	cmd, _ := startIn(t, n, name, "-p", prof, "--set", "process.env.CELL_PROBE=ckpt-echo", "--", "/probe", "8080")
	addr := addressOf(t, name)
	c, err := dialFrom(n.holder.Process.Pid, addr+":8080")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := ping(c, "before", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ck")
	if r := n.cell("checkpoint", name, dir); r.code != 0 {
		t.Fatalf("checkpoint: %s", r)
	}
	exitOf(t, cmd)
	if r := n.cell("plan", "--name", name+"-r", "--restore", dir); !strings.Contains(r.stdout, "{lease} = "+addr) {
		t.Errorf("restore plan: %s", r)
	}

	// Injected failure: the address is another sandbox's.
	name2 := name + "-r"
	if err := n.do(func() error {
		return lease.AcquireAddr("cell0", "10.88.0.0/24", "squatter", netip.MustParseAddr(addr), nil)
	}); err != nil {
		t.Fatal(err)
	}
	if r := n.cell("restore", "--name", name2, dir); r.code != 125 || !strings.Contains(r.stderr, "held by sandbox squatter") {
		t.Errorf("restore onto a held address: %s", r)
	}
	noNetLeft(t, n, name2)
	if err := n.do(func() error { return lease.Release("cell0", "squatter") }); err != nil {
		t.Fatal(err)
	}

	rc, out, _, rep := restoreWith(t, dir, name2, nil, func(c *exec.Cmd) error { return n.do(c.Start) })
	t.Logf("restore: %d µs in criu, %d µs in all", rep.RestoreMicros, rep.TotalMicros)
	if err := ping(c, "after", 30*time.Second); err != nil {
		t.Fatalf("the connection made before the checkpoint, after the restore: %v", err)
	}
	if got := addressOf(t, name2); got != addr {
		t.Errorf("restored sandbox's address %s, want the checkpointed %s", got, addr)
	}
	if owners := n.ruleOwners(); !slices.Contains(owners, name2) {
		t.Errorf("the restored sandbox's rules are not installed: %v", owners)
	}
	pc, err := dialFrom(n.holder.Process.Pid, "10.88.0.1:18083")
	if err != nil {
		t.Fatalf("published port after the restore: %v", err)
	}
	if err := ping(pc, "port", 10*time.Second); err != nil {
		t.Errorf("published port after the restore: %v", err)
	}
	pc.Close()

	// update, freeze and thaw act on the restored sandbox's cgroup.
	if r := cell(t, "update", "--pids-max", "40", name2); r.code != 0 {
		t.Errorf("update of the restored sandbox: %s", r)
	}
	st, _ := openStore()
	rec, err := st.Get(name2)
	if err != nil || rec.Cgroup == nil {
		t.Fatalf("restored record: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(rec.Cgroup.Unified, "pids.max")); strings.TrimSpace(string(b)) != "40" {
		t.Errorf("pids.max after cell update of the restored sandbox: %q", b)
	}
	if r := cell(t, "freeze", name2); r.code != 0 {
		t.Fatalf("freeze of the restored sandbox: %s", r)
	}
	if r := cell(t, "ps"); !strings.Contains(r.stdout, "frozen") {
		t.Errorf("ps after freeze: %s", r.stdout)
	}
	if err := ping(c, "frozen", time.Second); err == nil {
		t.Error("the frozen sandbox echoed")
	}
	if r := cell(t, "thaw", name2); r.code != 0 {
		t.Fatalf("thaw: %s", r)
	}
	// The word sent while frozen comes back now, then the next.
	buf := make([]byte, len("frozen"))
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "frozen" {
		t.Errorf("after thaw: %q %v", buf, err)
	}
	if err := ping(c, "thawed", 10*time.Second); err != nil {
		t.Errorf("after thaw: %v", err)
	}

	if r := cell(t, "kill", name2, "TERM"); r.code != 0 {
		t.Fatalf("kill: %s", r)
	}
	if !out.Scan() || out.Text() != "connections 2" {
		t.Errorf("restored probe said %q, want connections 2 (the restored one and the port's)", out.Text())
	}
	if code := exitOf(t, rc); code != 0 {
		t.Errorf("restored cell exited %d", code)
	}
	noNetLeft(t, n, name2)
	if got := n.settledLinks("cell0", "lo"); !slices.Equal(got, []string{"cell0", "lo"}) {
		t.Errorf("links after the restored sandbox ended: %v", got)
	}
	if hs := n.leases("cell0"); len(hs) != 0 {
		t.Errorf("leases after the restored sandbox ended: %+v", hs)
	}
}

// TestCheckpointMigrateBridge moves a bridged sandbox to another host (a
// cell in network and mount namespaces of its own, with its own state
// directory): the bridge, the lease and the veth are made there, the
// sandbox has its address on it and its server answers from that host,
// and the first host keeps nothing of it.
func TestCheckpointMigrateBridge(t *testing.T) {
	requireCRIU(t)
	noLeaks(t)
	n := newTestNet(t)
	name := uniqueName("ckmb")
	prof := ckptNetProfile(t, "  mode: bridge\n  dns: [192.0.2.53]\n")
	cmd, _ := startIn(t, n, name, "-p", prof, "--set", "process.env.CELL_PROBE=ckpt-echo", "--", "/probe", "8080")
	addr := addressOf(t, name)
	src := filepath.Join(t.TempDir(), "src")
	if r := n.cell("checkpoint", name, src); r.code != 0 {
		t.Fatalf("checkpoint: %s", r)
	}
	exitOf(t, cmd)
	dst := filepath.Join(t.TempDir(), "dst")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copy: %v %s", err, out)
	}
	name2 := name + "-m"
	rc, out, _, _ := restoreOn(t, dst, name2, otherHost)
	other := rc.Process.Pid // cell, in the other host's namespaces
	c, err := dialFrom(other, addr+":8080")
	if err != nil {
		t.Fatalf("the migrated sandbox's server from its new host: %v", err)
	}
	if err := ping(c, "moved", 10*time.Second); err != nil {
		t.Errorf("the migrated sandbox's server: %v", err)
	}
	c.Close()
	leases, err := filepath.Glob(fmt.Sprintf("/proc/%d/root%s/*-cell0.json", other, lease.LeaseDir))
	if err != nil || len(leases) != 1 {
		t.Fatalf("the other host's lease files: %v %v", leases, err)
	}
	if b, _ := os.ReadFile(leases[0]); !strings.Contains(string(b), `"owner":"`+name2+`"`) || !strings.Contains(string(b), `"addr":"`+addr+`"`) {
		t.Errorf("the other host's lease of %s: %s", addr, b)
	}
	noNetLeft(t, n, name)
	noNetLeft(t, n, name2)
	if hs := n.leases("cell0"); len(hs) != 0 {
		t.Errorf("the first host kept leases: %+v", hs)
	}
	if err := rc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !out.Scan() || out.Text() != "connections 1" {
		t.Errorf("migrated probe: %q", out.Text())
	}
	if code := exitOf(t, rc); code != 0 {
		t.Errorf("migrated cell exited %d", code)
	}
}
