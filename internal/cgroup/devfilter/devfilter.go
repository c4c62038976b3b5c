package devfilter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/plan"
)

// The kernel's struct bpf_cgroup_dev_ctx: access_type (the device type
// in the low 16 bits, the access in the high ones), major, minor.
const (
	offAccessType = 0
	offMajor      = 4
	offMinor      = 8
)

// The device types and accesses of bpf_cgroup_dev_ctx.access_type
// (BPF_DEVCG_DEV_*, BPF_DEVCG_ACC_*).
const (
	devBlock  = 1
	devChar   = 2
	accMknod  = 1
	accRead   = 2
	accWrite  = 4
	accAll    = accMknod | accRead | accWrite
	labelDeny = "deny"
)

// access returns the BPF_DEVCG_ACC_* bits of a rule's access string.
func access(s string) (int32, error) {
	var a int32
	for _, c := range s {
		var bit int32
		switch c {
		case 'r':
			bit = accRead
		case 'w':
			bit = accWrite
		case 'm':
			bit = accMknod
		default:
			return 0, fmt.Errorf("access %q: %q is not r, w or m", s, c)
		}
		if a&bit != 0 {
			return 0, fmt.Errorf("access %q: %q twice", s, c)
		}
		a |= bit
	}
	if a == 0 {
		return 0, fmt.Errorf("access %q: allows nothing", s)
	}
	return a, nil
}

// number checks a rule's major or minor: -1 (any) or a 32-bit number.
func number(x int64) error {
	if x < -1 || x > 1<<32-1 {
		return fmt.Errorf("%d is not a device number", x)
	}
	return nil
}

// Program returns the instructions of the device program that allows
// only what rules allow. It reads the context once into R2 (type), R3
// (access), R4 (major) and R5 (minor), then tests each rule in turn: the
// first that matches returns 1 (allow); past the last it returns 0.
func Program(rules []plan.DeviceRule) (asm.Instructions, error) {
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, offAccessType, asm.Word),
		asm.And.Imm32(asm.R2, 0xffff),
		asm.LoadMem(asm.R3, asm.R1, offAccessType, asm.Word),
		asm.RSh.Imm32(asm.R3, 16),
		asm.LoadMem(asm.R4, asm.R1, offMajor, asm.Word),
		asm.LoadMem(asm.R5, asm.R1, offMinor, asm.Word),
	}
	for i, r := range rules {
		next := fmt.Sprintf("rule%d", i+1)
		if i == len(rules)-1 {
			next = labelDeny
		}
		var rule asm.Instructions
		switch r.Type {
		case 'a':
			if r.Major != -1 || r.Minor != -1 {
				return nil, fmt.Errorf("device rule %d (%s): type a has no numbers", i, r)
			}
		case 'b':
			rule = append(rule, asm.JNE.Imm32(asm.R2, devBlock, next))
		case 'c':
			rule = append(rule, asm.JNE.Imm32(asm.R2, devChar, next))
		default:
			return nil, fmt.Errorf("device rule %d: type %q is not a, b or c", i, r.Type)
		}
		acc, err := access(r.Access)
		if err != nil {
			return nil, fmt.Errorf("device rule %d (%s): %w", i, r, err)
		}
		if acc != accAll {
			// Allowed only when every kind asked for is in the rule.
			rule = append(rule,
				asm.Mov.Reg32(asm.R1, asm.R3),
				asm.And.Imm32(asm.R1, ^acc&accAll),
				asm.JNE.Imm32(asm.R1, 0, next))
		}
		for _, n := range []struct {
			reg asm.Register
			x   int64
		}{{asm.R4, r.Major}, {asm.R5, r.Minor}} {
			if err := number(n.x); err != nil {
				return nil, fmt.Errorf("device rule %d (%s): %w", i, r, err)
			}
			if n.x >= 0 {
				rule = append(rule, asm.JNE.Imm32(n.reg, int32(uint32(n.x)), next))
			}
		}
		rule = append(rule, asm.Mov.Imm32(asm.R0, 1), asm.Return())
		if i > 0 {
			rule[0] = rule[0].WithSymbol(fmt.Sprintf("rule%d", i))
		}
		insns = append(insns, rule...)
	}
	deny := asm.Mov.Imm32(asm.R0, 0)
	if len(rules) > 0 {
		deny = deny.WithSymbol(labelDeny)
	}
	return append(insns, deny, asm.Return()), nil
}

// Error is a failed load or attach: the call and the kernel's errno, and
// for a load the verifier's log.
type Error struct {
	Call string
	Dir  string
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s of the device program for %s: %v", e.Call, e.Dir, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Attach loads the program of rules and attaches it to the cgroup v2
// directory dir with BPF_F_ALLOW_MULTI. It needs CAP_BPF (or
// CAP_SYS_ADMIN) to load and CAP_NET_ADMIN to attach, in the host's user
// namespace; without them it fails with the call and its errno (EPERM),
// and the caller must not run the sandbox.
func Attach(dir string, rules []plan.DeviceRule) error {
	insns, err := Program(rules)
	if err != nil {
		return err
	}
	prog, err := Load(insns)
	if err != nil {
		return &Error{"bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE)", dir, err}
	}
	defer unix.Close(prog)
	f, err := os.OpenFile(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := attach(int(f.Fd()), prog); err != nil {
		return &Error{"bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)", dir, err}
	}
	return nil
}

// Load has the kernel check and load insns as a BPF_PROG_TYPE_CGROUP_DEVICE
// program and returns its descriptor. A program the verifier refuses
// fails with the verifier's log.
//
// The calls are made here, not with cilium/ebpf's loader: its BTF, CO-RE
// and map support, which a program of a few jumps needs none of, would
// add 1.5 MB to the run binary (only its assembler is linked).
func Load(insns asm.Instructions) (int, error) {
	var code bytes.Buffer
	// The assembler takes only binary.LittleEndian or BigEndian.
	var order binary.ByteOrder = binary.BigEndian
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		order = binary.LittleEndian
	}
	if err := insns.Marshal(&code, order); err != nil {
		return -1, err
	}
	license := []byte("Apache-2.0\x00")
	logBuf := make([]byte, 64<<10)
	// The head of union bpf_attr for BPF_PROG_LOAD: prog_type,
	// insn_cnt, insns, license, log_level, log_size, log_buf,
	// kern_version, prog_flags, then zeros (the kernel checks that the
	// bytes past what it knows are zero).
	var attr struct {
		progType, insnCnt uint32
		insns, license    uint64
		logLevel, logSize uint32
		logBuf            uint64
		kernVersion       uint32
		progFlags         uint32
		_                 [64]byte
	}
	attr.progType = unix.BPF_PROG_TYPE_CGROUP_DEVICE
	attr.insnCnt = uint32(code.Len() / asm.InstructionSize)
	attr.insns = uint64(uintptr(unsafe.Pointer(&code.Bytes()[0])))
	attr.license = uint64(uintptr(unsafe.Pointer(&license[0])))
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno == unix.EACCES || errno == unix.EINVAL {
		// Again with the verifier's log, to say why.
		attr.logLevel, attr.logSize = 1, uint32(len(logBuf))
		attr.logBuf = uint64(uintptr(unsafe.Pointer(&logBuf[0])))
		fd, _, errno = unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	}
	runtime.KeepAlive(code.Bytes())
	runtime.KeepAlive(license)
	runtime.KeepAlive(logBuf)
	if errno != 0 {
		if log := strings.TrimSpace(string(bytes.TrimRight(logBuf, "\x00"))); log != "" {
			return -1, fmt.Errorf("%s: %w; the verifier says: %s", unix.ErrnoName(errno), errno, log)
		}
		return -1, fmt.Errorf("%s: %w", unix.ErrnoName(errno), errno)
	}
	return int(fd), nil
}

// attach is bpf(BPF_PROG_ATTACH) of the program prog to the cgroup
// cgroup.
func attach(cgroup, prog int) error {
	// The head of union bpf_attr for BPF_PROG_ATTACH: target_fd,
	// attach_bpf_fd, attach_type, attach_flags, replace_bpf_fd.
	attr := [5]uint32{uint32(cgroup), uint32(prog), unix.BPF_CGROUP_DEVICE, unix.BPF_F_ALLOW_MULTI, 0}
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_ATTACH, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(&attr)
	if errno != 0 {
		return fmt.Errorf("%s: %w", unix.ErrnoName(errno), errno)
	}
	return nil
}
