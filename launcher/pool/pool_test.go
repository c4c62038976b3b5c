package pool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/internal/testenv"
)

// The test binary doubles as a process of another user (POOL_TEST_AS):
// a client that sends a request to a socket, or a forged server that
// answers on one.
func TestMain(m *testing.M) {
	switch os.Getenv("POOL_TEST_AS") {
	case "client":
		os.Exit(otherClient(os.Args[1]))
	case "server":
		os.Exit(forgedServer(os.Args[1]))
	}
	os.Exit(m.Run())
}

// otherClient sends a request to the server at path and prints what it
// answers.
func otherClient(path string) int {
	_, err := DialSocket(path).Run(context.Background(), Request{Args: []string{"true"}})
	fmt.Println("result:", err)
	return 0
}

// forgedServer listens at path and answers every request as a sandbox
// would, after telling the test it listens: what a co-user who swapped
// a sandbox's socket would do to receive the victim's descriptors.
func forgedServer(path string) int {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	os.Chmod(path, 0o777)
	fmt.Println("listening")
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			return 0
		}
		rd := newReader(c)
		if _, err := rd.Line(); err == nil {
			fmt.Fprintf(os.Stderr, "forged server got %d descriptors\n", len(rd.TakeAll()))
			_ = send(c, serverMsg{Version: Version, Sandbox: "forged"})
			_ = send(c, serverMsg{Exit: &sandbox.Status{}})
		}
		c.Close()
	}
}

// asOther starts the test binary as the user celltest in mode as.
func asOther(t *testing.T, as, path string) *exec.Cmd {
	t.Helper()
	testenv.Root(t)
	uid, _ := testenv.Other(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The other user must reach the binary.
	bin := filepath.Join(filepath.Dir(path), "pool.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, path)
	cmd.Env = []string{"POOL_TEST_AS=" + as}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{}}}
	return cmd
}

// openDir is a directory that everyone may use: the sockets' own
// permissions would otherwise keep the other user out before any
// credential is checked, and these tests check what stands behind them.
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "cell-pool-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestServerRefusesOtherUser connects to a server as another user: the
// server refuses the request (SO_PEERCRED) and says why.
func TestServerRefusesOtherUser(t *testing.T) {
	dir := openDir(t)
	path := filepath.Join(dir, "s.sock")
	cmd := asOther(t, "client", path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			accepted <- err
			return
		}
		conn, err := Accept(c)
		if err == nil {
			conn.Refuse(errors.New("accepted"))
		}
		accepted <- err
	}()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as celltest: %v: %s", err, out)
	}
	if err := <-accepted; err == nil || !strings.Contains(err.Error(), "may not use a server of uid 0") {
		t.Errorf("Accept of another user's connection: %v", err)
	}
	if !strings.Contains(string(out), "may not use a server of uid 0") {
		t.Errorf("the other user was not told why: %s", out)
	}
}

// TestClientRefusesOtherServer has another user listen in place of a
// sandbox's socket: the client refuses it before it sends its request
// and descriptors, rather than take its forged answer.
func TestClientRefusesOtherServer(t *testing.T) {
	dir := openDir(t)
	path := filepath.Join(dir, "forged.sock")
	cmd := asOther(t, "server", path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "listening\n" {
		t.Fatalf("forged server: %q", line)
	}
	_, err = DialSocket(path).Run(context.Background(), Request{Args: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "runs as uid") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("request to another user's server: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if strings.Contains(stderr.String(), "descriptors") {
		t.Errorf("the forged server received the request: %s", stderr.String())
	}
}

// TestClientChecksServerProcess expects the server to be a given process
// (a record's cell): a server of the same user that is another process is
// refused, the expected one is not.
func TestClientChecksServerProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			if conn, err := Accept(c); err == nil {
				conn.Refuse(errors.New("no sandbox here"))
			}
		}
	}()
	self := os.Getpid()
	start, err := state.StartTime(self)
	if err != nil {
		t.Fatal(err)
	}
	parent := os.Getppid()
	pstart, _ := state.StartTime(parent)
	_, err = DialSocket(path).Expect(parent, pstart).Run(context.Background(), Request{Args: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("is process %d, not the sandbox's cell (pid %d)", self, parent)) {
		t.Errorf("a server that is not the expected process: %v", err)
	}
	_, err = DialSocket(path).Expect(self, start+1).Run(context.Background(), Request{Args: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "was reused") {
		t.Errorf("a server whose start time differs: %v", err)
	}
	_, err = DialSocket(path).Expect(self, start).Run(context.Background(), Request{Args: []string{"true"}})
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Errorf("the expected server: %v; want its own refusal", err)
	}
}
