package seccomp

import (
	"errors"
	"fmt"
	"strings"
)

// Op is how a Cond compares a syscall argument with its value. Every
// comparison is unsigned and over all 64 bits of the argument, except
// where the mask of OpMaskedEq or OpMaskedNe leaves bits out.
type Op uint8

// The comparisons. The zero Op is not valid.
const (
	OpEq       Op = iota + 1 // arg == value
	OpNe                     // arg != value
	OpLt                     // arg < value
	OpLe                     // arg <= value
	OpGt                     // arg > value
	OpGe                     // arg >= value
	OpMaskedEq               // arg & mask == value
	OpMaskedNe               // arg & mask != value
)

// String returns the name of o as ParseOp reads it: "eq", "ne", "lt",
// "le", "gt", "ge", "masked-eq" or "masked-ne".
func (o Op) String() string {
	switch o {
	case OpEq:
		return "eq"
	case OpNe:
		return "ne"
	case OpLt:
		return "lt"
	case OpLe:
		return "le"
	case OpGt:
		return "gt"
	case OpGe:
		return "ge"
	case OpMaskedEq:
		return "masked-eq"
	case OpMaskedNe:
		return "masked-ne"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// symbol returns the operator as printed inside a condition.
func (o Op) symbol() string {
	switch o {
	case OpEq, OpMaskedEq:
		return "=="
	case OpNe, OpMaskedNe:
		return "!="
	case OpLt:
		return "<"
	case OpLe:
		return "<="
	case OpGt:
		return ">"
	case OpGe:
		return ">="
	}
	return o.String()
}

// ParseOp returns the Op whose String is s.
func ParseOp(s string) (Op, error) {
	for o := OpEq; o <= OpMaskedNe; o++ {
		if o.String() == s {
			return o, nil
		}
	}
	return 0, fmt.Errorf("unknown comparison %q (want eq, ne, lt, le, gt, ge, masked-eq or masked-ne)", s)
}

// MarshalText returns String.
func (o Op) MarshalText() ([]byte, error) {
	if o < OpEq || o > OpMaskedNe {
		return nil, fmt.Errorf("invalid comparison %d", uint8(o))
	}
	return []byte(o.String()), nil
}

// UnmarshalText sets o from its String.
func (o *Op) UnmarshalText(b []byte) error {
	v, err := ParseOp(string(b))
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// maxArgs is the number of syscall arguments seccomp sees.
const maxArgs = 6

// Cond is a condition on one syscall argument. Build it with Eq, Ne, Lt,
// Le, Gt, Ge, MaskedEq or MaskedNe.
type Cond struct {
	// Arg is the argument's index, 0 to 5.
	Arg int `json:"arg"`
	// Op is the comparison.
	Op Op `json:"op"`
	// Value is what the argument (masked, for the masked ops) is
	// compared with.
	Value uint64 `json:"value"`
	// Mask is ANDed with the argument before a masked comparison; 0 for
	// the other ops. Mask 0xffffffff compares only the low 32 bits, for
	// an argument the kernel reads as a 32-bit int (ioctl's request).
	Mask uint64 `json:"mask,omitempty"`
}

// Eq is the condition args[arg] == v.
func Eq(arg int, v uint64) Cond { return Cond{Arg: arg, Op: OpEq, Value: v} }

// Ne is the condition args[arg] != v.
func Ne(arg int, v uint64) Cond { return Cond{Arg: arg, Op: OpNe, Value: v} }

// Lt is the condition args[arg] < v (unsigned).
func Lt(arg int, v uint64) Cond { return Cond{Arg: arg, Op: OpLt, Value: v} }

// Le is the condition args[arg] <= v (unsigned).
func Le(arg int, v uint64) Cond { return Cond{Arg: arg, Op: OpLe, Value: v} }

// Gt is the condition args[arg] > v (unsigned).
func Gt(arg int, v uint64) Cond { return Cond{Arg: arg, Op: OpGt, Value: v} }

// Ge is the condition args[arg] >= v (unsigned).
func Ge(arg int, v uint64) Cond { return Cond{Arg: arg, Op: OpGe, Value: v} }

// MaskedEq is the condition args[arg] & mask == v.
func MaskedEq(arg int, mask, v uint64) Cond {
	return Cond{Arg: arg, Op: OpMaskedEq, Value: v, Mask: mask}
}

// MaskedNe is the condition args[arg] & mask != v: with v 0, "any bit of
// mask is set".
func MaskedNe(arg int, mask, v uint64) Cond {
	return Cond{Arg: arg, Op: OpMaskedNe, Value: v, Mask: mask}
}

// Validate returns an error if c is out of range or cannot be decided by
// its argument: an index outside 0 to 5, an unknown op, a mask on an op
// without one, a zero mask, or a value with bits outside the mask.
func (c Cond) Validate() error {
	if c.Arg < 0 || c.Arg >= maxArgs {
		return fmt.Errorf("%s: argument index must be 0 to %d", c, maxArgs-1)
	}
	switch c.Op {
	case OpEq, OpNe, OpLt, OpLe, OpGt, OpGe:
		if c.Mask != 0 {
			return fmt.Errorf("%s: a mask is only for masked-eq and masked-ne", c)
		}
	case OpMaskedEq, OpMaskedNe:
		if c.Mask == 0 {
			return fmt.Errorf("%s: the mask is 0, so the argument is not compared", c)
		}
		if c.Value&^c.Mask != 0 {
			return fmt.Errorf("%s: value %#x has bits outside mask %#x", c, c.Value, c.Mask)
		}
	default:
		return fmt.Errorf("%s: unknown comparison", c)
	}
	return nil
}

// holds reports whether c holds for the argument values args.
func (c Cond) holds(args [maxArgs]uint64) bool {
	a := args[c.Arg]
	switch c.Op {
	case OpEq:
		return a == c.Value
	case OpNe:
		return a != c.Value
	case OpLt:
		return a < c.Value
	case OpLe:
		return a <= c.Value
	case OpGt:
		return a > c.Value
	case OpGe:
		return a >= c.Value
	case OpMaskedEq:
		return a&c.Mask == c.Value
	case OpMaskedNe:
		return a&c.Mask != c.Value
	}
	return false
}

// String prints c with numbers in hex: "arg1 & 0xffffffff == 0x5412".
func (c Cond) String() string { return c.format("") }

// format prints c, naming the constants of the syscall's argument where
// it knows them: "arg1 & 0xffffffff == TIOCSTI".
func (c Cond) format(syscall string) string {
	val := func(v uint64) string { return argValue(syscall, c.Arg, v) }
	switch c.Op {
	case OpEq, OpNe, OpLt, OpLe, OpGt, OpGe:
	case OpMaskedEq, OpMaskedNe:
		mask := fmt.Sprintf("%#x", c.Mask)
		if c.Value == 0 {
			mask = val(c.Mask) // the flags tested
		}
		return fmt.Sprintf("arg%d & %s %s %s", c.Arg, mask, c.Op.symbol(), val(c.Value))
	}
	return fmt.Sprintf("arg%d %s %s", c.Arg, c.Op.symbol(), val(c.Value))
}

// Rule applies Action to the syscalls Names when all of Args hold.
type Rule struct {
	// Names are x86_64 syscall names, as in LookupSyscall.
	Names []string `json:"names"`
	// Action is what the filter does with a matching syscall.
	Action Action `json:"action"`
	// Args are conditions on the arguments, all of which must hold (and
	// the rule matches every call when there are none).
	Args []Cond `json:"args,omitempty"`
}

// Validate returns an error if r has no names, an unknown syscall name
// (an *UnknownSyscallError, one for each such name), an invalid action,
// or an invalid condition.
func (r Rule) Validate() error {
	var errs []error
	if len(r.Names) == 0 {
		errs = append(errs, errors.New("rule names no syscall"))
	}
	for _, n := range r.Names {
		if _, ok := LookupSyscall(n); !ok {
			errs = append(errs, &UnknownSyscallError{Name: n, Suggestion: closest(n)})
		}
	}
	if err := r.Action.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, c := range r.Args {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// String prints r as "ioctl(arg1 & 0xffffffff == TIOCSTI) -> EPERM", or
// "read, write -> allow" for a rule without conditions. Constants are
// named when all of r's syscalls take the same kind of argument.
func (r Rule) String() string {
	ctx := ""
	if len(r.Names) > 0 {
		ctx = r.Names[0]
		for _, n := range r.Names[1:] {
			if argKind(n) != argKind(ctx) {
				ctx = ""
				break
			}
		}
	}
	return formatRule(strings.Join(r.Names, ", "), ctx, r.Args, r.Action)
}

// formatRule prints a rule on the syscalls names, whose arguments are
// named as those of syscall.
func formatRule(names, syscall string, args []Cond, a Action) string {
	var b strings.Builder
	b.WriteString(names)
	if len(args) > 0 {
		b.WriteByte('(')
		for i, c := range args {
			if i > 0 {
				b.WriteString(" && ")
			}
			b.WriteString(c.format(syscall))
		}
		b.WriteByte(')')
	}
	b.WriteString(" -> ")
	b.WriteString(a.String())
	return b.String()
}

// UnknownSyscallError is the error for a syscall name that x86_64 does
// not have.
type UnknownSyscallError struct {
	// Name is the unknown name.
	Name string
	// Suggestion is the closest known name, or "" when none is close.
	Suggestion string
}

// Error names the syscall and, when there is one, the suggestion.
func (e *UnknownSyscallError) Error() string {
	if e.Suggestion != "" {
		return fmt.Sprintf("unknown syscall %q (did you mean %q?)", e.Name, e.Suggestion)
	}
	return fmt.Sprintf("unknown syscall %q on x86_64", e.Name)
}
