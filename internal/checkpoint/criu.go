package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// CRIU runs criu in its RPC mode (criu swrk): one request and its
// notifications over a SOCK_SEQPACKET pair, as protocol buffers.
//
// cell speaks the protocol itself, with go-criu's message types, rather
// than through go-criu's client: that client cannot hand criu the
// descriptors a restore inherits (InheritFd names criu's own descriptor
// numbers), start criu in the sandbox's cgroup, keep criu's stderr for an
// error message, or receive a descriptor that a notification carries.
type CRIU struct {
	// Path is the criu executable.
	Path string
}

// Call is one request to criu.
type Call struct {
	Type rpc.CriuReqType
	Opts *rpc.CriuOpts
	// Files are given to criu at descriptors 3, 4, ... (for the
	// request's InheritFd and images directory).
	Files []*os.File
	// CgroupFD, when not negative, starts criu in that cgroup, so that
	// what it restores starts there too.
	CgroupFD int
	// Notify, when set, receives criu's notifications (pre-dump,
	// post-restore, ...) with the descriptors they carry; an error
	// fails the request.
	Notify func(n *rpc.CriuNotify, fds []int) error
}

// Do runs one request and returns criu's answer. A refused request is an
// error with criu's message and the log's errors, when there is a log.
func (c *CRIU) Do(call Call) (*rpc.CriuResp, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "criu-rpc")
	theirs := os.NewFile(uintptr(fds[1]), "criu-rpc")
	defer ours.Close()
	files := append([]*os.File{theirs}, call.Files...)
	// criu's end is its descriptor 3; Files follow at 4, 5, ...
	cmd := exec.Command(c.Path, "swrk", "3")
	cmd.ExtraFiles = files
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if call.CgroupFD >= 0 {
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, call.CgroupFD
	}
	if err := cmd.Start(); err != nil {
		theirs.Close()
		return nil, fmt.Errorf("start %s swrk: %w", c.Path, err)
	}
	theirs.Close()
	resp, rerr := c.converse(ours, call)
	ours.Close()
	// The answer is what counts: after some (a pre-dump's) criu waits
	// for another request and ends with 255 when the socket closes.
	_ = cmd.Wait()
	if rerr != nil {
		// The caller adds the errors of the request's log, which only it
		// can find (its directory is a descriptor of the caller's).
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			rerr = fmt.Errorf("%w: %s", rerr, msg)
		}
		return resp, rerr
	}
	return resp, nil
}

func (c *CRIU) converse(sk *os.File, call Call) (*rpc.CriuResp, error) {
	typ := call.Type
	req := &rpc.CriuReq{Type: &typ, Opts: call.Opts}
	if call.Notify != nil && call.Opts != nil {
		call.Opts.NotifyScripts = proto.Bool(true)
	}
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*16))
	for {
		b, err := proto.Marshal(req)
		if err != nil {
			return nil, err
		}
		if _, err := sk.Write(b); err != nil {
			return nil, fmt.Errorf("criu rpc: send %s: %w", typ, err)
		}
		n, oobn, _, _, err := unix.Recvmsg(int(sk.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("criu rpc: receive: %w", err)
		}
		if n == 0 {
			return nil, fmt.Errorf("criu rpc: %s: criu ended without an answer", typ)
		}
		var passed []int
		if oobn > 0 {
			msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
			for _, m := range msgs {
				if f, err := unix.ParseUnixRights(&m); err == nil {
					passed = append(passed, f...)
				}
			}
		}
		resp := &rpc.CriuResp{}
		if err := proto.Unmarshal(buf[:n], resp); err != nil {
			closeAll(passed)
			return nil, fmt.Errorf("criu rpc: %w", err)
		}
		if !resp.GetSuccess() {
			closeAll(passed)
			msg := resp.GetCrErrmsg()
			if msg == "" && resp.GetCrErrno() != 0 {
				msg = unix.Errno(resp.GetCrErrno()).Error()
			}
			if msg == "" {
				msg = "failed"
			}
			return resp, fmt.Errorf("criu %s: %s", strings.ToLower(typ.String()), msg)
		}
		if resp.GetType() != rpc.CriuReqType_NOTIFY {
			closeAll(passed)
			return resp, nil
		}
		var nerr error
		if call.Notify != nil {
			nerr = call.Notify(resp.GetNotify(), passed)
		} else {
			closeAll(passed)
		}
		if nerr != nil {
			return resp, fmt.Errorf("criu %s: %s: %w", strings.ToLower(typ.String()), resp.GetNotify().GetScript(), nerr)
		}
		nt := rpc.CriuReqType_NOTIFY
		req = &rpc.CriuReq{Type: &nt, NotifySuccess: proto.Bool(true)}
	}
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// ErrorLines returns the "Error" lines of a criu log, without criu's
// timestamps and source positions, joined by "; ".
func ErrorLines(logPath string) string {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		i := strings.Index(l, "Error (")
		if i < 0 {
			continue
		}
		l = l[i+len("Error ("):]
		if j := strings.Index(l, "): "); j >= 0 {
			l = l[j+3:]
		}
		// criu's helpers' exits say nothing the other lines do not.
		if l = strings.TrimSpace(l); !strings.HasPrefix(l, "exited, status=") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}

// Version asks criu for its version (major.minor[.sublevel]).
func (c *CRIU) Version() (string, error) {
	resp, err := c.Do(Call{Type: rpc.CriuReqType_VERSION, CgroupFD: -1})
	if err != nil {
		return "", err
	}
	v := resp.GetVersion()
	s := strconv.Itoa(int(v.GetMajorNumber())) + "." + strconv.Itoa(int(v.GetMinorNumber()))
	if v.GetSublevel() != 0 {
		s += "." + strconv.Itoa(int(v.GetSublevel()))
	}
	return s, nil
}

// Check runs criu's check of the kernel (the RPC's CHECK, as `criu
// check`): nil when criu can checkpoint here, else why not, from its log.
func (c *CRIU) Check() error {
	dir, err := os.MkdirTemp("", "cell-criu-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	opts := &rpc.CriuOpts{
		// criu opens the images directory through /proc/CALLER/fd/N:
		// the number is cell's.
		ImagesDirFd: proto.Int32(int32(d.Fd())),
		LogFile:     proto.String("check.log"),
		LogLevel:    proto.Int32(2),
	}
	_, err = c.Do(Call{Type: rpc.CriuReqType_CHECK, Opts: opts, CgroupFD: -1})
	if err != nil {
		if log := ErrorLines(filepath.Join(dir, "check.log")); log != "" {
			return errors.New(log)
		}
		return err
	}
	return nil
}
