// Command reality checks, from inside a sandbox, what cell explain says of
// it: it reads the JSON of `cell explain --format json` on standard input
// and tries each claim (read, write and execute at each mount; connect to
// an address beyond the host over TCP and UDP; connect to an abstract Unix
// socket of the host; signal a process of the host), printing one line per
// attempt:
//
//	AGREES write:/usr: EROFS (read-only file system)
//	CONTRADICTS exec:/tmp: ran /tmp/.cell-reality-exe-7, claimed denied by landlock
//	UNCONFIRMED read:/srv: EACCES (permission denied), claimed allowed by mount
//	SKIPPED exec:/etc/passwd: no program to run there
//
// CONTRADICTS is a claim of a denial that the attempt got through, or a
// mount claimed writable that is read-only: explain says more than is
// enforced, or less. UNCONFIRMED is an allowed access that failed for a
// reason the claims do not model (file permissions, no server). The
// program exits 0 when nothing contradicts the claims, 1 otherwise.
//
// With -true it only exits 0: the program it copies into a directory to
// test execution is itself.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/syserr"
	"github.com/cellsandbox/cell/spec/access"
)

// explanation is the part of cell explain's JSON the program checks.
type explanation struct {
	Claims struct {
		Files   []access.Path  `json:"files"`
		Network []access.Reach `json:"network"`
	} `json:"claims"`
}

func main() {
	os.Exit(run())
}

func run() int {
	only := flag.Bool("true", false, "exit 0 at once")
	outside := flag.String("outside", "", "an `ADDRESS` beyond the host that serves TCP on every probed port and echoes UDP")
	abstract := flag.String("abstract", "", "the `NAME` of an abstract Unix socket the host listens on")
	hostPid := flag.Int("hostpid", 0, "the `PID`, in the host's pid namespace, of a process of the host")
	flag.Parse()
	if *only {
		return 0
	}
	var e explanation
	if err := json.NewDecoder(os.Stdin).Decode(&e); err != nil {
		fmt.Fprintln(os.Stderr, "reality: read the explanation:", err)
		return 2
	}
	bad := false
	say := func(name string, claim access.Verdict, got error, skip string) {
		switch {
		case skip != "":
			fmt.Printf("SKIPPED %s: %s\n", name, skip)
		case claim.Allowed && got == nil:
			fmt.Printf("AGREES %s: done, claimed %s\n", name, claim)
		case claim.Allowed && errors.Is(got, unix.EROFS):
			bad = true
			fmt.Printf("CONTRADICTS %s: %s, claimed %s\n", name, text(got), claim)
		case claim.Allowed:
			fmt.Printf("UNCONFIRMED %s: %s, claimed %s\n", name, text(got), claim)
		case got == nil:
			bad = true
			fmt.Printf("CONTRADICTS %s: done, claimed %s\n", name, claim)
		default:
			fmt.Printf("AGREES %s: %s, claimed %s\n", name, text(got), claim)
		}
	}
	for _, p := range e.Claims.Files {
		var st unix.Stat_t
		if err := unix.Lstat(p.Path, &st); err != nil {
			for _, what := range []string{"read", "write", "exec"} {
				say(what+":"+p.Path, access.Verdict{}, nil, "not there: "+text(err))
			}
			continue
		}
		dir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		say("read:"+p.Path, p.Read, tryRead(p.Path, dir), "")
		werr := tryWrite(p.Path, dir)
		say("write:"+p.Path, p.Write, werr, "")
		skip, xerr := tryExec(p.Path, dir, werr == nil)
		say("exec:"+p.Path, p.Exec, xerr, skip)
	}
	for _, r := range e.Claims.Network {
		name := r.What + ":" + r.To
		if r.Port != 0 {
			name += ":" + strconv.Itoa(int(r.Port))
		}
		switch {
		case r.What == "tcp-connect" && *outside != "":
			say(name, r.Verdict, dialTCP(net.JoinHostPort(*outside, strconv.Itoa(int(r.Port)))), "")
		case r.What == "udp-send" && *outside != "":
			say(name, r.Verdict, echoUDP(net.JoinHostPort(*outside, strconv.Itoa(int(r.Port)))), "")
		case r.What == "abstract-unix" && *abstract != "":
			say(name, r.Verdict, dialAbstract(*abstract), "")
		case r.What == "signal" && *hostPid != 0:
			say(name, r.Verdict, unix.Kill(*hostPid, 0), "")
		default:
			say(name, r.Verdict, nil, "not probed from inside here")
		}
	}
	if bad {
		return 1
	}
	return 0
}

// text prints an error with its errno's name where it has one.
func text(err error) string { return syserr.Text(err) }

func tryRead(path string, dir bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if dir {
		_, err = f.Readdirnames(1)
		if err == io.EOF {
			err = nil
		}
		return err
	}
	_, err = f.Read(make([]byte, 1))
	if err == io.EOF {
		err = nil
	}
	return err
}

// tryWrite creates and removes a file in a directory, or opens a file for
// appending without writing to it.
func tryWrite(path string, dir bool) error {
	if !dir {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: path, Err: err}
		}
		return unix.Close(fd)
	}
	name := filepath.Join(path, fmt.Sprintf(".cell-reality-%d", os.Getpid()))
	fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: name, Err: err}
	}
	unix.Close(fd)
	return os.Remove(name)
}

// tryExec runs a program from path: a copy of this one where the
// directory is writable, else one of the usual true programs under it.
func tryExec(path string, dir, writable bool) (skip string, err error) {
	if !dir {
		var st unix.Stat_t
		if unix.Stat(path, &st) != nil || st.Mode&0o111 == 0 || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return "not an executable file", nil
		}
		return "", runProgram(path, "--version")
	}
	if writable {
		self, rerr := os.ReadFile("/proc/self/exe")
		if rerr != nil {
			return "cannot read this program: " + text(rerr), nil
		}
		exe := filepath.Join(path, fmt.Sprintf(".cell-reality-exe-%d", os.Getpid()))
		if werr := os.WriteFile(exe, self, 0o755); werr != nil {
			return "cannot copy this program there: " + text(werr), nil
		}
		defer os.Remove(exe)
		return "", runProgram(exe, "-true")
	}
	for _, c := range []string{"true", "bin/true", "usr/bin/true"} {
		p := filepath.Join(path, c)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return "", runProgram(p)
		}
	}
	return "no program to run there", nil
}

func runProgram(path string, args ...string) error {
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) || errors.Is(err, unix.ENOEXEC) {
		return nil // it ran, or execve got past every permission check
	}
	return err
}

func dialTCP(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// echoUDP sends a datagram to addr and waits for the echo.
func echoUDP(addr string) error {
	c, err := net.DialTimeout("udp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("cell-reality")); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 64))
	return err
}

func dialAbstract(name string) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + name})
}
