package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/bitnames"
)

// x86_64 values of constants the default policy compares with. They are
// written out rather than taken from x/sys/unix, whose ioctl numbers exist
// only when building for the architecture (and differ on some): the
// filter is for x86_64 wherever cell plan runs.
const (
	tcgets    = 0x5401 // TCGETS
	tiocsti   = 0x5412 // TIOCSTI: push a byte into a terminal's input
	tioclinux = 0x541c // TIOCLINUX: includes TIOCL_SETSEL/PASTESEL (CVE-2023-28100)

	perLinux   = 0x0000     // PER_LINUX
	perLinux32 = 0x0008     // PER_LINUX32
	uname26    = 0x20000    // UNAME26
	perQuery   = 0xffffffff // personality(0xffffffff) only reads the persona

	// cloneNamespaces are the namespace flags clone(2) takes; Docker's
	// mask. CLONE_NEWTIME (0x80) overlaps clone's exit signal, so only
	// clone3 and unshare take it.
	cloneNamespaces = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP
	// unshareNamespaces are the namespace flags of unshare(2).
	unshareNamespaces = cloneNamespaces | unix.CLONE_NEWTIME
)

type constName struct {
	v    uint64
	name string
}

// Tables of the names printed for argument values.
var (
	ioctlNames = []constName{
		{tcgets, "TCGETS"}, {tiocsti, "TIOCSTI"}, {tioclinux, "TIOCLINUX"},
	}
	personaNames = []constName{
		{perLinux, "PER_LINUX"}, {perLinux32, "PER_LINUX32"}, {uname26, "UNAME26"},
		{perLinux32 | uname26, "PER_LINUX32|UNAME26"}, {perQuery, "0xffffffff"},
	}
	cloneFlagNames = []bitnames.Name{
		{Bit: unix.CLONE_NEWNS, Name: "CLONE_NEWNS"}, {Bit: unix.CLONE_NEWUTS, Name: "CLONE_NEWUTS"},
		{Bit: unix.CLONE_NEWIPC, Name: "CLONE_NEWIPC"}, {Bit: unix.CLONE_NEWUSER, Name: "CLONE_NEWUSER"},
		{Bit: unix.CLONE_NEWPID, Name: "CLONE_NEWPID"}, {Bit: unix.CLONE_NEWNET, Name: "CLONE_NEWNET"},
		{Bit: unix.CLONE_NEWCGROUP, Name: "CLONE_NEWCGROUP"}, {Bit: unix.CLONE_NEWTIME, Name: "CLONE_NEWTIME"},
		{Bit: unix.CLONE_VM, Name: "CLONE_VM"}, {Bit: unix.CLONE_FS, Name: "CLONE_FS"}, {Bit: unix.CLONE_FILES, Name: "CLONE_FILES"},
		{Bit: unix.CLONE_SIGHAND, Name: "CLONE_SIGHAND"}, {Bit: unix.CLONE_VFORK, Name: "CLONE_VFORK"},
		{Bit: unix.CLONE_THREAD, Name: "CLONE_THREAD"}, {Bit: unix.CLONE_SYSVSEM, Name: "CLONE_SYSVSEM"},
	}
	// Address families on x86_64 (the same numbers everywhere).
	familyNames = []constName{
		{1, "AF_UNIX"}, {2, "AF_INET"}, {3, "AF_AX25"}, {4, "AF_IPX"}, {5, "AF_APPLETALK"},
		{6, "AF_NETROM"}, {7, "AF_BRIDGE"}, {8, "AF_ATMPVC"}, {9, "AF_X25"}, {10, "AF_INET6"},
		{11, "AF_ROSE"}, {12, "AF_DECnet"}, {13, "AF_NETBEUI"}, {14, "AF_SECURITY"},
		{15, "AF_KEY"}, {16, "AF_NETLINK"}, {17, "AF_PACKET"}, {18, "AF_ASH"},
		{19, "AF_ECONET"}, {20, "AF_ATMSVC"}, {21, "AF_RDS"}, {22, "AF_SNA"}, {23, "AF_IRDA"},
		{24, "AF_PPPOX"}, {25, "AF_WANPIPE"}, {26, "AF_LLC"}, {27, "AF_IB"}, {28, "AF_MPLS"},
		{29, "AF_CAN"}, {30, "AF_TIPC"}, {31, "AF_BLUETOOTH"}, {32, "AF_IUCV"},
		{33, "AF_RXRPC"}, {34, "AF_ISDN"}, {35, "AF_PHONET"}, {36, "AF_IEEE802154"},
		{37, "AF_CAIF"}, {38, "AF_ALG"}, {39, "AF_NFC"}, {40, "AF_VSOCK"}, {41, "AF_KCM"},
		{42, "AF_QIPCRTR"}, {43, "AF_SMC"}, {44, "AF_XDP"}, {45, "AF_MCTP"},
	}
	// Socket types (socket's second argument without its flags).
	sockTypeNames = []constName{
		{1, "SOCK_STREAM"}, {2, "SOCK_DGRAM"}, {3, "SOCK_RAW"}, {4, "SOCK_RDM"},
		{5, "SOCK_SEQPACKET"}, {6, "SOCK_DCCP"}, {10, "SOCK_PACKET"},
	}
)

// kind of argument whose values have names.
type kind int

const (
	kindNone kind = iota
	kindIoctl
	kindPersona
	kindCloneFlags
	kindFamily
)

// argKind returns what kind of values the syscall's arguments are named
// as. Every named argument of these syscalls is the one kind.
func argKind(syscall string) kind {
	switch syscall {
	case "ioctl":
		return kindIoctl
	case "personality":
		return kindPersona
	case "clone", "unshare":
		return kindCloneFlags
	case "socket", "socketpair":
		return kindFamily
	}
	return kindNone
}

// argValue prints v, argument arg of syscall, by name where it has one.
func argValue(syscall string, arg int, v uint64) string {
	hex := fmt.Sprintf("%#x", v)
	switch k := argKind(syscall); {
	case k == kindIoctl && arg == 1:
		return exactName(v, ioctlNames, hex)
	case k == kindPersona && arg == 0:
		return exactName(v, personaNames, hex)
	case k == kindFamily && arg == 0:
		return exactName(v, familyNames, hex)
	case k == kindFamily && arg == 1:
		return exactName(v, sockTypeNames, hex)
	case k == kindCloneFlags && arg == 0:
		return bitnames.Format(v, cloneFlagNames)
	}
	return hex
}

func exactName(v uint64, table []constName, otherwise string) string {
	for _, n := range table {
		if n.v == v {
			return n.name
		}
	}
	return otherwise
}
