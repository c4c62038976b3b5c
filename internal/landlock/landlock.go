package landlock

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/bitnames"
)

// Mode says what happens when the kernel cannot enforce all of a [Rules].
type Mode uint8

// The modes. The zero value is Require: a policy is weakened only when the
// profile says so.
const (
	// Require refuses to start the sandbox when the kernel's Landlock
	// ABI lacks a feature that the rules need.
	Require Mode = iota
	// BestEffort enforces what the kernel supports and drops the rest;
	// [Rules.Effective] says what was dropped.
	BestEffort
	modeCount
)

func (m Mode) String() string {
	switch m {
	case Require:
		return "require"
	case BestEffort:
		return "best-effort"
	case modeCount:
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// MarshalText prints the mode's name.
func (m Mode) MarshalText() ([]byte, error) {
	if m >= modeCount {
		return nil, fmt.Errorf("invalid landlock mode %d", uint8(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText parses a mode's name: "require" or "best-effort".
func (m *Mode) UnmarshalText(b []byte) error {
	for c := Require; c < modeCount; c++ {
		if c.String() == string(b) {
			*m = c
			return nil
		}
	}
	return fmt.Errorf("unknown landlock mode %q (want require or best-effort)", b)
}

// Rules is a Landlock policy: the file hierarchies and TCP ports that stay
// usable. Paths are absolute, clean and resolved inside the sandbox's root
// without following symlinks (list the directory a symlink points to). A
// path may be a directory (the rule covers everything beneath it) or any
// other file (the rule covers that file).
//
// A kind of access is restricted only when the rules name at least one
// allowance of that kind: filesystem access when any of ReadOnly,
// ReadWrite and ReadExec is non-empty, TCP bind when BindTCP is, TCP
// connect when ConnectTCP is. A path in two lists gets both grants.
type Rules struct {
	// ReadOnly paths can be read and listed.
	ReadOnly []string `json:"readOnly,omitempty"`
	// ReadWrite paths can be read, listed, written, truncated, and have
	// entries created, removed, renamed and linked (but no device nodes);
	// not executed (list the path in ReadExec too for that).
	ReadWrite []string `json:"readWrite,omitempty"`
	// ReadExec paths can be read, listed and executed.
	ReadExec []string `json:"readExec,omitempty"`
	// BindTCP are the TCP ports that sockets may bind to (0: let the
	// kernel pick an ephemeral port).
	BindTCP []uint16 `json:"bindTCP,omitempty"`
	// ConnectTCP are the TCP ports that sockets may connect to.
	ConnectTCP []uint16 `json:"connectTCP,omitempty"`
	// Scope cuts the command off from processes outside its landlock
	// domain: their abstract Unix sockets, their signals (ABI 6).
	Scope []Scope `json:"scope,omitempty"`
	// Mode says whether a kernel that cannot enforce every rule is an
	// error (Require, the zero value) or not (BestEffort).
	Mode Mode `json:"mode"`
}

// Scope is a kind of interaction with processes outside the domain that
// a ruleset refuses (LANDLOCK_SCOPE_*).
type Scope uint8

// The scopes.
const (
	scopeInvalid Scope = iota
	// AbstractUnixSocket refuses connecting and sending to abstract Unix
	// sockets bound by processes outside the domain.
	AbstractUnixSocket
	// Signal refuses signalling processes outside the domain.
	Signal
	scopeCount
)

func (s Scope) String() string {
	switch s {
	case AbstractUnixSocket:
		return "abstract-unix-socket"
	case Signal:
		return "signal"
	case scopeInvalid, scopeCount:
	}
	return "Scope(" + strconv.Itoa(int(s)) + ")"
}

// bit is the scope's LANDLOCK_SCOPE_* flag, 0 for an invalid scope.
func (s Scope) bit() uint64 {
	switch s {
	case AbstractUnixSocket:
		return unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
	case Signal:
		return unix.LANDLOCK_SCOPE_SIGNAL
	case scopeInvalid, scopeCount:
	}
	return 0
}

// MarshalText prints the scope's name.
func (s Scope) MarshalText() ([]byte, error) {
	if s.bit() == 0 {
		return nil, fmt.Errorf("invalid landlock scope %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText parses a scope's name: "abstract-unix-socket" or "signal".
func (s *Scope) UnmarshalText(b []byte) error {
	for c := scopeInvalid + 1; c < scopeCount; c++ {
		if c.String() == string(b) {
			*s = c
			return nil
		}
	}
	return fmt.Errorf("unknown landlock scope %q (want abstract-unix-socket or signal)", b)
}

// Filesystem access rights, and the Landlock ABI that introduced each.
type right struct {
	bit  uint64
	name string
	abi  int
}

var fsRights = [...]right{
	{unix.LANDLOCK_ACCESS_FS_EXECUTE, "execute", 1},
	{unix.LANDLOCK_ACCESS_FS_WRITE_FILE, "write_file", 1},
	{unix.LANDLOCK_ACCESS_FS_READ_FILE, "read_file", 1},
	{unix.LANDLOCK_ACCESS_FS_READ_DIR, "read_dir", 1},
	{unix.LANDLOCK_ACCESS_FS_REMOVE_DIR, "remove_dir", 1},
	{unix.LANDLOCK_ACCESS_FS_REMOVE_FILE, "remove_file", 1},
	{unix.LANDLOCK_ACCESS_FS_MAKE_CHAR, "make_char", 1},
	{unix.LANDLOCK_ACCESS_FS_MAKE_DIR, "make_dir", 1},
	{unix.LANDLOCK_ACCESS_FS_MAKE_REG, "make_reg", 1},
	{unix.LANDLOCK_ACCESS_FS_MAKE_SOCK, "make_sock", 1},
	{unix.LANDLOCK_ACCESS_FS_MAKE_FIFO, "make_fifo", 1},
	{unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK, "make_block", 1},
	{unix.LANDLOCK_ACCESS_FS_MAKE_SYM, "make_sym", 1},
	{unix.LANDLOCK_ACCESS_FS_REFER, "refer", 2},
	{unix.LANDLOCK_ACCESS_FS_TRUNCATE, "truncate", 3},
	{unix.LANDLOCK_ACCESS_FS_IOCTL_DEV, "ioctl_dev", 5},
	{unix.LANDLOCK_ACCESS_FS_RESOLVE_UNIX, "resolve_unix", 9},
}

// The ABI versions that features of Rules need.
const (
	// ABIFS is the first ABI where filesystem rules are complete: before
	// it, truncate(2) of any file the DAC permits is not controlled, so
	// a read-only or unlisted file could be emptied.
	ABIFS = 3
	// ABITCP added TCP bind and connect rules.
	ABITCP = 4
	// ABIScope added scoping of abstract Unix sockets and signals.
	ABIScope = 6
)

// The rights each list grants.
const (
	grantReadOnly = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR
	grantReadExec = grantReadOnly | unix.LANDLOCK_ACCESS_FS_EXECUTE
	// Not make_char or make_block (no device nodes), not ioctl_dev (no
	// ioctls on devices opened inside, such as TIOCSTI on /dev/tty), not
	// resolve_unix (no connecting to sockets of processes outside).
	grantReadWrite = grantReadOnly | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_DIR | unix.LANDLOCK_ACCESS_FS_MAKE_REG |
		unix.LANDLOCK_ACCESS_FS_MAKE_SOCK | unix.LANDLOCK_ACCESS_FS_MAKE_FIFO |
		unix.LANDLOCK_ACCESS_FS_MAKE_SYM | unix.LANDLOCK_ACCESS_FS_REFER |
		unix.LANDLOCK_ACCESS_FS_TRUNCATE
	// FileRights are the rights that apply to a file that is not a
	// directory; the kernel rejects a rule on such a file with others.
	FileRights = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE |
		unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
)

// pathList is one of the three path lists, with its field name and grant.
type pathList struct {
	field string
	word  string
	paths []string
	grant uint64
}

func (r *Rules) pathLists() [3]pathList {
	return [3]pathList{
		{"readOnly", "read-only", r.ReadOnly, grantReadOnly},
		{"readExec", "read-exec", r.ReadExec, grantReadExec},
		{"readWrite", "read-write", r.ReadWrite, grantReadWrite},
	}
}

// portList is one of the two port lists, with its field name and right.
type portList struct {
	field string
	word  string
	ports []uint16
	right uint64
}

func (r *Rules) portLists() [2]portList {
	return [2]portList{
		{"bindTCP", "tcp bind", r.BindTCP, unix.LANDLOCK_ACCESS_NET_BIND_TCP},
		{"connectTCP", "tcp connect", r.ConnectTCP, unix.LANDLOCK_ACCESS_NET_CONNECT_TCP},
	}
}

func (r *Rules) hasFS() bool {
	return len(r.ReadOnly)+len(r.ReadWrite)+len(r.ReadExec) > 0
}

func (r *Rules) hasTCP() bool { return len(r.BindTCP)+len(r.ConnectTCP) > 0 }

// scopeBits is the LANDLOCK_SCOPE_* word of the rules' scopes.
func (r *Rules) scopeBits() uint64 {
	var b uint64
	for _, s := range r.Scope {
		b |= s.bit()
	}
	return b
}

// scopes prints the scopes: "abstract-unix-socket, signal".
func (r *Rules) scopes() string {
	q := make([]string, len(r.Scope))
	for i, s := range r.Scope {
		q[i] = s.String()
	}
	return strings.Join(q, ", ")
}

// RestrictsTCP reports whether the rules restrict TCP bind or connect.
// Landlock mediates TCP sockets only: whoever applies such rules must
// also keep the command from other stream protocols (MPTCP, SCTP), which
// would reach any port.
func (r *Rules) RestrictsTCP() bool { return r != nil && r.hasTCP() }

// Empty reports whether the rules restrict nothing.
func (r *Rules) Empty() bool { return !r.hasFS() && !r.hasTCP() && len(r.Scope) == 0 }

// Check validates the rules and, in Require mode, that a kernel with
// Landlock ABI version abi can enforce all of them. The error names what
// the kernel lacks. In BestEffort mode only the rules themselves are
// checked.
func (r *Rules) Check(abi int) error {
	var errs []error
	for _, l := range r.pathLists() {
		for i, p := range l.paths {
			switch {
			case p == "":
				errs = append(errs, fmt.Errorf("landlock: %s[%d]: empty path", l.field, i))
			case !filepath.IsAbs(p):
				errs = append(errs, fmt.Errorf("landlock: %s[%d]: %q is not an absolute path", l.field, i, p))
			case filepath.Clean(p) != p:
				errs = append(errs, fmt.Errorf("landlock: %s[%d]: %q is not clean (want %q)", l.field, i, p, filepath.Clean(p)))
			}
		}
	}
	for i, sc := range r.Scope {
		if sc.bit() == 0 {
			errs = append(errs, fmt.Errorf("landlock: scope[%d]: invalid scope %d", i, uint8(sc)))
		}
	}
	if r.Mode >= modeCount {
		errs = append(errs, fmt.Errorf("landlock: invalid mode %d", uint8(r.Mode)))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if r.Mode != Require {
		return nil
	}
	if missing := r.missing(abi); len(missing) > 0 {
		if abi <= 0 {
			return fmt.Errorf("landlock is required, but this kernel has none (ABI 0): %s", strings.Join(missing, ", "))
		}
		return fmt.Errorf("landlock is required, but this kernel's ABI is %d: %s", abi, strings.Join(missing, ", "))
	}
	return nil
}

// missing lists the needs of the rules that ABI abi does not meet.
func (r *Rules) missing(abi int) []string {
	var m []string
	if r.hasFS() && abi < ABIFS {
		m = append(m, fmt.Sprintf("filesystem rules need ABI %d (truncate control); have %d", ABIFS, max(abi, 0)))
	}
	if r.hasTCP() && abi < ABITCP {
		m = append(m, fmt.Sprintf("TCP rules need ABI %d; have %d", ABITCP, max(abi, 0)))
	}
	if len(r.Scope) > 0 && abi < ABIScope {
		m = append(m, fmt.Sprintf("scope %s needs ABI %d; have %d", r.scopes(), ABIScope, max(abi, 0)))
	}
	return m
}

// enforcement is what a Rules comes to at one ABI version: the handled
// rights (everything of them that is not granted is denied) and what the
// plan must say about the rest.
type enforcement struct {
	fs, net, scope uint64
	// dropped are rules that this ABI cannot enforce at all.
	dropped []string
	// unenforced are rights that this ABI cannot control.
	unenforced []string
	// notes are other differences from what the rules say.
	notes []string
}

func (r *Rules) enforcement(abi int) enforcement {
	var e enforcement
	if abi <= 0 {
		if r.hasFS() {
			e.dropped = append(e.dropped, "filesystem rules")
		}
		for _, l := range r.portLists() {
			if len(l.ports) > 0 {
				e.dropped = append(e.dropped, l.word+" rules")
			}
		}
		if len(r.Scope) > 0 {
			e.dropped = append(e.dropped, "scope "+r.scopes())
		}
		return e
	}
	if r.hasFS() {
		for _, rt := range fsRights {
			if rt.abi <= abi {
				e.fs |= rt.bit
			} else {
				e.unenforced = append(e.unenforced, fmt.Sprintf("%s (ABI %d)", rt.name, rt.abi))
			}
		}
		if abi < 2 {
			e.notes = append(e.notes, "renaming or linking across directories always fails (ABI 1)")
		}
	}
	for _, l := range r.portLists() {
		switch {
		case len(l.ports) == 0:
		case abi >= ABITCP:
			e.net |= l.right
		default:
			e.dropped = append(e.dropped, fmt.Sprintf("%s %s (ABI %d)", l.word, ports(l.ports), ABITCP))
		}
	}
	switch {
	case len(r.Scope) == 0:
	case abi >= ABIScope:
		e.scope = r.scopeBits()
	default:
		e.dropped = append(e.dropped, fmt.Sprintf("scope %s (ABI %d)", r.scopes(), ABIScope))
	}
	if e.net != 0 {
		e.unenforced = append(e.unenforced, "UDP; MPTCP, SCTP and raw sockets, which the seccomp filter refuses")
	}
	return e
}

// Ruleset is what Rules come to at one ABI version, in the kernel's
// terms: the handled rights (everything of them that no rule grants is
// denied) and the rules that grant some of them. Restricting a thread is
// making this ruleset and nothing else, so that what the plan prints
// ([Rules.Effective]) is what the kernel is given.
type Ruleset struct {
	HandledFS, HandledNet, Scoped uint64
	Paths                         []PathRule
	Ports                         []PortRule
}

// PathRule grants Allowed beneath Path; Word names its list ("read-only").
// On a path that is not a directory only [FileRights] of it apply.
type PathRule struct {
	Word, Path string
	Allowed    uint64
}

// PortRule grants Allowed (bind or connect) on a TCP port; Word names its
// list ("tcp connect").
type PortRule struct {
	Word    string
	Port    uint16
	Allowed uint64
}

// Ruleset returns the ruleset that enforces r on a kernel with Landlock
// ABI version abi. It handles nothing when r is empty or the ABI can
// enforce none of it.
func (r *Rules) Ruleset(abi int) Ruleset {
	e := r.enforcement(abi)
	rs := Ruleset{HandledFS: e.fs, HandledNet: e.net, Scoped: e.scope}
	if e.fs != 0 {
		for _, l := range r.pathLists() {
			for _, p := range l.paths {
				rs.Paths = append(rs.Paths, PathRule{Word: l.word, Path: p, Allowed: l.grant & e.fs})
			}
		}
	}
	for _, l := range r.portLists() {
		if e.net&l.right == 0 {
			continue
		}
		for _, port := range l.ports {
			rs.Ports = append(rs.Ports, PortRule{Word: l.word, Port: port, Allowed: l.right})
		}
	}
	return rs
}

// String prints the rules as the profile gave them: "read-only /usr;
// read-write /tmp; tcp connect 443; require".
func (r *Rules) String() string {
	var b []string
	for _, l := range r.pathLists() {
		if len(l.paths) > 0 {
			b = append(b, l.word+" "+paths(l.paths))
		}
	}
	for _, l := range r.portLists() {
		if len(l.ports) > 0 {
			b = append(b, l.word+" "+ports(l.ports))
		}
	}
	if len(r.Scope) > 0 {
		b = append(b, "scope "+r.scopes())
	}
	if len(b) == 0 {
		return "no rules"
	}
	return strings.Join(append(b, r.Mode.String()), "; ")
}

// Effective says what will really be enforced on a kernel with Landlock
// ABI version abi, for the plan: the ABI and mode, the rules that hold,
// the rules dropped in BestEffort mode with the ABI each needs, and what
// this ABI cannot control at all. In Require mode, when the kernel falls
// short, it says that the sandbox is refused and why.
func (r *Rules) Effective(abi int) string {
	if r.Empty() {
		return "no rules"
	}
	if err := r.Check(abi); err != nil {
		return "refused: " + err.Error()
	}
	e := r.enforcement(abi)
	var b []string
	if e.fs == 0 && e.net == 0 && e.scope == 0 {
		b = append(b, fmt.Sprintf("ABI %d %s: nothing enforced", max(abi, 0), r.Mode))
	} else {
		b = append(b, fmt.Sprintf("ABI %d %s", abi, r.Mode))
		if e.fs != 0 {
			for _, l := range r.pathLists() {
				if len(l.paths) > 0 {
					b = append(b, l.word+" "+paths(l.paths))
				}
			}
		}
		for _, l := range r.portLists() {
			if e.net&l.right != 0 {
				b = append(b, l.word+" "+ports(l.ports))
			}
		}
		if e.scope != 0 {
			b = append(b, "scope "+r.scopes())
		}
	}
	if len(e.dropped) > 0 {
		b = append(b, "dropped: "+strings.Join(e.dropped, ", "))
	}
	if len(e.unenforced) > 0 {
		b = append(b, "not controlled: "+strings.Join(e.unenforced, ", "))
	}
	b = append(b, e.notes...)
	return strings.Join(b, "; ")
}

// AccessFS prints a set of filesystem rights by name:
// "read_file|read_dir".
func AccessFS(set uint64) string {
	table := make([]bitnames.Name, len(fsRights))
	for i, rt := range fsRights {
		table[i] = bitnames.Name{Bit: rt.bit, Name: rt.name}
	}
	return bitnames.Format(set, table)
}

func paths(ps []string) string {
	q := make([]string, len(ps))
	for i, p := range ps {
		q[i] = p
		if strings.ContainsAny(p, " ,;\"\\") || strconv.Quote(p) != `"`+p+`"` {
			q[i] = strconv.Quote(p)
		}
	}
	return strings.Join(q, ", ")
}

func ports(ps []uint16) string {
	q := make([]string, len(ps))
	for i, p := range ps {
		q[i] = strconv.Itoa(int(p))
	}
	return strings.Join(q, ", ")
}
