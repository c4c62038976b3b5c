package spec

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Share says whether a namespace is new or the host's.
type Share uint8

// The two kinds of Share. New is the zero value: an absent field is new.
const (
	New Share = iota
	Host
)

// String returns "new" or "host".
func (s Share) String() string {
	switch s {
	case New:
		return "new"
	case Host:
		return "host"
	}
	return fmt.Sprintf("Share(%d)", uint8(s))
}

// UnmarshalYAML accepts "new" or "host".
func (s *Share) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be new or host")
	}
	switch n.Value {
	case "new":
		*s = New
	case "host":
		*s = Host
	default:
		return fmt.Errorf("must be new or host, not %q", n.Value)
	}
	return nil
}

// MarshalText prints the name, so JSON output reads like the YAML.
func (s Share) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MountType is the kind of a filesystem.mounts entry.
type MountType uint8

// The mount types. Zero is invalid so that a missing type is caught.
const (
	MountInvalid MountType = iota
	MountBind
	MountTmpfs
	MountProc
	MountDev
	MountDir
	MountFile
	MountSymlink
	// MountOverlay is an overlayfs of read-only lower directories with a
	// writable upper layer on a tmpfs of the sandbox's: writes vanish
	// with the sandbox (unless cell run --keep-upper keeps them).
	MountOverlay
	// MountSysfs is a read-only sysfs: with a network namespace of the
	// sandbox's own, its class/net shows the sandbox's devices.
	MountSysfs
	// MountMqueue is the POSIX message queue filesystem of the sandbox's
	// IPC namespace.
	MountMqueue
	// MountCgroup shows the sandbox's own cgroups, read-only: its leaf of
	// the unified hierarchy bound at the target on a cgroup v2 host; on
	// a host with v1 hierarchies, a read-only tmpfs with its leaf of each
	// hierarchy (and of the unified one) bound at TARGET/NAME, NAME the
	// hierarchy's mount point's, as runtimes lay out /sys/fs/cgroup. A
	// sandbox without limits has no cgroup of its own: an empty
	// read-only tmpfs.
	MountCgroup
)

// MountTypes lists every valid MountType, in documentation order.
var MountTypes = []MountType{MountBind, MountTmpfs, MountProc, MountDev, MountDir, MountFile, MountSymlink, MountOverlay, MountSysfs, MountMqueue, MountCgroup}

// String returns the type's name as written in a profile, or "" for
// MountInvalid.
func (t MountType) String() string {
	switch t {
	case MountInvalid:
		return ""
	case MountBind:
		return "bind"
	case MountTmpfs:
		return "tmpfs"
	case MountProc:
		return "proc"
	case MountDev:
		return "dev"
	case MountDir:
		return "dir"
	case MountFile:
		return "file"
	case MountSymlink:
		return "symlink"
	case MountOverlay:
		return "overlay"
	case MountSysfs:
		return "sysfs"
	case MountMqueue:
		return "mqueue"
	case MountCgroup:
		return "cgroup"
	}
	return fmt.Sprintf("MountType(%d)", uint8(t))
}

// UnmarshalYAML accepts the name of one of MountTypes.
func (t *MountType) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a mount type")
	}
	for _, c := range MountTypes {
		if c.String() == n.Value {
			*t = c
			return nil
		}
	}
	names := make([]string, len(MountTypes))
	for i, c := range MountTypes {
		names[i] = c.String()
	}
	return fmt.Errorf("must be one of %s, not %q", strings.Join(names, ", "), n.Value)
}

// MarshalText prints the name.
func (t MountType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// NetMode is the network a sandbox sees.
type NetMode uint8

// The network modes. NetNone is the zero value and the default.
const (
	// NetNone is a new network namespace with only loopback, which is up.
	NetNone NetMode = iota
	// NetHost shares the host's network namespace.
	NetHost
	// NetBridge is a new network namespace joined to a bridge on the host
	// by a veth pair, with an address leased from the bridge's subnet.
	NetBridge
	// NetUser is a new network namespace whose outbound traffic a
	// user-mode network stack (slirp4netns) carries: no privilege needed.
	NetUser
)

// NetModes lists the modes in the order their names are documented.
var NetModes = []NetMode{NetNone, NetHost, NetBridge, NetUser}

// String returns "none", "host", "bridge" or "user".
func (m NetMode) String() string {
	switch m {
	case NetNone:
		return "none"
	case NetHost:
		return "host"
	case NetBridge:
		return "bridge"
	case NetUser:
		return "user"
	}
	return fmt.Sprintf("NetMode(%d)", uint8(m))
}

// OwnNamespace reports whether the mode gives the sandbox a network
// namespace of its own.
func (m NetMode) OwnNamespace() bool { return m != NetHost }

// UnmarshalYAML accepts the name of a mode.
func (m *NetMode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be none, host, bridge or user")
	}
	for _, c := range NetModes {
		if c.String() == n.Value {
			*m = c
			return nil
		}
	}
	return fmt.Errorf("must be none, host, bridge or user, not %q", shorten(n.Value))
}

// MarshalText prints the name.
func (m NetMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Size is a byte count written as a plain number or with a unit: k, M, G, T
// (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024).
type Size uint64

var sizeUnits = []struct {
	suffix string
	mult   uint64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
}

// ParseSize parses the Size syntax. The error message is lower case and has
// no prefix, so that it reads well after a field path.
func ParseSize(s string) (Size, error) {
	num, mult := s, uint64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseUint(num, 10, 64)
	if err != nil || num == "" || num[0] == '+' {
		return 0, fmt.Errorf("must be a size such as 65536, 64Mi or 2G, not %q", s)
	}
	if v > math.MaxUint64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(v * mult), nil
}

// String prints the size with the largest binary unit that divides it.
func (s Size) String() string {
	for i := 3; i >= 0; i-- {
		u := sizeUnits[i]
		if s != 0 && uint64(s)%u.mult == 0 {
			return strconv.FormatUint(uint64(s)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatUint(uint64(s), 10)
}

// UnmarshalYAML parses the Size syntax.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a size such as 65536, 64Mi or 2G")
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText prints the size.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// FileMode is a permission mode written in octal, such as "0755" or 0o1777.
type FileMode uint32

// ParseFileMode parses an octal mode of at most 07777.
func ParseFileMode(s string) (FileMode, error) {
	t := s
	if strings.HasPrefix(t, "0o") || strings.HasPrefix(t, "0O") {
		t = t[2:]
	}
	v, err := strconv.ParseUint(t, 8, 32)
	if err != nil || t == "" || v > 0o7777 {
		return 0, fmt.Errorf("must be an octal mode such as \"0755\", not %q", s)
	}
	return FileMode(v), nil
}

// String returns the mode as four octal digits, such as "0755".
func (m FileMode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// UnmarshalYAML parses an octal mode. The literal text is used, so that
// 0755 written without quotes means what it looks like.
func (m *FileMode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be an octal mode such as \"0755\"")
	}
	v, err := ParseFileMode(n.Value)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// MarshalText prints the mode in octal.
func (m FileMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Pos is a position in a profile: file, 1-based line and column.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

// String returns "file:line:col", or the file alone when there is no
// line, or "-" for the zero Pos.
func (p Pos) String() string {
	switch {
	case p.File == "" && p.Line == 0:
		return "-"
	case p.Line == 0:
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// HostID is an ID in the parent user namespace; or Subordinate: the next
// IDs of the caller's subordinate range (/etc/subuid, /etc/subgid), written
// "subuid" in a uidMap and "subgid" in a gidMap; or Pick: IDs of a range
// that the sandbox alone holds while it runs, written "pick" (see
// internal/ids).
type HostID uint32

// Subordinate is the HostID that takes IDs from the caller's subordinate
// range. (uid_t)-1 is never a valid ID, so it cannot mean anything else.
const Subordinate HostID = math.MaxUint32

// Pick is the HostID that takes IDs from a range leased to the sandbox
// when it starts. It is (uid_t)-2, which therefore cannot start a range
// written as a number.
const Pick HostID = math.MaxUint32 - 1

// Subordinate reports whether the IDs come from the caller's subordinate
// range.
func (h HostID) Subordinate() bool { return h == Subordinate }

// Picked reports whether the IDs come from a range picked when the
// sandbox starts.
func (h HostID) Picked() bool { return h == Pick }

// Symbolic reports whether the IDs are decided when the profile is
// compiled or run (subuid, subgid, pick), not written as a number.
func (h HostID) Symbolic() bool { return h.Subordinate() || h.Picked() }

// String prints the ID, "subordinate" or "pick".
func (h HostID) String() string {
	switch {
	case h.Subordinate():
		return "subordinate"
	case h.Picked():
		return "pick"
	}
	return strconv.FormatUint(uint64(h), 10)
}

// UnmarshalYAML accepts a number below 4294967294, "subuid", "subgid" or
// "pick".
func (h *HostID) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf(`must be an ID, "subuid"/"subgid" or "pick"`)
	}
	switch n.Value {
	case "subuid", "subgid":
		*h = Subordinate
		return nil
	case "pick":
		*h = Pick
		return nil
	}
	v, err := strconv.ParseUint(n.Value, 10, 32)
	if err != nil || v >= uint64(Pick) {
		return fmt.Errorf(`must be an ID from 0 to 4294967293, "subuid"/"subgid" for the caller's subordinate range, or "pick" for a range the sandbox alone holds, not %q`, n.Value)
	}
	*h = HostID(v)
	return nil
}

// MarshalText prints the ID, "subordinate" or "pick".
func (h HostID) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// SetGroups is a user namespace's setgroups policy.
type SetGroups uint8

// The policies. SetGroupsDefault lets the compiler choose: allow where
// the maps permit it.
const (
	SetGroupsDefault SetGroups = iota
	SetGroupsAllow
	SetGroupsDeny
)

// String returns the policy's YAML name ("" for the default).
func (s SetGroups) String() string {
	switch s {
	case SetGroupsDefault:
		return ""
	case SetGroupsAllow:
		return "allow"
	case SetGroupsDeny:
		return "deny"
	}
	return fmt.Sprintf("SetGroups(%d)", uint8(s))
}

// UnmarshalYAML accepts allow or deny.
func (s *SetGroups) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "allow":
		*s = SetGroupsAllow
	case "deny":
		*s = SetGroupsDeny
	default:
		return fmt.Errorf("must be allow or deny, not %q", n.Value)
	}
	return nil
}

// MarshalText prints the policy.
func (s SetGroups) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Propagation is a mount's propagation type among the sandbox's own
// mounts. cell makes every mount it copies from the host private before
// it builds the root, so no propagation type reaches the host's mounts:
// shared makes a peer group of the sandbox's own, and slave and private
// keep a mount from receiving the sandbox's other mount events. The r
// forms apply to the mount's submounts too.
type Propagation uint8

// The propagation types; PropagationDefault leaves cell's (private).
const (
	PropagationDefault Propagation = iota
	PropagationPrivate
	PropagationRPrivate
	PropagationShared
	PropagationRShared
	PropagationSlave
	PropagationRSlave
	PropagationUnbindable
	PropagationRUnbindable
)

// propagationNames are the YAML names, by value.
var propagationNames = [...]string{"", "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"}

// String returns the type's YAML name ("" for the default).
func (p Propagation) String() string {
	if int(p) < len(propagationNames) {
		return propagationNames[p]
	}
	return fmt.Sprintf("Propagation(%d)", uint8(p))
}

// Propagations lists the propagation types but the default, in order.
func Propagations() []Propagation {
	out := make([]Propagation, 0, len(propagationNames)-1)
	for i := 1; i < len(propagationNames); i++ {
		out = append(out, Propagation(i))
	}
	return out
}

// ParsePropagation reads a propagation type's name.
func ParsePropagation(s string) (Propagation, error) {
	for i, n := range propagationNames {
		if n != "" && n == s {
			return Propagation(i), nil
		}
	}
	return PropagationDefault, fmt.Errorf("must be one of %s, not %q", strings.Join(propagationNames[1:], ", "), s)
}

// UnmarshalYAML accepts a propagation type's name.
func (p *Propagation) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParsePropagation(n.Value)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalText prints the type's name.
func (p Propagation) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// DeviceType is the kind of a device node: c, b or p.
type DeviceType uint8

// The kinds of node.
const (
	DeviceInvalid DeviceType = iota
	DeviceChar
	DeviceBlock
	DeviceFIFO
	// DeviceAll is every device, in a device cgroup rule only.
	DeviceAll
)

// String returns the kind's YAML name.
func (d DeviceType) String() string {
	switch d {
	case DeviceInvalid:
		return ""
	case DeviceChar:
		return "c"
	case DeviceBlock:
		return "b"
	case DeviceFIFO:
		return "p"
	case DeviceAll:
		return "a"
	}
	return fmt.Sprintf("DeviceType(%d)", uint8(d))
}

// UnmarshalYAML accepts c, b or p.
func (d *DeviceType) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "c":
		*d = DeviceChar
	case "b":
		*d = DeviceBlock
	case "p":
		*d = DeviceFIFO
	case "a":
		*d = DeviceAll
	default:
		return fmt.Errorf("must be c (character), b (block), p (FIFO) or a (all, in a device rule), not %q", n.Value)
	}
	return nil
}

// MarshalText prints the kind.
func (d DeviceType) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
