package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/checkpoint"
	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/internal/testenv"
)

// The checkpoint tests that need a working CRIU run in the VM (make
// test-vm's CRIU run, on Debian's own kernel), where CELL_TEST_CRIU=1
// makes them required; on a host whose kernel this CRIU does not
// support, TestCheckpointRefused checks the refusal instead.

// requireCRIU fails the test where CRIU must work (CELL_TEST_CRIU=1) and
// does not, and skips it elsewhere.
func requireCRIU(t *testing.T) {
	t.Helper()
	testenv.Root(t)
	_, _, err := criuSupport()
	if os.Getenv("CELL_TEST_CRIU") == "1" {
		if err != nil {
			t.Fatalf("CELL_TEST_CRIU=1, but %v", err)
		}
		return
	}
	t.Skip("CRIU's own tests run in make test-vm (CELL_TEST_CRIU=1)")
}

// checkpointProbe is what the checkpoint tests run in their sandboxes
// (CELL_PROBE=ckpt-...): state in memory that a restore must keep.
func checkpointProbe(name string, args []string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	switch name {
	case "ckpt-mem":
		// MiB of memory (args[0]) rewritten a page at a time: a counter
		// that goes on from where the checkpoint left it.
		mib := 1
		fmt.Sscan(args[0], &mib)
		buf := make([]byte, mib<<20)
		n := 0
		fmt.Println("ready")
		for {
			select {
			case <-term:
				fmt.Printf("ticks %d\n", n)
				return 0
			case <-time.After(20 * time.Millisecond):
				// 16 pages a tick: most of the memory stays as a
				// pre-dump found it.
				n++
				for i := range 16 {
					buf[((n*16+i)*4096)%len(buf)]++
				}
			}
		}
	case "ckpt-tcp":
		// A server and a client on the sandbox's loopback, one
		// connection pinging on: the connection must survive.
		// Plain TCP: Go makes MPTCP sockets by default where the kernel
		// has it, which CRIU 3.17 cannot dump ("Unsupported proto 262").
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("listen:", err)
			return 1
		}
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c)
		}()
		var d net.Dialer
		d.SetMultipathTCP(false)
		c, err := d.Dial("tcp", l.Addr().String())
		if err != nil {
			fmt.Println("dial:", err)
			return 1
		}
		fmt.Println("ready")
		pings, buf := 0, make([]byte, 4)
		for {
			select {
			case <-term:
				fmt.Printf("pings %d\n", pings)
				return 0
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := c.Write([]byte("ping")); err != nil {
				fmt.Println("write:", err)
				return 1
			}
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
				fmt.Println("read:", err, string(buf))
				return 1
			}
			pings++
		}
	case "ckpt-echo":
		// A server on the sandbox's bridged address (port args[0]) that
		// echoes every connection, plain TCP (see ckpt-tcp).
		lc := net.ListenConfig{KeepAlive: -1}
		lc.SetMultipathTCP(false)
		l, err := lc.Listen(context.Background(), "tcp", ":"+args[0])
		if err != nil {
			fmt.Println("listen:", err)
			return 1
		}
		conns := make(chan struct{}, 64)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				conns <- struct{}{}
				go io.Copy(c, c)
			}
		}()
		fmt.Println("ready")
		<-term
		fmt.Printf("connections %d\n", len(conns))
		return 0
	case "ckpt-warm":
		// An expensive start (a table built, as an interpreter loads
		// its imports), then ready for work.
		t := map[int]string{}
		for i := range 300000 {
			t[i] = fmt.Sprint(i * i)
		}
		fmt.Println("ready", len(t))
		<-term
		return 0
	}
	return 2
}

// ckptBase is the test profile without /lib, whose directory in the VM
// holds a mount (/lib/modules) that a restore in a user namespace cannot
// bind (see nestedBinds); the probe is static, the VM's sh is busybox's.
const ckptBase = `apiVersion: cell/v1
name: test
hostname: testbox
filesystem:
  mounts:
    - {type: bind, source: /usr, target: /usr}
    - {type: bind, source: /bin, target: /bin}
    - {type: proc, target: /proc}
    - {type: dev, target: /dev}
    - {type: tmpfs, target: /tmp, size: 16Mi}
    - {type: bind, source: %s, target: /probe}
process:
  env: {PATH: /usr/bin:/bin}
`

// ckptProfile is ckptBase with limits and no network.
func ckptProfile(t *testing.T) string {
	self, _ := os.Executable()
	p := filepath.Join(t.TempDir(), "ckpt.yaml")
	y := fmt.Sprintf(ckptBase, self) + "resources:\n  memory: {max: 256Mi}\n  pids: {max: 64}\n"
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startSandbox runs cell run with the probe and waits for its "ready".
func startSandbox(t *testing.T, name string, args ...string) (*exec.Cmd, *bufio.Scanner, io.WriteCloser) {
	t.Helper()
	cmd := cellCmd(t, append([]string{"run", "--name", name}, args...)...)
	out, _ := cmd.StdoutPipe()
	in, _ := cmd.StdinPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "ready") {
		t.Fatalf("sandbox %s did not start: %q", name, sc.Text())
	}
	return cmd, sc, in
}

// restoreSandbox runs cell restore, waits for its report and returns it.
func restoreSandbox(t *testing.T, dir, name string) (*exec.Cmd, *bufio.Scanner, io.WriteCloser, testReport) {
	return restoreOn(t, dir, name, nil)
}

// otherHost runs cell as on another host: in network and mount
// namespaces of its own, with a state directory of its own (a tmpfs on
// /run/cell), through unshare(1).
var otherHost = []string{"unshare", "-m", "-n", "sh", "-c", `mount -t tmpfs -o mode=0700 otherhost /run/cell && exec "$0" "$@"`}

// restoreOn runs cell restore, prefixed with wrap when it is given.
func restoreOn(t *testing.T, dir, name string, wrap []string) (*exec.Cmd, *bufio.Scanner, io.WriteCloser, testReport) {
	t.Helper()
	return restoreWith(t, dir, name, wrap, (*exec.Cmd).Start)
}

// restoreWith is restoreOn whose cell is started by start (in a test's
// network namespace: testNet.do).
func restoreWith(t *testing.T, dir, name string, wrap []string, start func(*exec.Cmd) error) (*exec.Cmd, *bufio.Scanner, io.WriteCloser, testReport) {
	t.Helper()
	report := filepath.Join(t.TempDir(), "report.json")
	cmd := cellCmd(t, "restore", "--name", name, "--report", report, "--stats", filepath.Join(filepath.Dir(report), "stats.json"), dir)
	if wrap != nil {
		path, err := exec.LookPath(wrap[0])
		if err != nil {
			t.Fatalf("%s: %v", wrap[0], err)
		}
		cmd.Path = path
		// wrap..., then this binary (as "$0") and cell's arguments.
		cmd.Args = append(append(append([]string(nil), wrap...), mustExecutable(t)), cmd.Args[1:]...)
	}
	out, _ := cmd.StdoutPipe()
	in, _ := cmd.StdinPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var rep testReport
	rep.path = report
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(report); err == nil && json.Unmarshal(b, &rep.restoreReport) == nil {
			break
		}
		select {
		case err := <-exited:
			if os.Getenv("CELL_TEST_CRIU_DEBUG") != "" {
				ls, _ := exec.Command("ls", "-la", dir, filepath.Join(dir, "images")).CombinedOutput()
				log, _ := exec.Command("grep", "-iE", "tmpfs|mnt|root", filepath.Join(dir, "images", "dump.log")).CombinedOutput()
				t.Logf("%s\n%s", ls, log)
			}
			t.Fatalf("cell restore ended before the processes ran: %v\n%s", err, stderr.String())
		default:
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("cell restore: no report after 60 s\n%s", stderr.String())
		}
	}
	// The goroutine above has the exit: exitOf takes it from there.
	waitCh[cmd] = exited
	return cmd, bufio.NewScanner(out), in, rep
}

// testReport is restore --report's, and where it was.
type testReport struct {
	restoreReport
	path string
}

func mustExecutable(t *testing.T) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self
}

// waitCh holds the exit of a cell restore whose Wait a goroutine took.
var waitCh = map[*exec.Cmd]chan error{}

// exitOf waits for a cell started by startSandbox or restoreSandbox.
func exitOf(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	var err error
	if ch, ok := waitCh[cmd]; ok {
		select {
		case err = <-ch:
		case <-time.After(60 * time.Second):
			t.Fatal("cell did not end")
		}
	} else {
		err = cmd.Wait()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e6)
}

// TestCheckpointRefused runs where criu check fails (this kernel is newer
// than the CRIU): checkpoint and restore refuse with CRIU's own reason,
// write nothing, and leave the sandbox running and untouched.
func TestCheckpointRefused(t *testing.T) {
	testenv.Root(t)
	noLeaks(t)
	path, err := findCRIU()
	if err != nil {
		testenv.Skip(t, "criu is not installed (.ci/run installs it)")
	}
	cerr := (&checkpoint.CRIU{Path: path}).Check()
	if cerr == nil {
		t.Skip("criu check passes on this kernel: the VM's tests (CELL_TEST_CRIU=1) check checkpoints here")
	}
	name := uniqueName("ckref")
	// No limits: on a host with cgroup v1 controllers their join
	// step would be refused first, for a reason of its own.
	cmd, _, _ := startSandbox(t, name, "-p", profile(t, ""), "--set", "process.env.CELL_PROBE=ckpt-mem", "--", "/probe", "1")
	dir := filepath.Join(t.TempDir(), "ck")
	r := cell(t, "checkpoint", name, dir)
	if r.code != 1 || !strings.Contains(r.stderr, "checkpointing does not work here") || !strings.Contains(r.stderr, cerr.Error()) {
		t.Errorf("checkpoint where criu check fails: %s\nwant status 1 and criu's reason %q", r, cerr)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused checkpoint left %s (%v)", dir, err)
	}
	// The sandbox runs on: its record is alive and it takes a signal.
	st, _ := openStore()
	rec, err := st.Get(name)
	if err != nil || !rec.Alive() {
		t.Fatalf("after the refusal the sandbox is not running: %v", err)
	}
	// A restore of a checkpoint (one made by hand: there can be no real
	// one here) is refused for the same reason, after checking it.
	pj := cell(t, "plan", "--json", "-p", profile(t, ""), "--name", name+"-r", "--", "/probe")
	if pj.code != 0 {
		t.Fatal(pj)
	}
	made := fakeCheckpoint(t, []byte(pj.stdout))
	r = cell(t, "restore", made)
	if r.code != 1 || !strings.Contains(r.stderr, cerr.Error()) {
		t.Errorf("restore where criu check fails: %s\nwant status 1 and criu's reason", r)
	}
	if _, err := st.Get(name + "-r"); err == nil {
		t.Error("a refused restore left a record")
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/cell", name+"-r")); err == nil {
		t.Error("a refused restore left a cgroup")
	}
	if r := cell(t, "doctor"); !strings.Contains(r.stdout, "checkpoint") || !strings.Contains(r.stdout, cerr.Error()) {
		t.Errorf("doctor does not say why checkpoints are refused: %s", r)
	}
	if r := cell(t, "kill", name, "TERM"); r.code != 0 {
		t.Fatal(r)
	}
	if code := exitOf(t, cmd); code != 0 {
		t.Errorf("the sandbox ended with %d after the refusals and a TERM, want the probe's 0", code)
	}
}

// fakeCheckpoint writes a checkpoint directory whose manifest Read
// accepts, with an empty images directory.
func fakeCheckpoint(t *testing.T, planJSON []byte) string {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "images"), 0o700)
	h := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	// An empty root: the end of a tar archive.
	root := make([]byte, 1024)
	os.WriteFile(filepath.Join(dir, checkpoint.RootFile), root, 0o600)
	// Compacted, not decoded and encoded again: the plan's codec wants
	// its version first, as cell plan --json prints it.
	var cb bytes.Buffer
	if err := json.Compact(&cb, planJSON); err != nil {
		t.Fatal(err)
	}
	pj := cb.Bytes()
	m := checkpoint.Manifest{Format: checkpoint.Format, Name: "ckfake" + fmt.Sprint(os.Getpid()), Profile: []byte("{}"), ProfileSHA256: h([]byte("{}")),
		Plan: pj, PlanSHA256: h(pj), Images: "images", Files: map[string]string{checkpoint.RootFile: h(root)}, Host: checkpoint.HostFacts{Arch: "amd64"}}
	b, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, checkpoint.ManifestFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCheckpointBlocked: what a checkpoint cannot carry is refused with
// what blocks it, before CRIU is asked, on any host.
func TestCheckpointBlocked(t *testing.T) {
	testenv.Root(t)
	noLeaks(t)
	name := uniqueName("ckblk")
	cmd, _, _ := startSandbox(t, name, "-p", profile(t, ""), "--set", "process.env.CELL_PROBE=ckpt-mem",
		"--set", "security.landlock={mode: bestEffort, readExec: [/usr, /bin, /lib, /lib64, /probe], readWrite: [/dev]}", "--", "/probe", "1")
	dir := filepath.Join(t.TempDir(), "ck")
	r := cell(t, "checkpoint", name, dir)
	if r.code != 1 || !strings.Contains(r.stderr, "landlock") || !strings.Contains(r.stderr, "cannot be checkpointed") {
		t.Errorf("checkpoint of a landlocked sandbox: %s", r)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused checkpoint left %s", dir)
	}
	cell(t, "kill", name, "TERM")
	exitOf(t, cmd)

	// A user-mode network stays refused, with its step and reason:
	// slirp4netns, outside the sandbox, holds its connections. Both
	// refusals come before CRIU is asked, so CI's host checks them; the
	// VM, which has no slirp4netns (cell refuses to plan a user-mode
	// network without it), checks landlock's only.
	const userWhy = "a user-mode network: slirp4netns, outside the sandbox, holds the connections' state"
	userProf := profile(t, "network: {mode: user}\n")
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		return
	}
	uname := uniqueName("ckusr")
	ucmd, _, _ := startSandbox(t, uname, "-p", userProf, "--set", "process.env.CELL_PROBE=ckpt-mem", "--", "/probe", "1")
	r = cell(t, "checkpoint", uname, dir)
	if r.code != 1 || !strings.Contains(r.stderr, userWhy) || !strings.Contains(r.stderr, "(user-net, ") {
		t.Errorf("checkpoint of a sandbox with a user-mode network: %s", r)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused checkpoint left %s", dir)
	}
	cell(t, "kill", uname, "TERM")
	exitOf(t, ucmd)
	pj := cell(t, "plan", "--json", "-p", userProf, "--", "/probe")
	if pj.code != 0 {
		t.Fatal(pj)
	}
	if r := cell(t, "restore", fakeCheckpoint(t, []byte(pj.stdout))); r.code != 1 || !strings.Contains(r.stderr, userWhy) {
		t.Errorf("restore of a checkpoint of a plan with a user-mode network: %s", r)
	}
}

var _ = state.ValidName

// TestCheckpointRestore checkpoints a sandbox with limits and no
// network, and restores it under a new name: its memory goes on where it
// stopped, its limits are the plan's, ps, exec and kill work, and the
// restored cell exits with the command's status.
func TestCheckpointRestore(t *testing.T) {
	requireCRIU(t)
	noLeaks(t)
	name := uniqueName("ck")
	cmd, sc, _ := startSandbox(t, name, "-p", ckptProfile(t), "--set", "process.env.CELL_PROBE=ckpt-mem", "--", "/probe", "8")
	time.Sleep(300 * time.Millisecond)
	dir := filepath.Join(t.TempDir(), "ck")
	if r := cell(t, "checkpoint", name, dir); r.code != 0 {
		t.Fatalf("checkpoint: %s", r)
	}
	t.Log(cell(t, "plan", "--restore", dir).stdout)
	// The dump ended the sandbox: its cell ends and removes its record.
	exitOf(t, cmd)
	_ = sc
	name2 := name + "-r"
	rc, out, _, rep := restoreSandbox(t, dir, name2)
	t.Logf("restore: %d µs reading and checking the checkpoint, %d µs in criu, %d µs in all", rep.ReadMicros, rep.RestoreMicros, rep.TotalMicros)
	ps := cell(t, "ps")
	if !strings.Contains(ps.stdout, name2) || !strings.Contains(ps.stdout, "running") {
		t.Errorf("ps does not show the restored sandbox running: %s", ps)
	}
	st, _ := openStore()
	rec, err := st.Get(name2)
	if err != nil || rec.Cgroup == nil {
		t.Fatalf("restored record: %v %+v", err, rec)
	}
	if b, err := os.ReadFile(filepath.Join(rec.Cgroup.Unified, "memory.max")); err != nil || strings.TrimSpace(string(b)) != "268435456" {
		t.Errorf("restored cgroup's memory.max: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(rec.Cgroup.Unified, "cgroup.procs")); err != nil || !strings.Contains(string(b), fmt.Sprint(rec.Pid)) {
		t.Errorf("restored init %d is not in its cgroup: %q %v", rec.Pid, b, err)
	}
	if r := cell(t, "exec", name2, "--", "/bin/sh", "-c", "echo in; cat /proc/self/cgroup; hostname"); r.code != 0 || !strings.Contains(r.stdout, "testbox") {
		t.Errorf("exec in the restored sandbox: %s", r)
	}
	time.Sleep(200 * time.Millisecond)
	if r := cell(t, "kill", name2, "TERM"); r.code != 0 {
		t.Fatalf("kill: %s", r)
	}
	var ticks int
	if !out.Scan() || func() bool { _, err := fmt.Sscanf(out.Text(), "ticks %d", &ticks); return err != nil }() {
		t.Errorf("restored probe said %q, want its ticks", out.Text())
	}
	if ticks < 10 {
		t.Errorf("restored probe counted %d ticks: its memory did not go on from the checkpoint's", ticks)
	}
	if code := exitOf(t, rc); code != 0 {
		t.Errorf("restored cell exited %d, want the probe's 0", code)
	}
	if _, err := st.Get(name2); err == nil {
		t.Error("the restored sandbox's record outlived it")
	}
	var stats struct {
		Name, Source string
		Exit         int
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(rep.path), "stats.json"))
	if err != nil || json.Unmarshal(b, &stats) != nil || stats.Name != name2 || stats.Source != "cgroup" || stats.Exit != 0 {
		t.Errorf("restore --stats: %s %v", b, err)
	}
}

// TestCheckpointTTY checkpoints a sandbox whose command has a pty of the
// sandbox's devpts (cell run -t): the restored cell gets a new master
// from CRIU and the command reads and writes its terminal as before.
func TestCheckpointTTY(t *testing.T) {
	requireCRIU(t)
	noLeaks(t)
	name := uniqueName("cktty")
	cmd, sc, _ := startSandbox(t, name, "-t", "-p", ckptProfile(t), "--", "/bin/sh", "-c", `echo ready; tty; read x; echo "got $x"; exit 5`)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "/dev/pts/") {
		t.Fatalf("tty in the sandbox: %q", sc.Text())
	}
	dir := filepath.Join(t.TempDir(), "ck")
	if r := cell(t, "checkpoint", name, dir); r.code != 0 {
		t.Fatalf("checkpoint: %s", r)
	}
	exitOf(t, cmd)
	rc, out, in, _ := restoreSandbox(t, dir, name+"-r")
	fmt.Fprintln(in, "hello")
	got := ""
	for out.Scan() {
		got += strings.TrimRight(out.Text(), "\r") + "\n"
	}
	if !strings.Contains(got, "got hello") {
		t.Errorf("restored command's terminal: %q, want it to read hello", got)
	}
	if code := exitOf(t, rc); code != 5 {
		t.Errorf("restored cell exited %d, want the command's 5", code)
	}
}

// TestCheckpointTCP: a TCP connection between a server and a client in
// the sandbox (its own loopback: network mode none) survives the
// checkpoint and restore (CRIU's tcp-established).
func TestCheckpointTCP(t *testing.T) {
	requireCRIU(t)
	noLeaks(t)
	name := uniqueName("cktcp")
	cmd, _, _ := startSandbox(t, name, "-p", ckptProfile(t), "--set", "process.env.CELL_PROBE=ckpt-tcp", "--", "/probe")
	time.Sleep(300 * time.Millisecond)
	dir := filepath.Join(t.TempDir(), "ck")
	if r := cell(t, "checkpoint", name, dir); r.code != 0 {
		t.Fatalf("checkpoint: %s", r)
	}
	exitOf(t, cmd)
	rc, out, _, _ := restoreSandbox(t, dir, name+"-r")
	time.Sleep(500 * time.Millisecond)
	if r := cell(t, "kill", name+"-r", "TERM"); r.code != 0 {
		t.Fatalf("kill: %s", r)
	}
	line := ""
	if out.Scan() {
		line = out.Text()
	}
	var pings int
	if _, err := fmt.Sscanf(line, "pings %d", &pings); err != nil || pings < 5 {
		t.Errorf("restored probe: %q, want the connection pinging on", line)
	}
	if code := exitOf(t, rc); code != 0 {
		t.Errorf("restored probe exited %d (its connection broke: %q)", code, line)
	}
}

// dumpLine is what cell checkpoint says of a dump.
type dumpLine struct {
	pages, skipped   int
	frozenMS, wallMS float64
}

func parseDump(t *testing.T, stderr string) dumpLine {
	t.Helper()
	var d dumpLine
	i := strings.Index(stderr, ": ")
	j := strings.LastIndex(stderr, " to ")
	if i < 0 || j < 0 {
		t.Fatalf("checkpoint said %q", stderr)
	}
	rest := stderr[j:]
	k := strings.Index(rest, ": ")
	if _, err := fmt.Sscanf(rest[k+2:], "%d pages written (%d unchanged since the pre-dump), frozen %f ms, %f ms in all", &d.pages, &d.skipped, &d.frozenMS, &d.wallMS); err != nil {
		t.Fatalf("checkpoint said %q: %v", stderr, err)
	}
	return d
}

// TestCheckpointMigrate moves a sandbox holding 64 MiB it keeps
// writing: two pre-dumps while it runs, the final dump (frozen), a copy
// of the checkpoint to another directory, and a restore from there under
// another name on "another host": a cell in network and mount namespaces
// of its own, with its own state directory. It reports the downtime (the
// final dump's wall time, the copy and the restore until the processes
// run) against the memory each dump wrote.
func TestCheckpointMigrate(t *testing.T) {
	requireCRIU(t)
	noLeaks(t)
	name := uniqueName("ckmig")
	cmd, _, _ := startSandbox(t, name, "-p", ckptProfile(t), "--set", "process.env.CELL_PROBE=ckpt-mem", "--", "/probe", "64")
	src := filepath.Join(t.TempDir(), "src")
	for i := 1; i <= 2; i++ {
		time.Sleep(200 * time.Millisecond)
		r := cell(t, "checkpoint", "--pre-dump", name, src)
		if r.code != 0 {
			t.Fatalf("pre-dump %d: %s", i, r)
		}
		d := parseDump(t, r.stderr)
		t.Logf("pre-dump %d: %d pages (%.1f MiB) written, %d unchanged, frozen %.1f ms, %.1f ms in all", i, d.pages, float64(d.pages)/256, d.skipped, d.frozenMS, d.wallMS)
	}
	r := cell(t, "checkpoint", name, src)
	if r.code != 0 {
		t.Fatalf("final dump: %s", r)
	}
	final := parseDump(t, r.stderr)
	exitOf(t, cmd)
	dst := filepath.Join(t.TempDir(), "dst")
	c0 := time.Now()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copy: %v %s", err, out)
	}
	copyMS := float64(time.Since(c0).Microseconds()) / 1000
	// The other host: its own network and mount namespaces and state
	// directory; its sandbox is signalled through its cell.
	rc, out, _, rep := restoreOn(t, dst, name+"-m", otherHost)
	restoreMS := float64(rep.TotalMicros) / 1000
	t.Logf("final dump: %d pages (%.1f MiB) written, %d unchanged since the pre-dump, frozen %.1f ms, %.1f ms in all", final.pages, float64(final.pages)/256, final.skipped, final.frozenMS, final.wallMS)
	t.Logf("migration downtime %.0f ms = final dump %.0f + copy %.0f + restore %.0f (criu %.0f)", final.wallMS+copyMS+restoreMS, final.wallMS, copyMS, restoreMS, float64(rep.RestoreMicros)/1000)
	if final.skipped == 0 {
		t.Errorf("the final dump rewrote every page: the pre-dumps' memory tracking did not take")
	}
	time.Sleep(200 * time.Millisecond)
	if r := cell(t, "ps"); strings.Contains(r.stdout, name+"-m") {
		t.Errorf("this host's state directory lists the sandbox restored on the other: %s", r.stdout)
	}
	if err := rc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !out.Scan() || !strings.HasPrefix(out.Text(), "ticks ") {
		t.Errorf("migrated probe: %q", out.Text())
	}
	if code := exitOf(t, rc); code != 0 {
		t.Errorf("migrated cell exited %d", code)
	}
}

// BenchmarkWarmStart compares a cold start of a sandbox whose command
// starts slowly (ckpt-warm builds a table first, as an interpreter loads
// its imports) with a restore of a checkpoint taken once it was ready:
// ms/cold is cell run until the command says ready, ms/restore cell
// restore until its processes run. Run in the VM (make bench-criu).
func BenchmarkWarmStart(b *testing.B) {
	if _, _, err := criuSupport(); err != nil {
		b.Skip(err)
	}
	self, _ := os.Executable()
	dir := b.TempDir()
	prof := filepath.Join(dir, "ckpt.yaml")
	os.WriteFile(prof, []byte(fmt.Sprintf(ckptBase, self)), 0o644)
	start := func(name string) (*exec.Cmd, time.Duration) {
		c := cellCmd(b, "run", "--name", name, "-p", prof, "--set", "process.env.CELL_PROBE=ckpt-warm", "--", "/probe")
		out, _ := c.StdoutPipe()
		t0 := time.Now()
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		if !sc.Scan() || !strings.HasPrefix(sc.Text(), "ready") {
			b.Fatalf("cold start: %q", sc.Text())
		}
		return c, time.Since(t0)
	}
	var cold, warm time.Duration
	name := uniqueName("warm")
	c, d := start(name)
	ck := filepath.Join(dir, "ck")
	if out, err := cellCmd(b, "checkpoint", name, ck).CombinedOutput(); err != nil {
		b.Fatalf("checkpoint: %v %s", err, out)
	}
	c.Wait()
	cold += d
	b.ResetTimer()
	for i := range b.N {
		n := fmt.Sprintf("%s-%d", name, i)
		c, d := start(n + "c")
		cold += d
		cellCmd(b, "kill", n+"c", "TERM").Run()
		c.Wait()
		report := filepath.Join(dir, fmt.Sprintf("r%d.json", i))
		r := cellCmd(b, "restore", "--name", n, "--report", report, ck)
		t0 := time.Now()
		if err := r.Start(); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := os.Stat(report); err == nil {
				break
			}
			if time.Since(t0) > time.Minute {
				b.Fatal("no restore report")
			}
			time.Sleep(time.Millisecond)
		}
		warm += time.Since(t0)
		cellCmd(b, "kill", n, "TERM").Run()
		r.Wait()
	}
	b.ReportMetric(float64(cold.Microseconds())/1000/float64(b.N+1), "ms/cold")
	b.ReportMetric(float64(warm.Microseconds())/1000/float64(b.N), "ms/restore")
}
