package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/syserr"
)

// sessionKeyring compares the session keyring with the caller's (-keyring):
// the same serial means the keys the caller holds there (tokens that
// kinit, ecryptfs or a login manager put in) are readable in here.
func (e *env) sessionKeyring() result {
	own, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
	if err != nil {
		return blockedf("keyctl(KEYCTL_GET_KEYRING_ID, session): %s", syserr.Text(err))
	}
	switch {
	case e.callerKeyring == 0:
		return skippedf("the caller's session keyring is not known (-keyring); this process's is %d", own)
	case int32(own) == e.callerKeyring:
		return escapedf("the session keyring is the caller's (serial %d)", own)
	}
	return blockedf("the session keyring %d is not the caller's %d", own, e.callerKeyring)
}

// unrestrictedPort is the port tcpBypass connects to on the loopback: one
// that no profile allows (nothing listens there either).
const unrestrictedPort = 1

// connectLoopback makes a socket of type typ and protocol proto and
// connects it to 127.0.0.1:unrestrictedPort. It says which of the two
// calls failed.
func connectLoopback(typ, proto int) (call string, err error) {
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return "socket", err
	}
	defer unix.Close(fd)
	return "connect", unix.Connect(fd, &unix.SockaddrInet4{Port: unrestrictedPort, Addr: [4]byte{127, 0, 0, 1}})
}

// tcpBypass: landlock's TCP rules apply to SOCK_STREAM sockets of protocol
// TCP only. Where a plain TCP connect to a port is refused (EACCES, from
// landlock), MPTCP (which falls back to TCP on the wire) and SCTP must not
// reach that port either.
func (e *env) tcpBypass() result {
	call, err := connectLoopback(unix.SOCK_STREAM, 0)
	if call != "connect" || err != unix.EACCES {
		return skippedf("TCP connect is not restricted here (%s to 127.0.0.1:%d: %s)", call, unrestrictedPort, syserr.Text(err))
	}
	var through, refused []string
	for _, p := range []struct {
		name       string
		typ, proto int
	}{
		{"MPTCP", unix.SOCK_STREAM, unix.IPPROTO_MPTCP},
		{"SCTP", unix.SOCK_STREAM, unix.IPPROTO_SCTP},
		{"SCTP seqpacket", unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP},
	} {
		call, err := connectLoopback(p.typ, p.proto)
		if call == "socket" || err == unix.EACCES || err == unix.EPERM {
			refused = append(refused, fmt.Sprintf("%s %s: %s", p.name, call, syserr.Text(err)))
			continue
		}
		through = append(through, fmt.Sprintf("%s connect to 127.0.0.1:%d: %s", p.name, unrestrictedPort, syserr.Text(err)))
	}
	if len(through) > 0 {
		return escapedf("TCP connect is refused (EACCES), but %s", strings.Join(through, "; "))
	}
	return blockedf("TCP connect refused (EACCES), and %s", strings.Join(refused, "; "))
}

// rareSocket is a socket of a family or protocol that few programs use
// and whose kernel code has had exploitable bugs.
type rareSocket struct {
	name               string
	domain, typ, proto int
}

var rareSockets = []rareSocket{
	{"AF_KEY", unix.AF_KEY, unix.SOCK_RAW, 2}, // PF_KEY_V2
	{"AF_RDS", unix.AF_RDS, unix.SOCK_SEQPACKET, 0},
	{"AF_CAN", unix.AF_CAN, unix.SOCK_DGRAM, 2}, // CAN_BCM
	{"AF_TIPC", unix.AF_TIPC, unix.SOCK_RDM, 0},
	{"AF_BLUETOOTH", unix.AF_BLUETOOTH, unix.SOCK_SEQPACKET, 0}, // L2CAP
	{"AF_KCM", unix.AF_KCM, unix.SOCK_DGRAM, 0},
	{"AF_SMC", unix.AF_SMC, unix.SOCK_STREAM, 0},
	{"AF_XDP", unix.AF_XDP, unix.SOCK_RAW, 0},
	{"AF_RXRPC", unix.AF_RXRPC, unix.SOCK_DGRAM, unix.AF_INET},
	{"AF_LLC", unix.AF_LLC, unix.SOCK_DGRAM, 0},
	{"AF_X25", unix.AF_X25, unix.SOCK_SEQPACKET, 0},
	{"AF_ATMPVC", unix.AF_ATMPVC, unix.SOCK_DGRAM, 0},
	{"AF_PPPOX", unix.AF_PPPOX, unix.SOCK_STREAM, 0},
	{"AF_PHONET", unix.AF_PHONET, unix.SOCK_DGRAM, 0},
	{"AF_IEEE802154", unix.AF_IEEE802154, unix.SOCK_DGRAM, 0},
	{"AF_NFC", unix.AF_NFC, unix.SOCK_SEQPACKET, 0},
	{"AF_QIPCRTR", unix.AF_QIPCRTR, unix.SOCK_DGRAM, 0},
	{"AF_MCTP", unix.AF_MCTP, unix.SOCK_DGRAM, 0},
	{"AF_VSOCK", unix.AF_VSOCK, unix.SOCK_STREAM, 0},
	{"AF_ALG", unix.AF_ALG, unix.SOCK_SEQPACKET, 0},
	{"NETLINK_AUDIT", unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT},
	{"SCTP", unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_SCTP},
	{"SCTP over IPv6", unix.AF_INET6, unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP},
}

// socketFamilies makes a socket of each rare family or protocol; one that
// is made is kernel code within the command's reach that a sandbox does
// not need. A family the kernel lacks counts as refused.
func (e *env) socketFamilies() result {
	var made []string
	refused := map[string][]string{}
	for _, s := range rareSockets {
		fd, err := unix.Socket(s.domain, s.typ|unix.SOCK_CLOEXEC, s.proto)
		if err != nil {
			refused[syserr.Text(err)] = append(refused[syserr.Text(err)], s.name)
			continue
		}
		unix.Close(fd)
		made = append(made, s.name)
	}
	if len(made) > 0 {
		return escapedf("made sockets of %s (closed again)", strings.Join(made, ", "))
	}
	var parts []string
	for errno, names := range refused {
		parts = append(parts, fmt.Sprintf("%s: %s", errno, strings.Join(names, ", ")))
	}
	sort.Strings(parts)
	return blockedf("%s", strings.Join(parts, "; "))
}

// modifyLDT reads the local descriptor table: the call itself, rarely
// needed outside 16-bit emulators, is the attack surface.
func (e *env) modifyLDT() result {
	buf := make([]byte, 16)
	n, _, errno := unix.Syscall(unix.SYS_MODIFY_LDT, 0, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if errno != 0 {
		return blockedBy(errno)
	}
	return escapedf("modify_ldt(0) read the LDT (%d bytes)", n)
}

// memfdSecret makes a secret memory area, memory removed from the kernel's
// direct map: rarely used, and a way to pin memory that no limit counts
// the same way.
func (e *env) memfdSecret() result {
	fd, _, errno := unix.Syscall(unix.SYS_MEMFD_SECRET, unix.O_CLOEXEC, 0, 0)
	if errno != 0 {
		return blockedBy(errno)
	}
	unix.Close(int(fd))
	return escapedf("memfd_secret made a secret memory descriptor (closed again)")
}

// signalInit sends pid 1, the sandbox's init, every signal (1 to 64; a Go
// program dies of most unless it handles them), by kill, by tgkill to each
// of its threads and by rt_sigqueueinfo with si_code SI_QUEUE (which Go
// takes for a fault of its own when the signal is SIGSEGV, SIGBUS, SIGFPE,
// SIGILL, SIGTRAP, SIGSTKFLT or SIGSYS, and crashes with a goroutine dump).
// Init must survive all of them; if it does not, the sandbox ends with it
// and this line is never printed.
func (e *env) signalInit() result {
	if os.Getppid() != 1 {
		return skippedf("pid 1 is not this process's parent (no pid namespace of its own, or not run as the command)")
	}
	threads, _ := os.ReadDir("/proc/1/task")
	refused := map[string]bool{}
	sent := 0
	note := func(how string, err error) {
		if err != nil {
			refused[how+": "+syserr.Text(err)] = true
			return
		}
		sent++
	}
	const signals = 64
	for n := 1; n <= signals; n++ {
		sig := unix.Signal(n)
		note("kill", unix.Kill(1, sig))
		for _, t := range threads {
			var tid int
			if _, err := fmt.Sscan(t.Name(), &tid); err == nil {
				note("tgkill", unix.Tgkill(1, tid, sig))
			}
		}
		info := unix.Siginfo{Signo: int32(sig), Code: -1} // SI_QUEUE
		_, _, errno := unix.Syscall(unix.SYS_RT_SIGQUEUEINFO, 1, uintptr(sig), uintptr(unsafe.Pointer(&info)))
		if errno != 0 {
			note("rt_sigqueueinfo", errno)
		} else {
			note("rt_sigqueueinfo", nil)
		}
	}
	// Long enough for a crashing init to take the sandbox down first.
	time.Sleep(300 * time.Millisecond)
	// EPERM is a pid 1 that is there but may not be signalled (landlock's
	// signal scope, where pid 1's leader thread is outside the domain);
	// only ESRCH says it is gone.
	if err := unix.Kill(1, 0); errors.Is(err, unix.ESRCH) {
		return escapedf("pid 1 is gone after the signals (kill(1, 0): %s)", syserr.Text(err))
	}
	var why []string
	for r := range refused {
		why = append(why, r)
	}
	sort.Strings(why)
	detail := fmt.Sprintf("pid 1 survived %d signals (1 to %d, by kill, tgkill to %d threads and rt_sigqueueinfo with SI_QUEUE)", sent, signals, len(threads))
	if len(why) > 0 {
		detail += "; refused: " + strings.Join(why, ", ")
	}
	return blockedf("%s", detail)
}

// tinyELF is a complete x86_64 executable that exits 0: an ELF header, one
// loadable segment, and mov eax, 60; xor edi, edi; syscall.
func tinyELF() []byte {
	const base, hdr = 0x400000, 64 + 56
	code := []byte{0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05}
	b := make([]byte, hdr, hdr+len(code))
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1})
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2)    // ET_EXEC
	le.PutUint16(b[18:], 0x3e) // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], base+hdr) // entry
	le.PutUint64(b[32:], 64)       // program headers
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[54:], 56)
	le.PutUint16(b[56:], 1)
	ph := b[64:]
	le.PutUint32(ph[0:], 1) // PT_LOAD
	le.PutUint32(ph[4:], 5) // PF_R|PF_X
	le.PutUint64(ph[16:], base)
	le.PutUint64(ph[24:], base)
	le.PutUint64(ph[32:], uint64(hdr+len(code)))
	le.PutUint64(ph[40:], uint64(hdr+len(code)))
	le.PutUint64(ph[48:], 0x1000)
	return append(b, code...)
}

// execBypass writes an executable into each writable directory it finds.
// Where execve of it is refused (landlock, or a noexec mount), it maps it
// with PROT_EXEC, which is what the dynamic loader does for
// "/lib64/ld-linux-x86-64.so.2 ./file": if that works, the refusal was
// execve's alone and the code runs anyway.
func (e *env) execBypass() result {
	seen := map[string]bool{}
	var refused, allowed []string
	for _, d := range []string{".", os.Getenv("HOME"), os.Getenv("TMPDIR"), "/tmp", "/dev/shm", "/var/tmp", "/work", "/out"} {
		if d == "" {
			continue
		}
		abs, err := filepath.Abs(d)
		if err != nil || seen[abs] {
			continue
		}
		seen[abs] = true
		dir, err := os.MkdirTemp(abs, ".cell-escape-exec-")
		if err != nil {
			continue
		}
		defer os.RemoveAll(dir)
		p := filepath.Join(dir, "prog")
		if err := os.WriteFile(p, tinyELF(), 0o755); err != nil {
			continue
		}
		pid, err := syscall.ForkExec(p, []string{"prog"}, &syscall.ProcAttr{})
		if err == nil {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
			allowed = append(allowed, abs)
			continue
		}
		fd, oerr := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if oerr != nil {
			refused = append(refused, fmt.Sprintf("%s: execve %s, open %s", abs, syserr.Text(err), syserr.Text(oerr)))
			continue
		}
		mem, merr := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE)
		unix.Close(fd)
		if merr == nil {
			unix.Munmap(mem)
			return escapedf("execve of a program in %s is refused (%s), but mmap(PROT_EXEC) of it works: the dynamic loader runs it", abs, syserr.Text(err))
		}
		refused = append(refused, fmt.Sprintf("%s: execve %s, mmap(PROT_EXEC) %s", abs, syserr.Text(err), syserr.Text(merr)))
	}
	if len(refused) == 0 {
		if len(allowed) == 0 {
			return skippedf("no writable directory to write a program into")
		}
		return skippedf("execution is allowed in every writable directory tried (%s)", strings.Join(allowed, ", "))
	}
	return blockedf("%s", strings.Join(refused, "; "))
}
