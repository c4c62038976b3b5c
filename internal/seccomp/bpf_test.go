package seccomp

import (
	"encoding/binary"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// seccompData is the input of a filter, struct seccomp_data.
type seccompData struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [maxArgs]uint64
}

// bytes lays d out as the kernel does on x86_64 (little-endian).
func (d seccompData) bytes() [64]byte {
	var b [64]byte
	binary.LittleEndian.PutUint32(b[0:], d.nr)
	binary.LittleEndian.PutUint32(b[4:], d.arch)
	binary.LittleEndian.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// checkBPF makes the checks the kernel makes when a filter is loaded
// (bpf_check_classic and seccomp_check_filter) for the instructions
// Compile uses, and refuses every other instruction.
func checkBPF(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > MaxInstructions {
		return fmt.Errorf("%d instructions", len(prog))
	}
	for pc, ins := range prog {
		switch ins.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if ins.K%4 != 0 || ins.K >= 64 {
				return fmt.Errorf("%d: load at offset %d of seccomp_data", pc, ins.K)
			}
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, unix.BPF_RET | unix.BPF_K:
		case unix.BPF_JMP | unix.BPF_JA:
			if pc+1+int(ins.K) >= len(prog) || int(ins.K) < 0 {
				return fmt.Errorf("%d: ja %d out of the program", pc, ins.K)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			if pc+1+int(max(ins.Jt, ins.Jf)) >= len(prog) {
				return fmt.Errorf("%d: jump out of the program", pc)
			}
		default:
			return fmt.Errorf("%d: instruction %#x not used by Compile", pc, ins.Code)
		}
	}
	if last := prog[len(prog)-1]; last.Code != unix.BPF_RET|unix.BPF_K {
		return fmt.Errorf("the last instruction is %#x, not ret", last.Code)
	}
	return nil
}

// runBPF runs a checked program on d and returns what it returns and
// how many instructions it ran. Jumps only go forward, so it ends.
func runBPF(prog []unix.SockFilter, d seccompData) (ret uint32, steps int) {
	data := d.bytes()
	var acc uint32
	for pc := 0; ; pc++ {
		ins := prog[pc]
		steps++
		switch ins.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[ins.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= ins.K
		case unix.BPF_RET | unix.BPF_K:
			return ins.K, steps
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(ins.K)
		default:
			var hold bool
			switch ins.Code &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				hold = acc == ins.K
			case unix.BPF_JGT:
				hold = acc > ins.K
			case unix.BPF_JGE:
				hold = acc >= ins.K
			case unix.BPF_JSET:
				hold = acc&ins.K != 0
			}
			if hold {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		}
	}
}

// decide is what Policy's documentation says the filter does with a
// syscall, written without the compiler's chains.
func decide(p *Policy, d seccompData) Action {
	if d.arch != unix.AUDIT_ARCH_X86_64 {
		return Kill
	}
	if d.nr >= 0x40000000 {
		return Errno(unix.ENOSYS)
	}
	name, ok := SyscallName(int(d.nr))
	if !ok {
		return p.DefaultAction
	}
	matches := func(r Rule) bool {
		if !slices.Contains(r.Names, name) {
			return false
		}
		for _, c := range r.Args {
			if !c.holds(d.args) {
				return false
			}
		}
		return true
	}
	if !p.AllowNestedNamespaces {
		for _, r := range p.guards() {
			if matches(r) && r.Names[0] != "socket" {
				return r.Action
			}
		}
	}
	if p.LandlockTCP && name == "socket" {
		// Only the low 32 bits of the int arguments count.
		fam, typ, proto := uint32(d.args[0]), uint32(d.args[1])&0xf, uint32(d.args[2])
		if fam == unix.AF_INET || fam == unix.AF_INET6 {
			tcp := typ == unix.SOCK_STREAM && (proto == 0 || proto == unix.IPPROTO_TCP)
			if !tcp && typ != unix.SOCK_DGRAM {
				return Errno(unix.EPROTONOSUPPORT)
			}
		}
	}
	for i := len(p.Rules) - 1; i >= 0; i-- {
		if matches(p.Rules[i]) {
			return p.Rules[i].Action
		}
	}
	if p.AllowNestedNamespaces && slices.Contains(nestedSyscalls, name) {
		return Allow
	}
	return p.DefaultAction
}
