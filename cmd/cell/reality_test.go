package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/escape"
	"github.com/cellsandbox/cell/profiles"
	"github.com/cellsandbox/cell/spec/access"
)

// realityWorld is what a reality test gives the sandbox to reach for: a
// test network namespace standing for the host, with an abstract Unix
// socket and a process of its own, and an outside namespace beyond it
// that serves TCP on every probed port and echoes UDP.
type realityWorld struct {
	net      *testNet
	outside  string
	abstract string
	hostPid  int
}

func newRealityWorld(t *testing.T) *realityWorld {
	t.Helper()
	n := newTestNet(t)
	out := n.outside()
	for _, port := range access.Ports {
		out.serve(fmt.Sprintf("198.51.100.2:%d", port))
		out.echoUDP(fmt.Sprintf("198.51.100.2:%d", port))
	}
	name := fmt.Sprintf("cell-reality-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	fd := -1
	t.Cleanup(func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	})
	if err := n.do(func() (err error) {
		if fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: "@" + name}); err != nil {
			return err
		}
		return unix.Listen(fd, 64)
	}); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	return &realityWorld{net: n, outside: "198.51.100.2", abstract: name, hostPid: sleeper.Process.Pid}
}

// echoUDP echoes every datagram sent to addr in the namespace.
func (n *testNet) echoUDP(addr string) {
	n.t.Helper()
	var c net.PacketConn
	if err := n.do(func() (err error) { c, err = net.ListenPacket("udp", addr); return err }); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { c.Close() })
	go func() {
		b := make([]byte, 512)
		for {
			k, from, err := c.ReadFrom(b)
			if err != nil {
				return
			}
			c.WriteTo(b[:k], from)
		}
	}()
}

// realityProject makes a project directory with a git repository's
// hooks and config, for the profiles' .git binds to hold.
func realityProject(t *testing.T, uid, gid int) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "cell-reality-project-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Reachable by a sandbox whose root is a subordinate ID (build-worker).
	os.Chmod(dir, 0o755)
	for _, d := range []string{".git/hooks", "out"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".git", "config"), []byte("[core]\n\tbare = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, uid, gid) })
	return dir
}

// realitySets bind the probe at /reality and let landlock execute it.
func realitySets(bin string) []string {
	return []string{
		"--set", fmt.Sprintf("filesystem.mounts[+]={type: bind, source: %s, target: /reality}", bin),
		"--set", "security.landlock.readExec[+]=/reality",
	}
}

// realityCheck reads the probe's output: a CONTRADICTS line, or no line at
// all, fails the test.
func realityCheck(t *testing.T, r cellResult) {
	t.Helper()
	t.Logf("reality probe:\n%s", r.stdout)
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		lines++
		if strings.HasPrefix(sc.Text(), "CONTRADICTS ") {
			t.Errorf("cell explain's claim is contradicted inside the sandbox: %s", sc.Text())
		}
	}
	if lines == 0 || r.code != 0 && !strings.Contains(r.stdout, "CONTRADICTS") {
		t.Errorf("the probe did not run: %s", r)
	}
}

// realityRun runs the built-in profile name with the reality probe
// inside, as root or as the unprivileged test user, in a fresh project
// directory holding a git repository, and returns the probe's result and
// the project's path.
func (w *realityWorld) run(t *testing.T, bin, name string, root bool) (cellResult, string) {
	t.Helper()
	probeArgs := []string{"--", "/reality", "-outside", w.outside, "-abstract", w.abstract, "-hostpid", fmt.Sprint(w.hostPid)}
	if root {
		work := realityProject(t, 0, 0)
		explain := cellCmd(t, append([]string{"explain", "-p", name, "--format", "json"}, realitySets(bin)...)...)
		explain.Dir = work
		claims := w.net.run(explain)
		if claims.code != 0 {
			t.Fatalf("cell explain: %s", claims)
		}
		run := cellCmd(t, append(append([]string{"run", "-p", name}, realitySets(bin)...), probeArgs...)...)
		run.Dir = work
		run.Stdin = strings.NewReader(claims.stdout)
		return w.net.run(run), work
	}
	uid, gid, dir, cellBin := rootlessUser(t)
	work := realityProject(t, int(uid), int(gid))
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o700)
	os.Chown(home, int(uid), int(gid))
	exe := filepath.Join(dir, "reality")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	// No limits: the test user has no delegated cgroup, and limits are
	// no claim the probe checks.
	sets := append(realitySets(exe), "--set", "resources=null")
	asUser := func(args ...string) *exec.Cmd {
		cmd := rootlessTun(uid, gid, cellBin, args...)
		cmd.Env = []string{"CELL_TEST_MAIN=1", "HOME=" + home, "USER=celltest", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		cmd.Dir = work
		return cmd
	}
	claims := w.net.run(asUser(append([]string{"explain", "-p", name, "--format", "json"}, sets...)...))
	if claims.code != 0 {
		t.Fatalf("cell explain: %s", claims)
	}
	run := asUser(append(append([]string{"run", "-p", name}, sets...), probeArgs...)...)
	run.Stdin = strings.NewReader(claims.stdout)
	return w.net.run(run), work
}

// TestRealityBuiltins runs every built-in profile, as root and as an
// unprivileged user, with the reality probe inside: every claim of cell
// explain --format json (what the command can read, write and execute at
// each mount, the TCP and UDP ports it reaches beyond the host, the
// host's abstract Unix sockets and processes) is tried, and a claim the
// sandbox contradicts fails the test.
func TestRealityBuiltins(t *testing.T) {
	requirePrivilege(t)
	requireSlirp(t)
	noLeaks(t)
	bin := escape.BuildReality(t)
	w := newRealityWorld(t)
	for _, name := range profiles.Names() {
		for _, root := range []bool{true, false} {
			who := map[bool]string{true: "root", false: "user"}[root]
			t.Run(name+"/"+who, func(t *testing.T) {
				if name == "build-worker" && !root {
					t.Skip("build-worker maps a fixed subordinate range, which only root may (see its profile)")
				}
				r, _ := w.run(t, bin, name, root)
				realityCheck(t, r)
			})
		}
	}
}

// TestAgentReach checks what the agent profile promises from inside, as
// root and as an unprivileged user, in a test network: a direct TCP
// connection beyond the host is refused, on port 443 too (the agent
// reaches the network by name, through the egress proxy, which
// TestNetEgressDomains checks); UDP to any port of it, the host's
// abstract Unix socket and the host's processes are out of reach;
// programs built in the project run, and the repository's hooks and
// config cannot be changed.
func TestAgentReach(t *testing.T) {
	requirePrivilege(t)
	requireSlirp(t)
	noLeaks(t)
	bin := escape.BuildReality(t)
	w := newRealityWorld(t)
	for _, root := range []bool{true, false} {
		t.Run(map[bool]string{true: "root", false: "user"}[root], func(t *testing.T) {
			r, work := w.run(t, bin, "agent", root)
			realityCheck(t, r)
			for _, want := range []struct {
				name string
				done bool
			}{
				{"tcp-connect:outside:443", false},
				{"tcp-connect:outside:22", false},
				{"udp-send:outside:9999", false},
				{"udp-send:outside:443", false},
				{"abstract-unix:host", false},
				{"signal:host-process", false},
				{"exec:" + work, true},
				{"exec:/tmp", true},
				{"write:" + work, true},
				{"write:" + work + "/.git/hooks", false},
				{"write:" + work + "/.git/config", false},
			} {
				line := ""
				for _, l := range strings.Split(r.stdout, "\n") {
					if _, rest, ok := strings.Cut(l, " "); ok && strings.HasPrefix(rest, want.name+": ") {
						line = l
					}
				}
				if done := strings.Contains(line, ": done"); line == "" || done != want.done {
					t.Errorf("%s: want done %v, got %q", want.name, want.done, line)
				}
			}
		})
	}
}

// rootlessTun prepares cell with args as the unprivileged user uid, in a
// mount namespace of its own where /dev/net/tun is a node the user may
// open (it is root's only on some hosts), as userNetCell does; nothing of
// the host's /dev changes.
func rootlessTun(uid, gid uint32, bin string, args ...string) *exec.Cmd {
	const script = `mount -t tmpfs -o mode=0755 cell-test /dev/net && mknod -m 0666 /dev/net/tun c 10 200 && g=$1; shift; exec setpriv --reuid=$0 --regid=$g --clear-groups -- "$@"`
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation=private", "sh", "-c", script, fmt.Sprint(uid), fmt.Sprint(gid), bin}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	return cmd
}

// TestGitPinned runs each built-in profile that makes the project
// writable in a project holding a git repository and tries what would
// make the host's git run the sandbox's code: a hook, core.hooksPath in
// .git/config, and renaming .git away to put another in its place. The
// project itself stays writable.
func TestGitPinned(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	const attack = `printf '#!/bin/sh\necho pwned\n' > .git/hooks/pre-commit 2>/dev/null && echo hook-planted
printf '[core]\n\thooksPath = /tmp\n' >> .git/config 2>/dev/null && echo config-changed
mv .git .git-old 2>/dev/null && echo renamed
echo ok > made-inside && echo wrote`
	for _, name := range []string{"agent", "dev", "default", "offline-test", "build"} {
		t.Run(name, func(t *testing.T) {
			work := realityProject(t, 0, 0)
			cmd := cellCmd(t, "run", "-p", name, "--", "sh", "-c", attack)
			cmd.Dir = work
			r := runCellCmd(t, cmd)
			if r.stdout != "wrote\n" {
				t.Errorf("want only the project written; got %s", r)
			}
			if _, err := os.Stat(filepath.Join(work, ".git", "hooks", "pre-commit")); err == nil {
				t.Error("a hook appeared on the host")
			}
			if b, _ := os.ReadFile(filepath.Join(work, ".git", "config")); strings.Contains(string(b), "hooksPath") {
				t.Errorf("the host's .git/config changed: %q", b)
			}
			if _, err := os.Stat(filepath.Join(work, ".git-old")); err == nil {
				t.Error(".git was renamed on the host")
			}
		})
	}
}

// requireSlirp skips a test that runs the agent profile (network.mode
// user) where slirp4netns is missing, unless CELL_TEST_STRICT is set.
func requireSlirp(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		if os.Getenv("CELL_TEST_STRICT") != "" {
			t.Fatal("slirp4netns is missing; .ci/run installs it")
		}
		t.Skip("no slirp4netns: the agent profile needs it")
	}
}
