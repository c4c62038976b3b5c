package pool

import (
	"fmt"
	"net"
	"path/filepath"

	"github.com/cellsandbox/cell/internal/proto"
)

// Version is the protocol version this package speaks, as client and as
// server (see the package documentation for what it covers).
const Version = proto.PoolVersion

// RecordName is the name of pool's state record; its socket is
// RecordName(pool)+".sock" in the state directory.
func RecordName(pool string) string { return "pool-" + pool }

// SocketPath is where the pool named pool listens, in the state directory
// stateDir.
func SocketPath(stateDir, pool string) string {
	return filepath.Join(stateDir, RecordName(pool)+".sock")
}

// The messages are internal/proto's, which holds the framing both
// protocols of cell share.
type (
	request   = proto.Request
	runReq    = proto.RunRequest
	clientMsg = proto.ClientMsg
	serverMsg = proto.ServerMsg
	wireError = proto.WireError
)

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
	return proto.SendUnix(c, m, fds...)
}

// newReader reads lines from c and keeps the descriptors that arrive with
// them (SCM_RIGHTS; received close-on-exec).
func newReader(c *net.UnixConn) *proto.Reader {
	return proto.NewReader(proto.UnixRecv(c), nil)
}
