package proto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"

	"golang.org/x/sys/unix"
)

// MaxMessage bounds one message other than the plan: the largest, an exec
// or pool request, is an argument vector, which the kernel bounds too
// (ARG_MAX is a quarter of the stack limit).
const MaxMessage = 8 << 20

// MaxPlan bounds the plan that cell sends init. Plans of the built-in
// profiles are tens of KiB; the bound keeps a broken peer from making
// init read without end.
const MaxPlan = 64 << 20

// MaxFDs is the most descriptors one message carries (the egress proxy's
// sockets); a reader has room for that many per recvmsg.
const MaxFDs = 8

// TooLongError is a message longer than its bound.
type TooLongError struct {
	Max int
}

func (e *TooLongError) Error() string {
	return fmt.Sprintf("a message longer than %d bytes", e.Max)
}

// TruncatedError is a stream that ended inside a message.
type TruncatedError struct {
	// Len is how many bytes of the message came.
	Len int
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("the connection ended inside a message (%d bytes without their newline)", e.Len)
}

// Frame encodes m as one line, its newline included.
func Frame(m any) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) >= MaxMessage {
		return nil, &TooLongError{Max: MaxMessage}
	}
	return append(b, '\n'), nil
}

// Send writes m as one line on the socket fd; fds travel with its first
// byte. fd must be in blocking mode (init's socket; os.File's Fd puts a
// file's there).
func Send(fd int, m any, fds []int) error {
	b, err := Frame(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for len(b) > 0 {
		n, err := unix.SendmsgN(fd, b, oob, nil, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b, oob = b[n:], nil
	}
	return nil
}

// SendUnix writes m as one line on c; fds travel with its first byte.
func SendUnix(c *net.UnixConn, m any, fds ...int) error {
	b, err := Frame(m)
	if err != nil {
		return err
	}
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

// Recv is one recvmsg: it fills b and oob and says how much of each it
// filled; n 0 (without an error) is the end of the stream.
type Recv func(b, oob []byte) (n, oobn int, err error)

// FDRecv reads the socket fd, which must be in blocking mode, receiving
// descriptors close-on-exec.
func FDRecv(fd int) Recv {
	return func(b, oob []byte) (int, int, error) {
		for {
			n, oobn, _, _, err := unix.Recvmsg(fd, b, oob, unix.MSG_CMSG_CLOEXEC)
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				return 0, 0, err
			}
			return n, oobn, nil
		}
	}
}

// UnixRecv reads c (Go receives descriptors close-on-exec); c's deadlines
// apply.
func UnixRecv(c *net.UnixConn) Recv {
	return func(b, oob []byte) (int, int, error) {
		n, oobn, _, _, err := c.ReadMsgUnix(b, oob)
		if err == io.EOF {
			err = nil
		}
		return n, oobn, err
	}
}

// Reader reads lines and the descriptors that arrive with them, which a
// plain read would drop. The descriptors are the reader's until taken
// (Take, TakeAll) or closed (CloseFDs).
type Reader struct {
	recv  Recv
	max   int
	buf   []byte
	fds   []int
	chunk []byte
	oob   []byte
}

// NewReader reads with recv, after buffered (bytes read from the stream
// before), lines of at most MaxMessage bytes.
func NewReader(recv Recv, buffered []byte) *Reader {
	return &Reader{recv: recv, max: MaxMessage, buf: append([]byte(nil), buffered...)}
}

// Line returns the next line that is not blank, without its newline. It
// is valid until the next call. At the end of the stream it returns
// io.EOF, or a *TruncatedError when the stream ended inside a line.
func (r *Reader) Line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(r.buf, '\n'); i >= 0 {
			l := r.buf[:i]
			r.buf = r.buf[i+1:]
			if len(bytes.TrimSpace(l)) == 0 {
				continue // the newline after a value a json.Decoder read
			}
			return l, nil
		}
		if len(r.buf) > r.max {
			return nil, &TooLongError{Max: r.max}
		}
		n, err := r.fill()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if len(bytes.TrimSpace(r.buf)) > 0 {
				return nil, &TruncatedError{Len: len(r.buf)}
			}
			return nil, io.EOF
		}
	}
}

// fill reads once, keeping the bytes and descriptors that came.
func (r *Reader) fill() (int, error) {
	if r.chunk == nil {
		r.chunk = make([]byte, 16<<10)
		r.oob = make([]byte, unix.CmsgSpace(MaxFDs*4))
	}
	n, oobn, err := r.recv(r.chunk, r.oob)
	if n < 0 || oobn < 0 {
		n, oobn = 0, 0
	}
	if oobn > 0 {
		if scms, perr := unix.ParseSocketControlMessage(r.oob[:oobn]); perr == nil {
			for i := range scms {
				if fds, perr := unix.ParseUnixRights(&scms[i]); perr == nil {
					r.fds = append(r.fds, fds...)
				}
			}
		}
	}
	r.buf = append(r.buf, r.chunk[:n]...)
	if err != nil && n == 0 {
		return 0, err
	}
	return n, nil
}

// Drain reads the stream to its end (or a failed read), keeping what
// came for Line and the descriptors for Take.
func (r *Reader) Drain() {
	for {
		if n, err := r.fill(); err != nil || n == 0 {
			return
		}
	}
}

// Buffered returns what was read and not yet returned by Line, and the
// descriptors not taken; the reader keeps neither.
func (r *Reader) Buffered() ([]byte, []int) {
	b, fds := r.buf, r.fds
	r.buf, r.fds = nil, nil
	return b, fds
}

// Take returns the first n descriptors received and not taken, or an
// error when fewer came.
func (r *Reader) Take(n int) ([]int, error) {
	if len(r.fds) < n {
		return nil, fmt.Errorf("%d descriptors came, %d were expected", len(r.fds), n)
	}
	fds := r.fds[:n:n]
	r.fds = r.fds[n:]
	return fds, nil
}

// TakeAll returns every descriptor received and not taken.
func (r *Reader) TakeAll() []int {
	fds := r.fds
	r.fds = nil
	return fds
}

// CloseFDs closes the descriptors received and not taken.
func (r *Reader) CloseFDs() {
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	r.fds = nil
}

// Keep gives the reader descriptors that came before it, to be taken
// first (those that another reader of the same stream had not taken).
func (r *Reader) Keep(fds []int) {
	r.fds = append(fds, r.fds...)
}
