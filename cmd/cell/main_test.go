package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/launcher"
)

// The test binary doubles as cell (CELL_TEST_MAIN=1), as cell's init
// (argv[0] cell-init) and as a probe run inside sandboxes (CELL_PROBE),
// so integration tests launch real sandboxes without a separate build.
func TestMain(m *testing.M) {
	launcher.Init()
	switch {
	case len(os.Args) > 0 && os.Args[0] == doctorProbe:
		os.Exit(0)
	case os.Getenv("CELL_PROBE") != "":
		os.Exit(probeInside(os.Getenv("CELL_PROBE"), os.Args[1:]))
	case os.Getenv("CELL_TEST_MAIN") == "1":
		os.Exit(run(os.Args, os.Stdout, os.Stderr))
	}
	var mm testscript.TestingM = m
	if os.Geteuid() == 0 {
		sweepStaleParents()
		mm = defaultParentRemoved{m, missingDefaultParents()}
	}
	testscript.Main(mm, map[string]func(){
		"cell": func() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) },
	})
}

// defaultParentRemoved runs the tests, then removes the default cgroup
// parents (cgroup.DefaultParent in each hierarchy) that were missing
// before them: the tests that run built-in profiles with limits (agent,
// offline-test, build-worker) as root put their sandboxes there, and
// cell, which shares that parent between sandboxes, never removes it.
// One that existed before is the host's and stays; rmdir leaves a
// parent that still holds a cgroup.
type defaultParentRemoved struct {
	m       *testing.M
	missing []string
}

func (d defaultParentRemoved) Run() int {
	code := d.m.Run()
	for _, p := range d.missing {
		syscall.Rmdir(p)
	}
	return code
}

// missingDefaultParents returns where cell's default cgroup parent would
// be made, in each hierarchy, and is not yet.
func missingDefaultParents() []string {
	var out []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/cgroup.procs")
	dirs := []string{"/sys/fs/cgroup"}
	for _, r := range roots {
		dirs = append(dirs, filepath.Dir(r))
	}
	for _, d := range dirs {
		p := filepath.Join(d, cgroup.DefaultParent)
		if _, err := os.Stat(p); os.IsNotExist(err) {
			out = append(out, p)
		}
	}
	return out
}

// probeInside runs a check inside a sandbox and prints what it found.
func probeInside(name string, args []string) int {
	switch name {
	case "connect", "socks", "tls", "resolve":
		return egressProbe(name, args)
	case "netifs":
		ifs, err := net.Interfaces()
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		for _, i := range ifs {
			fmt.Printf("%s %s\n", i.Name, i.Flags)
		}
		// A listener on loopback that accepts a connection from itself
		// proves lo is up and has its address.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("listen:", err)
			return 1
		}
		defer l.Close()
		go func() {
			if c, err := l.Accept(); err == nil {
				c.Write([]byte("pong"))
				c.Close()
			}
		}()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			fmt.Println("dial:", err)
			return 1
		}
		b, _ := io.ReadAll(c)
		fmt.Printf("loopback %s\n", b)
		return 0
	case "fds":
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		var fds []string
		for _, e := range entries {
			// The directory being read was the probe's own descriptor,
			// closed by now.
			// A close-on-exec one is the probe's own, made after its
			// exec (the runtime's poller: a package initialiser opens
			// a file); what the command was given came through the
			// exec without the flag.
			n, _ := strconv.Atoi(e.Name())
			if flags, err := unix.FcntlInt(uintptr(n), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC != 0 {
				continue
			}
			if _, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil {
				fds = append(fds, e.Name())
			}
		}
		sort.Strings(fds)
		fmt.Println(strings.Join(fds, " "))
		return 0
	case "uname":
		var u syscall.Utsname
		if err := syscall.Uname(&u); err != nil {
			fmt.Println("uname:", err)
			return 1
		}
		fmt.Println("uname: ok")
		return 0
	case "dial":
		c, err := net.DialTimeout("tcp", args[0], 2*time.Second)
		if err != nil {
			fmt.Println("dial:", err)
			return 0
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		b, _ := io.ReadAll(c)
		fmt.Printf("reply %s\n", b)
		return 0
	case "serve":
		// Serves one connection on the port args[0], answering with the
		// peer's address; says first which addresses it listens on.
		l, err := net.Listen("tcp", ":"+args[0])
		if err != nil {
			fmt.Println("listen:", err)
			return 1
		}
		addrs, _ := net.InterfaceAddrs()
		var v4 []string
		for _, a := range addrs {
			if ip, _, _ := net.ParseCIDR(a.String()); ip.To4() != nil && !ip.IsLoopback() {
				v4 = append(v4, ip.String())
			}
		}
		fmt.Printf("listening %s\n", strings.Join(v4, " "))
		os.Stdout.Sync()
		n := 1
		if len(args) > 1 {
			fmt.Sscan(args[1], &n)
		}
		for range n {
			c, err := l.Accept()
			if err != nil {
				fmt.Println("accept:", err)
				return 1
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "peer %s", host)
			c.Close()
		}
		return 0
	case "nft-flush":
		c, err := nftables.New()
		if err == nil {
			c.DelTable(&nftables.Table{Name: "cell", Family: nftables.TableFamilyINet})
			err = c.Flush()
		}
		fmt.Println("nft:", err)
		return 0
	case "ckpt-mem", "ckpt-tcp", "ckpt-warm", "ckpt-echo":
		return checkpointProbe(name, args)
	case "ns":
		for _, n := range args {
			l, err := os.Readlink("/proc/self/ns/" + n)
			if err != nil {
				fmt.Println("error:", err)
				return 1
			}
			fmt.Printf("%s %s\n", n, l)
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown probe %q\n", name)
	return 2
}

// cellResult is what one run of cell did.
type cellResult struct {
	stdout, stderr string
	code           int
}

func (r cellResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cellCmd prepares cell with args: this test binary as main, or the
// cell that $CELL_TEST_CELL names (make unit: the lean run binary that
// make build built, with cell-tools beside it), so that the integration
// tests launch through the binary users run.
func cellCmd(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	if bin := os.Getenv("CELL_TEST_CELL"); bin != "" {
		cmd := exec.Command(bin, args...)
		cmd.Args[0] = "cell"
		return cmd
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Args[0] = "cell"
	cmd.Env = append(os.Environ(), "CELL_TEST_MAIN=1")
	return cmd
}

func runCellCmd(t *testing.T, cmd *exec.Cmd) cellResult {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run cell: %v", err)
	}
	return cellResult{out.String(), errb.String(), code}
}

// cell runs cell with args and returns what it did.
func cell(t *testing.T, args ...string) cellResult {
	t.Helper()
	return runCellCmd(t, cellCmd(t, args...))
}
