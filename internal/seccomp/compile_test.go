package seccomp

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	archX86_64 = unix.AUDIT_ARCH_X86_64
	archI386   = unix.AUDIT_ARCH_I386
)

func compile(t testing.TB, p *Policy) []unix.SockFilter {
	t.Helper()
	prog, err := p.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBPF(prog); err != nil {
		t.Fatalf("the kernel would refuse the program: %v", err)
	}
	return prog
}

func nr(t testing.TB, name string) uint32 {
	t.Helper()
	n, ok := LookupSyscall(name)
	if !ok {
		t.Fatalf("no syscall %q", name)
	}
	return uint32(n)
}

// TestDefaultEverySyscall runs the default filter, with and without
// nested namespaces, on every x86_64 syscall number (and unused ones)
// and checks it against the policy's meaning, and that Docker's list is
// allowed and the notable syscalls denied.
func TestDefaultEverySyscall(t *testing.T) {
	for _, nested := range []bool{false, true} {
		t.Run(fmt.Sprintf("nested=%v", nested), func(t *testing.T) {
			p := Default()
			p.AllowNestedNamespaces = nested
			prog := compile(t, p)
			for n := uint32(0); n <= maxSyscall+20; n++ {
				d := seccompData{nr: n, arch: archX86_64}
				got, _ := runBPF(prog, d)
				if want := decide(p, d); Action(got) != want {
					name, _ := SyscallName(int(n))
					t.Errorf("syscall %d %s: filter says %s, policy %s", n, name, Action(got), want)
				}
			}
			for _, name := range dockerAllowed() {
				d := seccompData{nr: nr(t, name), arch: archX86_64}
				if got, _ := runBPF(prog, d); Action(got) != Allow {
					t.Errorf("%s: %s, want allow", name, Action(got))
				}
			}
			for _, name := range notable {
				d := seccompData{nr: nr(t, name), arch: archX86_64}
				want := Errno(unix.EPERM)
				if nested && (name == "mount" || name == "umount2" || name == "pivot_root" || name == "setns" || name == "unshare") {
					want = Allow
				}
				if got, _ := runBPF(prog, d); Action(got) != want {
					t.Errorf("%s: %s, want %s", name, Action(got), want)
				}
			}
		})
	}
}

// TestDefaultRules checks each special rule of the default policy with
// arguments that must and must not match.
func TestDefaultRules(t *testing.T) {
	const hi = 1 << 32
	threads := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
		unix.CLONE_SYSVSEM | unix.CLONE_THREAD | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID)
	eperm, enosys := Errno(unix.EPERM), Errno(unix.ENOSYS)
	eafnosupport, eprotonosupport := Errno(unix.EAFNOSUPPORT), Errno(unix.EPROTONOSUPPORT)
	tests := []struct {
		name    string
		nested  bool
		arch    uint32
		syscall string
		nr      uint32 // when syscall is ""
		args    [maxArgs]uint64
		want    Action
	}{
		{name: "TIOCSTI", syscall: "ioctl", args: [6]uint64{0, tiocsti}, want: eperm},
		{name: "TIOCSTI with a high bit", syscall: "ioctl", args: [6]uint64{0, tiocsti | hi}, want: eperm},
		{name: "TIOCSTI with every high bit", syscall: "ioctl", args: [6]uint64{0, 0xffffffff00000000 | tiocsti}, want: eperm},
		{name: "TIOCLINUX", syscall: "ioctl", args: [6]uint64{3, tioclinux}, want: eperm},
		{name: "TIOCLINUX with a high bit", syscall: "ioctl", args: [6]uint64{3, tioclinux | 1<<63}, want: eperm},
		{name: "TCGETS", syscall: "ioctl", args: [6]uint64{0, tcgets}, want: Allow},
		{name: "TCGETS with a high bit", syscall: "ioctl", args: [6]uint64{0, tcgets | hi}, want: Allow},
		{name: "TIOCSTI on another argument", syscall: "ioctl", args: [6]uint64{tiocsti, tcgets}, want: Allow},
		{name: "clone CLONE_NEWUSER", syscall: "clone", args: [6]uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, want: eperm},
		{name: "clone CLONE_NEWNET with threads", syscall: "clone", args: [6]uint64{threads | unix.CLONE_NEWNET}, want: eperm},
		{name: "clone CLONE_NEWCGROUP", syscall: "clone", args: [6]uint64{unix.CLONE_NEWCGROUP}, want: eperm},
		{name: "clone thread", syscall: "clone", args: [6]uint64{threads}, want: Allow},
		{name: "clone ForkExec", syscall: "clone", args: [6]uint64{unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_PIDFD | uint64(unix.SIGCHLD)}, want: Allow},
		{name: "clone fork", syscall: "clone", args: [6]uint64{uint64(unix.SIGCHLD)}, want: Allow},
		{name: "clone CLONE_NEWUSER nested", nested: true, syscall: "clone", args: [6]uint64{unix.CLONE_NEWUSER}, want: Allow},
		{name: "clone3", syscall: "clone3", want: enosys},
		{name: "clone3 nested", nested: true, syscall: "clone3", want: enosys},
		{name: "unshare CLONE_NEWUSER", syscall: "unshare", args: [6]uint64{unix.CLONE_NEWUSER}, want: eperm},
		{name: "unshare CLONE_NEWTIME", syscall: "unshare", args: [6]uint64{unix.CLONE_NEWTIME}, want: eperm},
		{name: "unshare CLONE_FS", syscall: "unshare", args: [6]uint64{unix.CLONE_FS}, want: eperm},
		{name: "unshare nested", nested: true, syscall: "unshare", args: [6]uint64{unix.CLONE_NEWUSER | unix.CLONE_NEWNS}, want: Allow},
		{name: "setns", syscall: "setns", args: [6]uint64{3, unix.CLONE_NEWNET}, want: eperm},
		{name: "setns nested", nested: true, syscall: "setns", args: [6]uint64{3, 0}, want: Allow},
		{name: "mount", syscall: "mount", want: eperm},
		{name: "mount nested", nested: true, syscall: "mount", want: Allow},
		{name: "pivot_root", syscall: "pivot_root", want: eperm},
		{name: "keyctl", syscall: "keyctl", want: eperm},
		{name: "bpf", syscall: "bpf", want: eperm},
		{name: "bpf nested", nested: true, syscall: "bpf", want: eperm},
		{name: "ptrace", syscall: "ptrace", want: eperm},
		{name: "personality PER_LINUX", syscall: "personality", args: [6]uint64{perLinux}, want: Allow},
		{name: "personality query", syscall: "personality", args: [6]uint64{perQuery}, want: Allow},
		{name: "personality UNAME26|PER_LINUX32", syscall: "personality", args: [6]uint64{uname26 | perLinux32}, want: Allow},
		{name: "personality READ_IMPLIES_EXEC", syscall: "personality", args: [6]uint64{0x0400000}, want: eperm},
		{name: "personality ADDR_NO_RANDOMIZE", syscall: "personality", args: [6]uint64{0x0040000}, want: eperm},
		{name: "personality PER_LINUX with a high bit", syscall: "personality", args: [6]uint64{hi}, want: eperm},
		{name: "socket AF_UNIX", syscall: "socket", args: [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM}, want: Allow},
		{name: "socket AF_INET6", syscall: "socket", args: [6]uint64{unix.AF_INET6}, want: Allow},
		{name: "socket AF_NETLINK route", syscall: "socket", args: [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE}, want: Allow},
		{name: "socket AF_PACKET", syscall: "socket", args: [6]uint64{unix.AF_PACKET, unix.SOCK_RAW}, want: Allow},
		{name: "socket NETLINK_AUDIT", syscall: "socket", args: [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT}, want: eprotonosupport},
		{name: "socket NETLINK_AUDIT with a high bit", syscall: "socket", args: [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT | hi}, want: eprotonosupport},
		{name: "socket AF_MCTP", syscall: "socket", args: [6]uint64{unix.AF_MCTP}, want: eafnosupport},
		{name: "socket AF_RDS", syscall: "socket", args: [6]uint64{unix.AF_RDS}, want: eafnosupport},
		{name: "socket AF_TIPC", syscall: "socket", args: [6]uint64{unix.AF_TIPC}, want: eafnosupport},
		{name: "socket AF_KCM", syscall: "socket", args: [6]uint64{unix.AF_KCM}, want: eafnosupport},
		{name: "socket AF_SMC", syscall: "socket", args: [6]uint64{unix.AF_SMC}, want: eafnosupport},
		{name: "socket AF_CAN", syscall: "socket", args: [6]uint64{unix.AF_CAN}, want: eafnosupport},
		{name: "socket AF_BLUETOOTH", syscall: "socket", args: [6]uint64{unix.AF_BLUETOOTH}, want: eafnosupport},
		{name: "socket AF_KEY", syscall: "socket", args: [6]uint64{unix.AF_KEY}, want: eafnosupport},
		{name: "socket AF_ALG", syscall: "socket", args: [6]uint64{unix.AF_ALG}, want: eafnosupport},
		{name: "socket AF_VSOCK", syscall: "socket", args: [6]uint64{unix.AF_VSOCK}, want: eafnosupport},
		{name: "socket AF_UNSPEC", syscall: "socket", args: [6]uint64{0}, want: eafnosupport},
		{name: "socket AF_INET with a high bit", syscall: "socket", args: [6]uint64{unix.AF_INET | hi}, want: eafnosupport},
		{name: "socket family 46", syscall: "socket", args: [6]uint64{46}, want: eafnosupport},
		{name: "modify_ldt", syscall: "modify_ldt", want: eperm},
		{name: "memfd_secret", syscall: "memfd_secret", want: eperm},
		{name: "read", syscall: "read", args: [6]uint64{0, 1, 2, 3, 4, 5}, want: Allow},
		{name: "i386 read", arch: archI386, nr: 3, want: Kill},
		{name: "i386 with an x86_64 number", arch: archI386, syscall: "getpid", want: Kill},
		{name: "aarch64", arch: unix.AUDIT_ARCH_AARCH64, syscall: "read", want: Kill},
		{name: "x32 read", nr: 0x40000000, want: enosys},
		{name: "x32 keyctl", nr: 0x40000000 | 250, want: enosys},
		{name: "nr -1", nr: 0xffffffff, want: enosys},
		{name: "unused number", nr: 400, want: eperm},
		{name: "above the table", nr: maxSyscall + 1, want: eperm},
	}
	progs := map[bool][]unix.SockFilter{}
	for _, nested := range []bool{false, true} {
		p := Default()
		p.AllowNestedNamespaces = nested
		progs[nested] = compile(t, p)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := seccompData{nr: tt.nr, arch: tt.arch, args: tt.args}
			if tt.arch == 0 {
				d.arch = archX86_64
			}
			if tt.syscall != "" {
				d.nr = nr(t, tt.syscall)
			}
			got, _ := runBPF(progs[tt.nested], d)
			if Action(got) != tt.want {
				t.Errorf("filter: %s, want %s", Action(got), tt.want)
			}
			p := Default()
			p.AllowNestedNamespaces = tt.nested
			if got := decide(p, d); got != tt.want {
				t.Errorf("policy: %s, want %s", got, tt.want)
			}
		})
	}
}

// TestLandlockTCP checks the sockets the filter refuses when landlock
// restricts TCP ports: every AF_INET and AF_INET6 socket but TCP and
// datagram sockets, comparing the low 32 bits of each argument as the
// kernel reads them, whatever a profile's rules allow.
func TestLandlockTCP(t *testing.T) {
	const hi = 1 << 32
	refused := Errno(unix.EPROTONOSUPPORT)
	stream, cloexec := uint64(unix.SOCK_STREAM), uint64(unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
	tests := []struct {
		name string
		args [maxArgs]uint64
		want Action
	}{
		{"TCP", [6]uint64{unix.AF_INET, stream, 0}, Allow},
		{"TCP by protocol, with flags", [6]uint64{unix.AF_INET6, stream | cloexec, unix.IPPROTO_TCP}, Allow},
		{"UDP", [6]uint64{unix.AF_INET, unix.SOCK_DGRAM, 0}, Allow},
		{"ICMP datagram (ping)", [6]uint64{unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP}, Allow},
		{"unix stream, protocol 262", [6]uint64{unix.AF_UNIX, stream, unix.IPPROTO_MPTCP}, Allow},
		{"MPTCP", [6]uint64{unix.AF_INET, stream, unix.IPPROTO_MPTCP}, refused},
		{"MPTCP over IPv6", [6]uint64{unix.AF_INET6, stream | cloexec, unix.IPPROTO_MPTCP}, refused},
		{"MPTCP, protocol with a high bit", [6]uint64{unix.AF_INET, stream, unix.IPPROTO_MPTCP | hi}, refused},
		{"TCP protocol with a high bit (TCP to the kernel)", [6]uint64{unix.AF_INET, stream, unix.IPPROTO_TCP | hi}, Allow},
		{"MPTCP, family with a high bit", [6]uint64{unix.AF_INET | hi, stream, unix.IPPROTO_MPTCP}, refused},
		{"MPTCP, type with a high bit", [6]uint64{unix.AF_INET, stream | hi, unix.IPPROTO_MPTCP}, refused},
		{"SCTP stream", [6]uint64{unix.AF_INET, stream, unix.IPPROTO_SCTP}, refused},
		{"SCTP seqpacket", [6]uint64{unix.AF_INET6, unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP}, refused},
		{"DCCP", [6]uint64{unix.AF_INET, unix.SOCK_DCCP, unix.IPPROTO_DCCP}, refused},
		{"raw TCP", [6]uint64{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_TCP}, refused},
		{"SOCK_PACKET", [6]uint64{unix.AF_INET, unix.SOCK_PACKET, 0}, refused},
	}
	for _, allowAll := range []bool{false, true} {
		p := Default()
		p.LandlockTCP = true
		if allowAll {
			// A profile's rule cannot take the refusal back.
			if err := p.Add(Rule{Names: []string{"socket"}, Action: Allow}); err != nil {
				t.Fatal(err)
			}
		}
		prog := compile(t, p)
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/allowAll=%v", tt.name, allowAll), func(t *testing.T) {
				want := tt.want
				if allowAll && want != refused {
					want = Allow
				}
				d := seccompData{arch: archX86_64, nr: nr(t, "socket"), args: tt.args}
				if got, _ := runBPF(prog, d); Action(got) != want {
					t.Errorf("filter: %s, want %s", Action(got), want)
				}
				if got := decide(p, d); got != want {
					t.Errorf("policy: %s, want %s", got, want)
				}
			})
		}
	}
	// Without landlock's TCP rules MPTCP is a socket like any other.
	d := seccompData{arch: archX86_64, nr: nr(t, "socket"), args: [6]uint64{unix.AF_INET, stream, unix.IPPROTO_MPTCP}}
	if got, _ := runBPF(compile(t, Default()), d); Action(got) != Allow {
		t.Errorf("MPTCP without LandlockTCP: %s, want allow", Action(got))
	}
}

// TestForkExecAllowed checks that the default filter allows what init
// and Go's syscall.ForkExec do from the fork to execve
// (forkAndExecInChild1 in syscall/exec_linux.go), then what init does
// while it waits.
func TestForkExecAllowed(t *testing.T) {
	calls := []struct {
		name string
		args [maxArgs]uint64
	}{
		{"pipe2", [6]uint64{0, unix.O_CLOEXEC}},
		{"rt_sigprocmask", [6]uint64{}},
		{"clone", [6]uint64{unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)}},
		{"getpid", [6]uint64{}},
		{"setsid", [6]uint64{}},
		{"setpgid", [6]uint64{}},
		{"ioctl", [6]uint64{0, unix.TIOCSPGRP}},
		{"ioctl", [6]uint64{0, unix.TIOCSCTTY, 1}},
		{"ioctl", [6]uint64{0, unix.TIOCNOTTY}},
		{"setgroups", [6]uint64{}},
		{"setgid", [6]uint64{1000}},
		{"setuid", [6]uint64{1000}},
		{"capget", [6]uint64{}},
		{"capset", [6]uint64{}},
		{"prctl", [6]uint64{unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE}},
		{"chdir", [6]uint64{}},
		{"prctl", [6]uint64{unix.PR_SET_PDEATHSIG, uint64(unix.SIGKILL)}},
		{"getppid", [6]uint64{}},
		{"kill", [6]uint64{}},
		{"dup3", [6]uint64{3, 4, unix.O_CLOEXEC}},
		{"fcntl", [6]uint64{3, unix.F_SETFD}},
		{"close", [6]uint64{5}},
		{"prlimit64", [6]uint64{}},
		{"rt_sigaction", [6]uint64{}},
		{"execve", [6]uint64{}},
		{"write", [6]uint64{}},
		{"exit", [6]uint64{253}},
		{"exit_group", [6]uint64{}},
		{"read", [6]uint64{}},
		{"wait4", [6]uint64{}},
		{"waitid", [6]uint64{unix.P_PIDFD}},
		{"pidfd_open", [6]uint64{}},
		{"pidfd_send_signal", [6]uint64{}},
		{"futex", [6]uint64{}},
		{"sched_yield", [6]uint64{}},
		{"nanosleep", [6]uint64{}},
		{"mmap", [6]uint64{}},
		{"munmap", [6]uint64{}},
		{"madvise", [6]uint64{}},
		{"tgkill", [6]uint64{}},
		{"sigaltstack", [6]uint64{}},
		{"rt_sigreturn", [6]uint64{}},
		{"epoll_pwait", [6]uint64{}},
		{"sendmsg", [6]uint64{}},
		{"recvmsg", [6]uint64{}},
	}
	prog := compile(t, Default())
	for _, c := range calls {
		d := seccompData{nr: nr(t, c.name), arch: archX86_64, args: c.args}
		if got, _ := runBPF(prog, d); Action(got) != Allow {
			t.Errorf("%s%v: %s, want allow", c.name, c.args, Action(got))
		}
	}
}

// randomPolicy returns a policy of n random rules on a few syscalls, with
// conditions on few values, so that random arguments often match.
func randomPolicy(r *rand.Rand, n int, values []uint64) *Policy {
	actions := []Action{Allow, Kill, Log, Trap, Errno(unix.EPERM), Errno(unix.EACCES), Errno(unix.ENOSYS)}
	names := []string{"read", "write", "openat", "ioctl", "clone", "unshare", "socket", "mmap", "futex", "kill", "setns", "clone3"}
	p := &Policy{DefaultAction: actions[r.IntN(len(actions))], AllowNestedNamespaces: r.IntN(2) == 0}
	for range n {
		rule := Rule{Action: actions[r.IntN(len(actions))]}
		for range 1 + r.IntN(2) {
			rule.Names = append(rule.Names, names[r.IntN(len(names))])
		}
		for range r.IntN(4) {
			arg := r.IntN(3)
			v := values[r.IntN(len(values))]
			var c Cond
			// The cases not named share the default.
			//exhaustive:ignore
			switch op := Op(1 + r.IntN(8)); op {
			case OpMaskedEq, OpMaskedNe:
				mask := values[r.IntN(len(values))] | 1<<r.IntN(64)
				c = Cond{Arg: arg, Op: op, Value: v & mask, Mask: mask}
			default:
				c = Cond{Arg: arg, Op: op, Value: v}
			}
			rule.Args = append(rule.Args, c)
		}
		if err := p.Add(rule); err != nil {
			panic(err)
		}
	}
	return p
}

// TestCompileRandom compiles random policies and checks the programs
// against the policies' meaning on random calls, with argument values
// at and around the values the conditions compare with, in either word.
func TestCompileRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 2, 0x5412, 0xffffffff, 1 << 32, 1<<32 | 0x5412, 0xffffffff00000000, ^uint64(0), 0x7fffffff, 0x80000000, 0x100000000 - 1, 1 << 63}
	for i := range 300 {
		p := randomPolicy(r, 1+r.IntN(40), values)
		p.LandlockTCP = r.IntN(2) == 0
		prog := compile(t, p)
		for range 400 {
			d := seccompData{arch: archX86_64, nr: nr(t, p.Rules[r.IntN(len(p.Rules))].Names[0])}
			if r.IntN(20) == 0 {
				d.nr = uint32(r.IntN(maxSyscall + 1))
			}
			for a := range 3 {
				v := values[r.IntN(len(values))]
				switch r.IntN(4) {
				case 0:
					v++
				case 1:
					v--
				case 2:
					v = r.Uint64()
				}
				d.args[a] = v
			}
			got, _ := runBPF(prog, d)
			if want := decide(p, d); Action(got) != want {
				t.Fatalf("policy %d, syscall %d args %#x: filter says %s, policy %s\n%s", i, d.nr, d.args[:3], Action(got), want, p)
			}
		}
	}
}

// TestCompileLongJumps makes one syscall's code longer than a
// conditional jump reaches, so that jumps go through ja, and checks the
// program on every rule.
func TestCompileLongJumps(t *testing.T) {
	p := &Policy{DefaultAction: Errno(unix.EPERM)}
	var as []Action
	for i := range 300 {
		a := Errno(unix.Errno(1 + i%100))
		as = append(as, a)
		if err := p.Add(Rule{Names: []string{"ioctl"}, Action: a, Args: []Cond{Eq(1, uint64(i)<<32|uint64(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Add(Rule{Names: []string{"read", "write", "getpid"}, Action: Allow}); err != nil {
		t.Fatal(err)
	}
	prog := compile(t, p)
	if len(prog) < 1000 {
		t.Fatalf("%d instructions: too short to test long jumps", len(prog))
	}
	ja := 0
	for _, ins := range prog {
		if ins.Code == unix.BPF_JMP|unix.BPF_JA {
			ja++
		}
	}
	if ja == 0 {
		t.Error("no ja in the program")
	}
	for i, a := range as {
		d := seccompData{arch: archX86_64, nr: nr(t, "ioctl"), args: [6]uint64{0, uint64(i)<<32 | uint64(i)}}
		if got, _ := runBPF(prog, d); Action(got) != a {
			t.Errorf("ioctl(0, %#x): %s, want %s", d.args[1], Action(got), a)
		}
		d.args[1] = uint64(i)
		want := Errno(unix.EPERM)
		if i == 0 {
			want = as[0]
		}
		if got, _ := runBPF(prog, d); Action(got) != want {
			t.Errorf("ioctl(0, %#x): %s, want %s", d.args[1], Action(got), want)
		}
	}
	for _, name := range []string{"read", "write", "getpid"} {
		if got, _ := runBPF(prog, seccompData{arch: archX86_64, nr: nr(t, name)}); Action(got) != Allow {
			t.Errorf("%s: %s, want allow", name, Action(got))
		}
	}
}

// TestCompileJumpReach compiles policies of every size up to a few
// thousand instructions, with conditions on many syscalls, so that jumps
// meet their targets at every distance around the 255 that a conditional
// jump reaches, and checks each program on random calls.
func TestCompileJumpReach(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	nrs := Syscalls()
	values := []uint64{0, 1, 0x5412, 1 << 32, ^uint64(0)}
	actions := []Action{Allow, Kill, Errno(unix.EPERM), Errno(unix.EACCES), Log}
	for n := 1; n <= 200; n += 1 + n/20 {
		p := &Policy{DefaultAction: actions[r.IntN(len(actions))]}
		for range n {
			name, _ := SyscallName(nrs[r.IntN(len(nrs))])
			rule := Rule{Names: []string{name}, Action: actions[r.IntN(len(actions))]}
			for range r.IntN(3) {
				rule.Args = append(rule.Args, Cond{Arg: r.IntN(6), Op: Op(1 + r.IntN(6)), Value: values[r.IntN(len(values))]})
			}
			if err := p.Add(rule); err != nil {
				t.Fatal(err)
			}
		}
		prog := compile(t, p)
		for range 2000 {
			d := seccompData{arch: archX86_64, nr: uint32(nrs[r.IntN(len(nrs))])}
			for a := range d.args {
				d.args[a] = values[r.IntN(len(values))] + uint64(r.IntN(3)) - 1
			}
			if got, _ := runBPF(prog, d); Action(got) != decide(p, d) {
				t.Fatalf("%d rules, %d instructions, syscall %d args %#x: filter says %s, policy %s",
					n, len(prog), d.nr, d.args, Action(got), decide(p, d))
			}
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tooLong := &Policy{DefaultAction: Allow}
	for i := range 1200 {
		if err := tooLong.Add(Rule{Names: []string{"ioctl"}, Action: Errno(unix.EPERM), Args: []Cond{Eq(1, uint64(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		p    *Policy
		want string
	}{
		{"no default action", &Policy{}, "default action: no action"},
		{"errno out of range", &Policy{DefaultAction: Errno(5000)}, "default action: action errno 5000: must be 1 to 4095"},
		{"kill thread", &Policy{DefaultAction: Allow, Rules: []Rule{{Names: []string{"read"}}}}, "rule 1 (read -> action(0x0)): no action"},
		{"unknown name in a literal", &Policy{DefaultAction: Allow, Rules: []Rule{{Names: []string{"raed"}, Action: Kill}}}, `unknown syscall "raed" (did you mean "read"?)`},
		{"too long", tooLong, "more than the kernel's 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.p.Compile()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one with %q", err, tt.want)
			}
		})
	}
}

// TestCompileDeterministic checks that a policy compiles to the same
// program every time (chains come out of a map).
func TestCompileDeterministic(t *testing.T) {
	first := compile(t, Default())
	for range 20 {
		if got := compile(t, Default()); fmt.Sprint(got) != fmt.Sprint(first) {
			t.Fatal("two compilations of the default policy differ")
		}
	}
}

// BenchmarkCompileDefault measures Compile on the default policy, and
// reports the program's length and the instructions it runs for a
// syscall (the mean over the x86_64 table, and the most).
func BenchmarkCompileDefault(b *testing.B) {
	p := Default()
	var prog []unix.SockFilter
	for b.Loop() {
		var err error
		if prog, err = p.Compile(); err != nil {
			b.Fatal(err)
		}
	}
	total, most, n := 0, 0, 0
	for _, nr := range Syscalls() {
		_, steps := runBPF(prog, seccompData{arch: archX86_64, nr: uint32(nr)})
		total += steps
		most = max(most, steps)
		n++
	}
	b.ReportMetric(float64(len(prog)), "instructions")
	b.ReportMetric(float64(total)/float64(n), "steps/syscall")
	b.ReportMetric(float64(most), "max-steps")
}

// BenchmarkDefaultPolicy measures building the default policy, with the
// check of every rule that Add makes.
func BenchmarkDefaultPolicy(b *testing.B) {
	for b.Loop() {
		_ = Default()
	}
}
