package pool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/sandbox"
)

// Version is the protocol version this package speaks, as client and as
// server (see the package documentation for what it covers).
const Version = 2

// RecordName is the name of pool's state record; its socket is
// RecordName(pool)+".sock" in the state directory.
func RecordName(pool string) string { return "pool-" + pool }

// SocketPath is where the pool named pool listens, in the state directory
// stateDir.
func SocketPath(stateDir, pool string) string {
	return filepath.Join(stateDir, RecordName(pool)+".sock")
}

// maxMessage bounds one message: a request is an argument vector, which
// the kernel bounds too (ARG_MAX is a quarter of the stack limit).
const maxMessage = 8 << 20

// request is the client's first message.
type request struct {
	Version int     `json:"version"`
	Run     *runReq `json:"run,omitempty"`
}

type runReq struct {
	Args    []string `json:"args"`
	TTY     bool     `json:"tty,omitempty"`
	Console bool     `json:"console,omitempty"`
	Stats   bool     `json:"stats,omitempty"`
	Env     []string `json:"env,omitempty"`
	Dir     string   `json:"dir,omitempty"`
}

// clientMsg is every later message of the client.
type clientMsg struct {
	Signal int `json:"signal,omitempty"`
}

// serverMsg is a message of the server: the answer (Version with Sandbox
// or Error) or the last one (Exit, or Error).
type serverMsg struct {
	Version int             `json:"version,omitempty"`
	Sandbox string          `json:"sandbox,omitempty"`
	Console string          `json:"console,omitempty"`
	Exit    *sandbox.Status `json:"exit,omitempty"`
	Stats   *sandbox.Stats  `json:"stats,omitempty"`
	Error   *wireError      `json:"error,omitempty"`
}

// wireError is a refused request or a command that could not be started.
type wireError struct {
	Msg   string `json:"msg"`
	Errno int    `json:"errno,omitempty"`
}

// VersionError is a peer that speaks another version of the protocol.
type VersionError struct {
	Client, Server int
	// Socket is the server's socket, as the client dialled it.
	Socket string
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("pool protocol version mismatch: this client speaks version %d, the server at %s speaks version %d", e.Client, e.Socket, e.Server)
}

// RefusedError is a request that the server refused, with its reason.
type RefusedError struct {
	Msg string
}

func (e *RefusedError) Error() string { return "request refused: " + e.Msg }

// send writes m as one line; with fds, in one sendmsg that carries them.
func send(c *net.UnixConn, m any, fds ...int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if len(fds) == 0 {
		_, err = c.Write(b)
		return err
	}
	n, _, err := c.WriteMsgUnix(b, unix.UnixRights(fds...), nil)
	if err == nil && n < len(b) {
		_, err = c.Write(b[n:])
	}
	return err
}

// reader reads lines from a unix socket and keeps the descriptors that
// arrive with them (SCM_RIGHTS; received close-on-exec).
type reader struct {
	c   *net.UnixConn
	buf []byte
	fds []int
}

// line returns the next line without its newline.
func (r *reader) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(r.buf, '\n'); i >= 0 {
			l := r.buf[:i]
			r.buf = r.buf[i+1:]
			return l, nil
		}
		if len(r.buf) > maxMessage {
			return nil, fmt.Errorf("a message longer than %d bytes", maxMessage)
		}
		b := make([]byte, 64<<10)
		oob := make([]byte, unix.CmsgSpace(4*4))
		n, oobn, _, _, err := r.c.ReadMsgUnix(b, oob)
		if oobn > 0 {
			if scms, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
				for _, scm := range scms {
					if fds, perr := unix.ParseUnixRights(&scm); perr == nil {
						r.fds = append(r.fds, fds...)
					}
				}
			}
		}
		r.buf = append(r.buf, b[:n]...)
		if n == 0 && err == nil {
			err = errors.New("EOF")
		}
		if err != nil && n == 0 {
			return nil, err
		}
	}
}

// closeFDs closes the descriptors received and not taken.
func (r *reader) closeFDs() {
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	r.fds = nil
}
