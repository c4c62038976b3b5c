package egress

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/network"
)

// start is what cell sends the proxy process on its stdin: the proxy and
// the sockets that come as descriptors 3, 4, ... in this order.
type start struct {
	Proxy  network.Proxy    `json:"proxy"`
	Listen []network.Listen `json:"listen"`
}

// Main is the proxy process (network.ProxyProcess): it reads its start
// from stdin, serves the sockets it was given and writes each decision
// to stdout as a JSON line, until stdin closes (cell ended or stopped
// it).
func Main() int {
	dec := json.NewDecoder(os.Stdin)
	var st start
	if err := dec.Decode(&st); err != nil {
		fmt.Fprintf(os.Stderr, "%s: read start: %v\n", network.ProxyProcess, err)
		return 1
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	s := New(&st.Proxy, func(d Decision) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(d)
		_ = out.Flush()
	})
	errs := make(chan error, len(st.Listen))
	for i, l := range st.Listen {
		f := os.NewFile(uintptr(3+i), l.String())
		if err := serve(s, l, f); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %s: %v\n", network.ProxyProcess, l, err)
			return 1
		}
	}
	if err := drop(st.Proxy.UID, st.Proxy.GID); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", network.ProxyProcess, err)
		return 1
	}
	go func() {
		_, _ = io.Copy(io.Discard, io.MultiReader(dec.Buffered(), os.Stdin))
		errs <- nil
	}()
	if err := <-errs; err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", network.ProxyProcess, err)
		return 1
	}
	return 0
}

// drop gives up root for uid and gid (when uid is not 0) once the
// sockets are open: the proxy then only makes connections, which need no
// privilege. It drops itself, rather than being started as uid, so that
// cell's binary need not be executable by uid. Go applies the set*id
// calls to every thread.
func drop(uid, gid uint32) error {
	if uid == 0 {
		return nil
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(int(gid), int(gid), int(gid)); err != nil {
		return fmt.Errorf("setresgid(%d): %w", gid, err)
	}
	if err := syscall.Setresuid(int(uid), int(uid), int(uid)); err != nil {
		return fmt.Errorf("setresuid(%d): %w", uid, err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	return nil
}

// serve starts serving the socket f, which listens as l says.
func serve(s *Server, l network.Listen, f *os.File) error {
	defer f.Close()
	switch {
	case l.Net == "udp" && l.Serves == "dns":
		pc, err := net.FilePacketConn(f)
		if err != nil {
			return err
		}
		go func() { _ = s.ServeDNS(pc, nil) }()
	case l.Net == "tcp" && l.Serves == "dns":
		ln, err := net.FileListener(f)
		if err != nil {
			return err
		}
		go func() { _ = s.ServeDNS(nil, ln) }()
	case l.Net == "tcp" && l.Serves == "proxy":
		ln, err := net.FileListener(f)
		if err != nil {
			return err
		}
		go func() { _ = s.ServeProxy(ln) }()
	default:
		return fmt.Errorf("cannot serve %s", l)
	}
	return nil
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
	if err := json.NewEncoder(stdin).Encode(start{Proxy: *p, Listen: listen}); err != nil {
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
