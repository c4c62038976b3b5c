package egress

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/internal/network/egress/proc"
)

// Main is the proxy process (network.ProxyProcess): it reads its start
// from stdin, serves the sockets it was given and writes each decision
// to stdout as a JSON line, until stdin closes (cell ended or stopped
// it).
func Main() int {
	dec := json.NewDecoder(os.Stdin)
	var st proc.Start
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
