package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// MaxInstructions is the kernel's limit on a filter's length (BPF_MAXINSNS).
const MaxInstructions = 4096

// Offsets in struct seccomp_data, the input of a filter.
const (
	offNr   = 0  // int nr
	offArch = 4  // __u32 arch
	offArgs = 16 // __u64 args[6], little-endian on x86_64
)

// Compile returns the policy as a classic BPF program for
// seccomp(SECCOMP_SET_MODE_FILTER), in the order Policy describes:
//
//  1. load the architecture; if it is not x86_64, return kill;
//  2. load the syscall number; if it has the x32 bit, return ENOSYS;
//  3. find the number's rules by binary search over the ranges of
//     numbers that share an outcome (about 9 comparisons for any
//     syscall, where a list compares up to once per rule);
//  4. check the syscall's conditions one after another: each 64-bit
//     argument is compared as two 32-bit words, the high word first.
//
// Compile is deterministic and does no I/O. It returns an error for an
// invalid policy or a program longer than the kernel's 4096 instructions.
func (p *Policy) Compile() ([]unix.SockFilter, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("seccomp policy: %w", err)
	}
	a := &asm{rets: map[Action]label{}}
	dispatch := a.dispatch(p.chains(), p.DefaultAction)
	x32 := a.ret(x32Action)
	l := a.jump(unix.BPF_JGE, x32Bit, x32, dispatch)
	l = a.seq(ld(offNr), l)
	kill := a.ret(foreignArch)
	l = a.jump(unix.BPF_JEQ, auditArch, l, kill)
	a.seq(ld(offArch), l)

	n := len(a.rev)
	if n > MaxInstructions {
		return nil, fmt.Errorf("seccomp policy: %d BPF instructions, more than the kernel's %d", n, MaxInstructions)
	}
	prog := make([]unix.SockFilter, n)
	for i, ins := range a.rev {
		prog[n-1-i] = ins
	}
	return prog, nil
}

// asm builds a BPF program from its end backwards, so that the target of
// every jump is already placed when the jump is: offsets are known at
// once, and a conditional jump whose target is beyond its 8-bit reach
// goes through an unconditional jump (32-bit offset) placed next to it.
type asm struct {
	rev  []unix.SockFilter // the program, last instruction first
	rets map[Action]label  // the latest "ret" of each action
}

// label is the place of an instruction, counted from the program's end.
type label int

// offset returns how many instructions a jump placed next skips to reach l.
func (a *asm) offset(l label) int { return len(a.rev) - int(l) - 1 }

func (a *asm) emit(ins unix.SockFilter) label {
	a.rev = append(a.rev, ins)
	return label(len(a.rev) - 1)
}

// seq places ins so that it continues at next.
func (a *asm) seq(ins unix.SockFilter, next label) label {
	if a.offset(next) != 0 {
		a.goTo(next)
	}
	return a.emit(ins)
}

// goTo places an unconditional jump to l.
func (a *asm) goTo(l label) label {
	return a.emit(unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA, K: uint32(a.offset(l))})
}

// ret returns a label of "ret act", reusing one within reach of a jump.
func (a *asm) ret(act Action) label {
	if l, ok := a.rets[act]; ok && a.offset(l) <= 253 {
		return l
	}
	l := a.emit(unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: uint32(act)})
	a.rets[act] = l
	return l
}

// jump places "if A op k goto t else goto f" (op is JEQ, JGT, JGE or JSET).
func (a *asm) jump(op uint16, k uint32, t, f label) label {
	if t == f {
		return t
	}
	// Up to two trampolines go between the jump and its targets, so a
	// target more than 253 away gets one.
	farT, farF := a.offset(t) > 253, a.offset(f) > 253
	if farT {
		t = a.goTo(t)
	}
	if farF {
		f = a.goTo(f)
	}
	if a.offset(t) > 255 || a.offset(f) > 255 {
		panic("seccomp: compile: a jump out of reach")
	}
	return a.emit(unix.SockFilter{
		Code: unix.BPF_JMP | op | unix.BPF_K,
		Jt:   uint8(a.offset(t)),
		Jf:   uint8(a.offset(f)),
		K:    k,
	})
}

// ld is "A = seccomp_data[off]" (a 32-bit word).
func ld(off uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
}

// span is a range of syscall numbers [lo, hi] with one outcome: a
// simple action, or the code of one syscall's conditions.
type span struct {
	lo, hi uint32
	act    Action // when c is nil
	c      *chain
}

// dispatch places the search over the syscall number (in A, below the
// x32 bit) and each syscall's code.
func (a *asm) dispatch(chains []chain, def Action) label {
	var spans []span
	add := func(s span) {
		if k := len(spans); k > 0 && s.c == nil && spans[k-1].c == nil && spans[k-1].act == s.act {
			spans[k-1].hi = s.hi
			return
		}
		spans = append(spans, s)
	}
	next := uint32(0)
	for i := range chains {
		c := &chains[i]
		nr := uint32(c.nr)
		if nr > next {
			add(span{lo: next, hi: nr - 1, act: def})
		}
		trimmed := trim(c.links, def)
		if len(trimmed) == 0 || len(trimmed[0].args) == 0 {
			add(span{lo: nr, hi: nr, act: c.final(def)})
		} else {
			add(span{lo: nr, hi: nr, c: &chain{nr: c.nr, name: c.name, links: trimmed}})
		}
		next = nr + 1
	}
	add(span{lo: next, hi: x32Bit - 1, act: def})
	return a.search(spans, def)
}

// trim drops the links at the end of a chain that do what the default
// does, and an unconditional link that makes the default unreachable.
func trim(links []link, def Action) []link {
	for len(links) > 0 && links[len(links)-1].action == def {
		links = links[:len(links)-1]
	}
	return links
}

// search places a binary search over spans (sorted, adjacent, covering
// every number the search sees).
func (a *asm) search(spans []span, def Action) label {
	if len(spans) == 1 {
		s := spans[0]
		if s.c == nil {
			return a.ret(s.act)
		}
		return a.chain(s.c, def)
	}
	mid := len(spans) / 2
	// The upper half first, so that the lower half is placed next to the
	// comparison and reached by falling through.
	hi := a.search(spans[mid:], def)
	lo := a.search(spans[:mid], def)
	return a.jump(unix.BPF_JGE, spans[mid].lo, hi, lo)
}

// chain places one syscall's links: each link's conditions in turn; the
// first link whose conditions all hold returns its action.
func (a *asm) chain(c *chain, def Action) label {
	next := a.ret(c.final(def))
	for i := len(c.links) - 1; i >= 0; i-- {
		l := c.links[i]
		if len(l.args) == 0 {
			continue // the final action, placed above
		}
		entry := a.ret(l.action)
		for j := len(l.args) - 1; j >= 0; j-- {
			entry = a.cond(l.args[j], entry, next)
		}
		next = entry
	}
	return next
}

// cond places a test of one 64-bit argument that continues at t when it
// holds and at f when it does not.
func (a *asm) cond(c Cond, t, f label) label {
	lo := uint32(offArgs + 8*c.Arg)
	hi := lo + 4
	vlo, vhi := uint32(c.Value), uint32(c.Value>>32)
	switch c.Op {
	case OpEq:
		l := a.jump(unix.BPF_JEQ, vlo, t, f)
		l = a.seq(ld(lo), l)
		l = a.jump(unix.BPF_JEQ, vhi, l, f)
		return a.seq(ld(hi), l)
	case OpNe:
		return a.cond(Cond{Arg: c.Arg, Op: OpEq, Value: c.Value}, f, t)
	case OpGt, OpGe:
		op := uint16(unix.BPF_JGT)
		if c.Op == OpGe {
			op = unix.BPF_JGE
		}
		// hi > vhi, or hi == vhi and lo > (or >=) vlo.
		l := a.jump(op, vlo, t, f)
		l = a.seq(ld(lo), l)
		l = a.jump(unix.BPF_JEQ, vhi, l, f)
		l = a.jump(unix.BPF_JGT, vhi, t, l)
		return a.seq(ld(hi), l)
	case OpLt:
		return a.cond(Cond{Arg: c.Arg, Op: OpGe, Value: c.Value}, f, t)
	case OpLe:
		return a.cond(Cond{Arg: c.Arg, Op: OpGt, Value: c.Value}, f, t)
	case OpMaskedEq:
		mlo, mhi := uint32(c.Mask), uint32(c.Mask>>32)
		l := t
		if mlo != 0 {
			l = a.jump(unix.BPF_JEQ, vlo, l, f)
			if mlo != 0xffffffff {
				l = a.seq(unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: mlo}, l)
			}
			l = a.seq(ld(lo), l)
		}
		if mhi != 0 {
			l = a.jump(unix.BPF_JEQ, vhi, l, f)
			if mhi != 0xffffffff {
				l = a.seq(unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: mhi}, l)
			}
			l = a.seq(ld(hi), l)
		}
		return l
	case OpMaskedNe:
		return a.cond(Cond{Arg: c.Arg, Op: OpMaskedEq, Value: c.Value, Mask: c.Mask}, f, t)
	}
	panic(fmt.Sprintf("seccomp: compile: unchecked comparison %v", c.Op))
}
