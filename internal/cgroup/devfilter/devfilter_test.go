package devfilter

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/testenv"
	"github.com/cellsandbox/cell/launcher/plan"
)

// run interprets insns, the subset of eBPF that Program writes, on the
// context (access_type, major, minor), as the kernel's interpreter does:
// the check of the translation where the kernel cannot run the program
// for a test (BPF_PROG_TEST_RUN has no BPF_PROG_TYPE_CGROUP_DEVICE).
func run(t *testing.T, insns asm.Instructions, accessType, major, minor uint32) uint64 {
	t.Helper()
	ctx := make([]byte, 12)
	binary.NativeEndian.PutUint32(ctx[0:], accessType)
	binary.NativeEndian.PutUint32(ctx[4:], major)
	binary.NativeEndian.PutUint32(ctx[8:], minor)
	labels := map[string]int{}
	for i, in := range insns {
		if s := in.Symbol(); s != "" {
			labels[s] = i
		}
	}
	var reg [11]uint64
	const ctxAddr = 1 << 40
	reg[1] = ctxAddr
	for pc, steps := 0, 0; ; steps++ {
		if pc < 0 || pc >= len(insns) || steps > 1000 {
			t.Fatalf("pc %d out of the program (or a loop)", pc)
		}
		in := insns[pc]
		pc++
		op := in.OpCode
		src := uint64(in.Constant)
		if op.Source() == asm.RegSource {
			src = reg[in.Src]
		}
		switch cls := op.Class(); {
		case cls == asm.LdXClass:
			off := reg[in.Src] + uint64(int64(in.Offset)) - ctxAddr
			if reg[in.Src] != ctxAddr || op.Size() != asm.Word || off > 8 {
				t.Fatalf("%v: reads outside the context", in)
			}
			reg[in.Dst] = uint64(binary.NativeEndian.Uint32(ctx[off:]))
		case cls.IsALU():
			d := reg[in.Dst]
			switch op.ALUOp() {
			case asm.Mov:
				d = src
			case asm.And:
				d &= src
			case asm.RSh:
				d >>= src
			default:
				t.Fatalf("%v: ALU op not interpreted", in)
			}
			if cls == asm.ALUClass {
				d = uint64(uint32(d))
			}
			reg[in.Dst] = d
		case cls.IsJump():
			if op.JumpOp() == asm.Exit {
				return reg[0]
			}
			a, b := reg[in.Dst], src
			if cls == asm.Jump32Class {
				a, b = uint64(uint32(a)), uint64(uint32(b))
			}
			var take bool
			switch op.JumpOp() {
			case asm.JNE:
				take = a != b
			case asm.JEq:
				take = a == b
			case asm.Ja:
				take = true
			default:
				t.Fatalf("%v: jump not interpreted", in)
			}
			if take {
				to, ok := labels[in.Reference()]
				if !ok {
					t.Fatalf("%v: no label %q", in, in.Reference())
				}
				pc = to
			}
		default:
			t.Fatalf("%v: instruction class not interpreted", in)
		}
	}
}

// An access asked of the program.
type ask struct {
	typ          uint32 // devBlock, devChar
	acc          uint32 // accRead...
	major, minor uint32
	want         uint64
}

func (a ask) String() string {
	t := map[uint32]string{devBlock: "b", devChar: "c"}[a.typ]
	return fmt.Sprintf("%s %d:%d acc=%d", t, a.major, a.minor, a.acc)
}

var programCases = []struct {
	name  string
	rules []plan.DeviceRule
	asks  []ask
}{
	{"none denies all", nil, []ask{
		{devChar, accRead, 1, 3, 0}, {devBlock, accMknod, 8, 0, 0},
	}},
	{"null not zero", []plan.DeviceRule{{Type: 'c', Major: 1, Minor: 3, Access: "rwm"}}, []ask{
		{devChar, accRead | accWrite, 1, 3, 1}, {devChar, accMknod, 1, 3, 1},
		{devChar, accRead, 1, 5, 0}, {devBlock, accRead, 1, 3, 0}, {devChar, accRead, 2, 3, 0},
	}},
	{"access subset", []plan.DeviceRule{{Type: 'c', Major: 1, Minor: 5, Access: "r"}}, []ask{
		{devChar, accRead, 1, 5, 1}, {devChar, accWrite, 1, 5, 0},
		{devChar, accRead | accWrite, 1, 5, 0}, {devChar, accMknod, 1, 5, 0},
	}},
	{"wildcards", []plan.DeviceRule{{Type: 'c', Major: 136, Minor: -1, Access: "rw"}, {Type: 'b', Major: -1, Minor: -1, Access: "m"}}, []ask{
		{devChar, accRead, 136, 7, 1}, {devChar, accMknod, 136, 7, 0}, {devChar, accRead, 137, 7, 0},
		{devBlock, accMknod, 8, 0, 1}, {devBlock, accRead, 8, 0, 0},
	}},
	{"any type no mknod", []plan.DeviceRule{{Type: 'a', Major: -1, Minor: -1, Access: "rw"}, {Type: 'c', Major: 1, Minor: 3, Access: "rwm"}}, []ask{
		{devBlock, accRead | accWrite, 8, 0, 1}, {devBlock, accMknod, 8, 0, 0},
		{devChar, accMknod, 1, 3, 1}, {devChar, accMknod, 1, 5, 0},
	}},
	{"big numbers", []plan.DeviceRule{{Type: 'c', Major: 4095, Minor: 1<<20 - 1, Access: "rwm"}}, []ask{
		{devChar, accRead, 4095, 1<<20 - 1, 1}, {devChar, accRead, 4095, 1<<20 - 2, 0},
	}},
}

func TestProgram(t *testing.T) {
	for _, tc := range programCases {
		t.Run(tc.name, func(t *testing.T) {
			insns, err := Program(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tc.asks {
				if got := run(t, insns, a.acc<<16|a.typ, a.major, a.minor); got != a.want {
					t.Errorf("%s: program returns %d, want %d\n%v", a, got, a.want, insns)
				}
			}
		})
	}
}

func TestProgramRefuses(t *testing.T) {
	for _, r := range []plan.DeviceRule{
		{Type: 'x', Major: -1, Minor: -1, Access: "r"},
		{Type: 'a', Major: 1, Minor: -1, Access: "r"},
		{Type: 'c', Major: 1, Minor: 3, Access: "rx"},
		{Type: 'c', Major: 1, Minor: 3, Access: "rr"},
		{Type: 'c', Major: 1, Minor: 3, Access: ""},
		{Type: 'c', Major: 1 << 32, Minor: 3, Access: "r"},
	} {
		if _, err := Program([]plan.DeviceRule{r}); err == nil {
			t.Errorf("%s: no error", r)
		}
	}
}

// TestProgramLoads has the kernel's verifier check each program, and runs
// it with BPF_PROG_TEST_RUN where the kernel can (then the result must
// agree with the interpreter's; Linux 6.18 cannot run this type).
func TestProgramLoads(t *testing.T) {
	testenv.Root(t)
	for _, tc := range programCases {
		t.Run(tc.name, func(t *testing.T) {
			insns, err := Program(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			fd, err := Load(insns)
			if err != nil {
				t.Fatalf("the kernel refuses the program: %v", err)
			}
			defer unix.Close(fd)
			for _, a := range tc.asks {
				ctx := make([]byte, 12)
				binary.NativeEndian.PutUint32(ctx[0:], a.acc<<16|a.typ)
				binary.NativeEndian.PutUint32(ctx[4:], a.major)
				binary.NativeEndian.PutUint32(ctx[8:], a.minor)
				got, err := testRun(fd, ctx)
				if err != nil {
					t.Logf("BPF_PROG_TEST_RUN: %v (the interpreter's test covers it)", err)
					return
				}
				if uint64(got) != a.want {
					t.Errorf("%s: kernel runs the program to %d, want %d", a, got, a.want)
				}
			}
		})
	}
}

// testRun is bpf(BPF_PROG_TEST_RUN) of the program fd on ctx.
func testRun(fd int, ctx []byte) (uint32, error) {
	// union bpf_attr's test: prog_fd, retval, data_size_in,
	// data_size_out, data_in, data_out, repeat, duration, ctx_size_in,
	// ctx_size_out, ctx_in, ctx_out, flags, cpu, batch_size.
	var attr struct {
		progFD, retval, dataSizeIn, dataSizeOut uint32
		dataIn, dataOut                         uint64
		repeat, duration                        uint32
		ctxSizeIn, ctxSizeOut                   uint32
		ctxIn, ctxOut                           uint64
		flags, cpu, batchSize                   uint32
		_                                       uint32
	}
	attr.progFD = uint32(fd)
	attr.ctxSizeIn = uint32(len(ctx))
	attr.ctxIn = uint64(uintptr(unsafe.Pointer(&ctx[0])))
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(ctx)
	if errno != 0 {
		return 0, fmt.Errorf("%s: %w", unix.ErrnoName(errno), errno)
	}
	return attr.retval, nil
}

// TestLoadRefused checks that a program the verifier refuses fails with
// its log, not only an errno.
func TestLoadRefused(t *testing.T) {
	testenv.Root(t)
	_, err := Load(asm.Instructions{asm.Return()}) // R0 never set
	if err == nil || !strings.Contains(err.Error(), "the verifier says: ") || !strings.Contains(err.Error(), "R0") {
		t.Fatalf("got %v, want the verifier's complaint about R0", err)
	}
}
