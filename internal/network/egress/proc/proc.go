package proc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cellsandbox/cell/internal/network"
)

// Start is what cell sends the proxy process on its stdin: the proxy and
// the sockets that come as descriptors 3, 4, ... in this order.
type Start struct {
	Proxy  network.Proxy    `json:"proxy"`
	Listen []network.Listen `json:"listen"`
}

// Decision is one decision of the proxy: a line of its log.
type Decision struct {
	Time    time.Time `json:"time"`
	Sandbox string    `json:"sandbox,omitempty"`
	// Via is how the client asked: connect, http, socks5 or dns.
	Via     string `json:"via"`
	Name    string `json:"name"`
	Port    uint16 `json:"port,omitempty"`
	Allowed bool   `json:"allowed"`
	// Rule is the profile position of the rule that allowed it, or of
	// the default deny.
	Rule string `json:"rule"`
	// Reason says why an allowed name was still refused or failed (a
	// server name that differs, an address of the host's own).
	Reason string `json:"reason,omitempty"`
}

func (d Decision) String() string {
	verdict := "denied"
	if d.Allowed && d.Reason == "" {
		verdict = "allowed"
	} else if d.Allowed {
		verdict = "allowed, failed"
	}
	s := fmt.Sprintf("%s %s %s", verdict, d.Via, d.Name)
	if d.Port != 0 {
		s += ":" + strconv.Itoa(int(d.Port))
	}
	s += " by " + d.Rule
	if d.Reason != "" {
		s += ": " + d.Reason
	}
	return s
}

// Process is a running proxy process, seen from cell.
type Process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	denied atomic.Int64
	done   chan struct{}
	onDeny func(int64)
}

// Spawn starts the proxy process self (cell's own binary) for p on the
// sockets files, made as listen says. Each decision is appended to log
// (a JSON line) when it is not nil and printed to trace when that is not
// nil; onDeny, when not nil, is called with the count of denials after
// each.
func Spawn(self string, p *network.Proxy, listen []network.Listen, files []*os.File, log io.Writer, trace io.Writer, onDeny func(int64)) (*Process, error) {
	if len(listen) != len(files) {
		return nil, fmt.Errorf("%d sockets for %d listen addresses", len(files), len(listen))
	}
	cmd := exec.Command(self)
	cmd.Args = []string{network.ProxyProcess}
	cmd.Env = []string{}
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", network.ProxyProcess, err)
	}
	pr := &Process{cmd: cmd, stdin: stdin, done: make(chan struct{}), onDeny: onDeny}
	if err := json.NewEncoder(stdin).Encode(Start{Proxy: *p, Listen: listen}); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("send %s its start: %w", network.ProxyProcess, err)
	}
	go pr.read(stdout, log, trace)
	return pr, nil
}

// MaxLog is how much of a sandbox's decisions its log keeps: the state
// directory is often a tmpfs, and a sandbox asking for denied names in a
// loop must not fill it. Past it, decisions are counted, not written.
const MaxLog = 16 << 20

func (pr *Process) read(stdout io.Reader, log, trace io.Writer) {
	defer close(pr.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	written := 0
	for sc.Scan() {
		line := sc.Bytes()
		var d Decision
		if err := json.Unmarshal(line, &d); err != nil {
			continue
		}
		switch {
		case log == nil:
		case written+len(line) < MaxLog:
			n, _ := log.Write(append(line, '\n'))
			written += n
		case written < MaxLog:
			n, _ := fmt.Fprintf(log, `{"time":%q,"truncated":"the log reached %d bytes; later decisions are counted only"}`+"\n", d.Time.Format(time.RFC3339Nano), MaxLog)
			written = MaxLog + n
		}
		if trace != nil {
			fmt.Fprintf(trace, "cell: egress: %s\n", d)
		}
		if !d.Allowed {
			n := pr.denied.Add(1)
			if pr.onDeny != nil {
				pr.onDeny(n)
			}
		}
	}
}

// Denied is how many connections and questions the proxy denied.
func (pr *Process) Denied() int64 { return pr.denied.Load() }

// Stop ends the proxy: its stdin closes, which it waits for; connections
// still open end with it.
func (pr *Process) Stop() error {
	pr.stdin.Close()
	_ = pr.cmd.Process.Kill()
	err := pr.cmd.Wait()
	<-pr.done
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil // killed: its end, not a failure
	}
	return err
}

// CountDenied reads a proxy's decision log (one Decision a line) and
// returns how many connections and name questions it denied: what cell ps
// shows of a sandbox while it runs and after. A line that is not a
// decision (a log cut short at its size limit) is not counted.
func CountDenied(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var d Decision
		if json.Unmarshal(sc.Bytes(), &d) == nil && !d.Allowed && d.Rule != "" {
			n++
		}
	}
	return n, sc.Err()
}
