package rlimit

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/syserr"
)

// Resource is a kernel resource that a limit applies to. The zero value is
// invalid; [Parse] makes valid ones.
type Resource uint8

// The resources, in the order of [Names]; each is the RLIMIT_ resource of
// the same name.
const (
	invalid Resource = iota
	NoFile
	NProc
	Core
	AS
	CPU
	FSize
	Data
	Stack
	MemLock
	MsgQueue
	Nice
	RTPrio
	RTTime
	SigPending
	Locks
	resourceCount
)

// unit is what a resource's values count.
type unit uint8

const (
	count unit = iota
	bytes
	seconds
	microseconds
	priority
)

var resources = [...]struct {
	name   string
	macro  string
	number int
	unit   unit
}{
	invalid:    {"", "", -1, count},
	NoFile:     {"nofile", "RLIMIT_NOFILE", unix.RLIMIT_NOFILE, count},
	NProc:      {"nproc", "RLIMIT_NPROC", unix.RLIMIT_NPROC, count},
	Core:       {"core", "RLIMIT_CORE", unix.RLIMIT_CORE, bytes},
	AS:         {"as", "RLIMIT_AS", unix.RLIMIT_AS, bytes},
	CPU:        {"cpu", "RLIMIT_CPU", unix.RLIMIT_CPU, seconds},
	FSize:      {"fsize", "RLIMIT_FSIZE", unix.RLIMIT_FSIZE, bytes},
	Data:       {"data", "RLIMIT_DATA", unix.RLIMIT_DATA, bytes},
	Stack:      {"stack", "RLIMIT_STACK", unix.RLIMIT_STACK, bytes},
	MemLock:    {"memlock", "RLIMIT_MEMLOCK", unix.RLIMIT_MEMLOCK, bytes},
	MsgQueue:   {"msgqueue", "RLIMIT_MSGQUEUE", unix.RLIMIT_MSGQUEUE, bytes},
	Nice:       {"nice", "RLIMIT_NICE", unix.RLIMIT_NICE, priority},
	RTPrio:     {"rtprio", "RLIMIT_RTPRIO", unix.RLIMIT_RTPRIO, priority},
	RTTime:     {"rttime", "RLIMIT_RTTIME", unix.RLIMIT_RTTIME, microseconds},
	SigPending: {"sigpending", "RLIMIT_SIGPENDING", unix.RLIMIT_SIGPENDING, count},
	Locks:      {"locks", "RLIMIT_LOCKS", unix.RLIMIT_LOCKS, count},
}

// Unlimited is RLIM_INFINITY: no limit.
const Unlimited = unix.RLIM_INFINITY

// Names lists the resource names that [Parse] accepts, in order.
func Names() []string {
	n := make([]string, 0, resourceCount-1)
	for r := NoFile; r < resourceCount; r++ {
		n = append(n, resources[r].name)
	}
	return n
}

// Parse returns the resource of a name ("nofile", "as", ...). The error for
// an unknown name lists the valid ones.
func Parse(name string) (Resource, error) {
	for r := NoFile; r < resourceCount; r++ {
		if resources[r].name == name {
			return r, nil
		}
	}
	return invalid, fmt.Errorf("unknown resource limit %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// String returns the resource's name as a profile writes it: "nofile".
func (r Resource) String() string {
	if r.Valid() {
		return resources[r].name
	}
	return "Resource(" + strconv.Itoa(int(r)) + ")"
}

// Valid reports whether r is one of the resources.
func (r Resource) Valid() bool { return r > invalid && r < resourceCount }

// Macro returns the kernel's name of the resource: "RLIMIT_NOFILE".
func (r Resource) Macro() string {
	if r.Valid() {
		return resources[r].macro
	}
	return r.String()
}

// Number returns the resource's RLIMIT_* number, or -1 if r is invalid.
func (r Resource) Number() int {
	if r.Valid() {
		return resources[r].number
	}
	return -1
}

// Unit says what the resource's values count: "bytes", "seconds",
// "microseconds", "priority" (nice: a ceiling of 20 - value; rtprio) or
// "count" (descriptors, processes, signals, locks).
func (r Resource) Unit() string {
	if !r.Valid() {
		return "?"
	}
	switch resources[r].unit {
	case count:
		return "count"
	case bytes:
		return "bytes"
	case seconds:
		return "seconds"
	case microseconds:
		return "microseconds"
	case priority:
		return "priority"
	}
	return "?"
}

// MarshalText prints the resource's name.
func (r Resource) MarshalText() ([]byte, error) {
	if !r.Valid() {
		return nil, fmt.Errorf("invalid resource %d", uint8(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText parses a resource's name as [Parse] does.
func (r *Resource) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err == nil {
		*r = p
	}
	return err
}

// binarySuffixes are the size suffixes a byte-valued resource accepts, as
// sizes elsewhere in a profile ("16Mi").
var binarySuffixes = [...]struct {
	suffix string
	shift  uint
}{{"Ki", 10}, {"Mi", 20}, {"Gi", 30}, {"Ti", 40}}

// ParseValue parses one limit value for r: "unlimited", or a decimal
// number, which for a resource counted in bytes may end in Ki, Mi, Gi or
// Ti.
func (r Resource) ParseValue(s string) (uint64, error) {
	if s == "unlimited" || s == "infinity" {
		return Unlimited, nil
	}
	num, shift := s, uint(0)
	for _, b := range binarySuffixes {
		if n, ok := strings.CutSuffix(s, b.suffix); ok {
			if !r.Valid() || resources[r].unit != bytes {
				return 0, fmt.Errorf("%s: %q: a size suffix only fits a limit in bytes; %s counts %s", r, s, r, r.Unit())
			}
			num, shift = n, b.shift
			break
		}
	}
	v, err := strconv.ParseUint(num, 10, 64)
	if err != nil || num == "" || num[0] == '+' {
		return 0, fmt.Errorf("%s: %q is not a number or \"unlimited\"", r, s)
	}
	if shift > 0 && v > Unlimited>>shift {
		return 0, fmt.Errorf("%s: %q is too large", r, s)
	}
	return v << shift, nil
}

// Limit is a soft and a hard limit on a resource. The kernel enforces the
// soft limit; a process may raise its soft limit up to the hard one (Go
// programs do so for nofile at start-up) but cannot raise the hard limit
// without CAP_SYS_RESOURCE, so a limit meant to hold sets both.
type Limit struct {
	Resource Resource `json:"resource"`
	Soft     uint64   `json:"soft"`
	Hard     uint64   `json:"hard"`
}

// ParseLimit parses "name=value" (soft and hard alike) or
// "name=soft:hard", each value as [Resource.ParseValue] reads it:
// "nofile=1024:4096", "core=0", "as=4Gi", "cpu=unlimited".
func ParseLimit(s string) (Limit, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return Limit{}, fmt.Errorf("resource limit %q: want name=value or name=soft:hard", s)
	}
	r, err := Parse(name)
	if err != nil {
		return Limit{}, err
	}
	softS, hardS, pair := strings.Cut(val, ":")
	soft, err := r.ParseValue(softS)
	if err != nil {
		return Limit{}, err
	}
	hard := soft
	if pair {
		if hard, err = r.ParseValue(hardS); err != nil {
			return Limit{}, err
		}
	}
	l := Limit{Resource: r, Soft: soft, Hard: hard}
	return l, l.Check()
}

// Check reports an invalid resource or a soft limit above the hard one.
func (l Limit) Check() error {
	if !l.Resource.Valid() {
		return fmt.Errorf("invalid resource %d", uint8(l.Resource))
	}
	if l.Soft > l.Hard {
		return fmt.Errorf("%s: soft limit %s is above the hard limit %s", l.Resource, FormatValue(l.Soft), FormatValue(l.Hard))
	}
	return nil
}

// String prints the limit as [ParseLimit] reads it: "nofile=1024:4096",
// "core=0".
func (l Limit) String() string {
	if l.Soft == l.Hard {
		return l.Resource.String() + "=" + FormatValue(l.Soft)
	}
	return l.Resource.String() + "=" + FormatValue(l.Soft) + ":" + FormatValue(l.Hard)
}

// Call prints the system call that applies the limit:
// "prlimit(0, RLIMIT_NOFILE, {1024, 4096})".
func (l Limit) Call() string {
	return fmt.Sprintf("prlimit(0, %s, {%s, %s})", l.Resource.Macro(), FormatValue(l.Soft), FormatValue(l.Hard))
}

// FormatValue prints a limit's value: a number, or "unlimited" for
// [Unlimited].
func FormatValue(v uint64) string {
	if v == Unlimited {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// Error is a failed system call of this package, naming the call, the
// object it acted on and the errno by name.
type Error = syserr.Error
