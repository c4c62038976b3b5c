// Package slirp runs the slirp4netns helper that gives a rootless
// sandbox its user-mode network.
package slirp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cellsandbox/cell/internal/network"
)

// UserNet is a slirp4netns process serving one sandbox's namespace.
type UserNet struct {
	cmd    *exec.Cmd
	exitW  *os.File
	dir    string
	api    string
	stderr *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 4096 {
		l.b.Write(p[:min(len(p), 4096-l.b.Len())])
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(l.b.String())
}

// Start runs the helper with args, in which network.InitPID stands
// for pid and network.APISocket for a socket path it makes, with
// descriptor 3 to write when the network is configured and descriptor 4
// whose closing stops the helper, and waits until it is ready. The helper
// also stops when cell dies, as descriptor 4 then closes.
func Start(helper string, args []string, pid int, timeout time.Duration) (*UserNet, error) {
	dir, err := os.MkdirTemp("", "cell-usernet-")
	if err != nil {
		return nil, err
	}
	u := &UserNet{dir: dir, api: filepath.Join(dir, "api.sock"), stderr: &lockedBuffer{}, done: make(chan error, 1)}
	argv := make([]string, len(args))
	for i, a := range args {
		a = strings.ReplaceAll(a, network.InitPID, strconv.Itoa(pid))
		argv[i] = strings.ReplaceAll(a, network.APISocket, u.api)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer readyR.Close()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	u.exitW = exitW
	u.cmd = &exec.Cmd{Path: helper, Args: append([]string{helper}, argv...), ExtraFiles: []*os.File{readyW, exitR}, Stderr: u.stderr, Stdout: u.stderr}
	err = u.cmd.Start()
	readyW.Close()
	exitR.Close()
	if err != nil {
		exitW.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", helper, err)
	}
	go func() { u.done <- u.cmd.Wait() }()
	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := readyR.Read(b)
		ready <- err
	}()
	select {
	case err := <-ready:
		if err == nil {
			return u, nil
		}
		u.Stop()
		return nil, fmt.Errorf("%s ended before the network was ready: %s", filepath.Base(helper), u.stderr)
	case <-time.After(timeout):
		u.Stop()
		return nil, fmt.Errorf("%s was not ready after %s: %s", filepath.Base(helper), timeout, u.stderr)
	}
}

// AddPort publishes hostPort of the host's addresses on guestPort of the
// sandbox through the helper's API.
func (u *UserNet) AddPort(proto string, hostPort, guestPort uint16) error {
	c, err := net.DialTimeout("unix", u.api, 5*time.Second)
	if err != nil {
		return fmt.Errorf("slirp4netns API: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := map[string]any{"execute": "add_hostfwd", "arguments": map[string]any{
		"proto": proto, "host_addr": "0.0.0.0", "host_port": hostPort, "guest_port": guestPort}}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("slirp4netns API: %w", err)
	}
	line, err := bufio.NewReader(c).ReadBytes('}')
	if err != nil && len(line) == 0 {
		return fmt.Errorf("slirp4netns API: %w", err)
	}
	var resp struct {
		Error *struct {
			Desc string `json:"desc"`
		} `json:"error"`
	}
	// The reply may be cut at the first "}"; an error reply is short.
	if json.Unmarshal(line, &resp) == nil && resp.Error != nil {
		return fmt.Errorf("publish %s port %d: %s", proto, hostPort, resp.Error.Desc)
	}
	if bytes.Contains(line, []byte(`"error"`)) {
		return fmt.Errorf("publish %s port %d: %s", proto, hostPort, line)
	}
	return nil
}

// Stop ends the helper: its exit descriptor closes, which it answers by
// exiting. Stop does not wait for that: closing its tap device makes the
// kernel tear the device down, ~15 ms that the sandbox's end need not
// wait for. The helper is reaped in the background, and SIGKILLed if it
// has not exited after a second (while this process lives).
func (u *UserNet) Stop() error {
	if u == nil {
		return nil
	}
	u.exitW.Close()
	err := os.RemoveAll(u.dir)
	go func() {
		select {
		case <-u.done:
		case <-time.After(time.Second):
			_ = u.cmd.Process.Kill()
			<-u.done
		}
	}()
	return err
}
