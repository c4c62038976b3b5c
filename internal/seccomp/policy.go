package seccomp

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// The architecture checks every filter makes before its rules.
const (
	// auditArch is the only architecture a filter lets through: x86_64.
	auditArch = unix.AUDIT_ARCH_X86_64
	// foreignArch is the action for any other architecture, which on an
	// x86_64 kernel means i386 syscalls (int 0x80, AUDIT_ARCH_I386):
	// their numbers differ, so the rules would not apply to them.
	foreignArch = Kill
	// x32Bit marks the numbers of x32 syscalls (__X32_SYSCALL_BIT),
	// which share AUDIT_ARCH_X86_64.
	x32Bit = 0x40000000
	// x32Action is the action for a number from x32Bit up: what a kernel
	// without x32 support answers. It is ENOSYS rather than kill because
	// the number -1 (a syscall a tracer skipped) is in that range too.
	x32Action = Action(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
)

// Policy is a seccomp policy for x86_64: rules on syscalls, the action
// for every syscall no rule matches, and options. Build one with Default
// (or as a literal) and Add; Compile turns it into a BPF program.
//
// The compiled filter decides a syscall by the first of these that
// matches:
//
//  1. An architecture other than x86_64 (i386 by int 0x80): kill.
//  2. An x32 syscall (a number from __X32_SYSCALL_BIT up): ENOSYS.
//  3. Unless AllowNestedNamespaces: clone or unshare with a CLONE_NEW*
//     flag and setns fail with EPERM, clone3 with ENOSYS (its flags are
//     behind a pointer that seccomp cannot read). With LandlockTCP:
//     socket(AF_INET or AF_INET6) fails with EPROTONOSUPPORT unless it
//     makes a TCP socket (SOCK_STREAM, protocol 0 or IPPROTO_TCP) or a
//     datagram socket. No rule overrides this.
//  4. The Rules, the last added first: a profile's additions take
//     precedence over the defaults they follow.
//  5. With AllowNestedNamespaces: clone, unshare, setns and the mount
//     syscalls are allowed (the kernel still checks the capabilities the
//     command has in the namespaces it made).
//  6. DefaultAction.
type Policy struct {
	// DefaultAction is the action for a syscall no rule matches.
	DefaultAction Action `json:"defaultAction"`
	// Rules are checked the last first.
	Rules []Rule `json:"rules,omitempty"`
	// AllowNestedNamespaces lets the command make namespaces (and so
	// run a sandbox of its own, such as bwrap); see Policy.
	AllowNestedNamespaces bool `json:"allowNestedNamespaces,omitempty"`
	// LandlockTCP says that landlock restricts the command's TCP ports.
	// Landlock mediates bind and connect of TCP sockets only: an MPTCP
	// socket (which falls back to plain TCP on the wire), SCTP, DCCP or a
	// raw socket would reach any port. The filter refuses those; see
	// Policy, step 3.
	LandlockTCP bool `json:"landlockTCP,omitempty"`
}

// LandlockTCPNote is how the plan explains the rules of LandlockTCP.
const LandlockTCPNote = "socket(AF_INET, AF_INET6) -> EPROTONOSUPPORT unless TCP or a datagram socket (landlock's TCP port rules mediate only TCP; MPTCP, SCTP, DCCP and raw sockets would bypass them)"

// Add appends the rule r, after checking it: a syscall name that x86_64
// does not have is an *UnknownSyscallError that names it and the closest
// known name, never ignored. r takes precedence over the rules added
// before it.
func (p *Policy) Add(r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	p.Rules = append(p.Rules, Rule{
		Names:  slices.Clone(r.Names),
		Action: r.Action,
		Args:   slices.Clone(r.Args),
	})
	return nil
}

// Validate checks the default action and every rule.
func (p *Policy) Validate() error {
	var errs []error
	if err := p.DefaultAction.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("default action: %w", err))
	}
	for i, r := range p.Rules {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("rule %d (%s): %w", i+1, r, err))
		}
	}
	return errors.Join(errs...)
}

// origin tells where a link of a chain comes from.
type origin int

const (
	fromRule   origin = iota // Policy.Rules
	fromGuard                // the nested-namespace guard (step 3)
	fromNested               // AllowNestedNamespaces (step 5)
)

// guards are the rules of step 3 of the filter.
func (p *Policy) guards() []Rule {
	var rs []Rule
	if !p.AllowNestedNamespaces {
		rs = append(rs,
			Rule{Names: []string{"clone"}, Action: Errno(unix.EPERM), Args: []Cond{MaskedNe(0, cloneNamespaces, 0)}},
			Rule{Names: []string{"unshare"}, Action: Errno(unix.EPERM), Args: []Cond{MaskedNe(0, unshareNamespaces, 0)}},
			Rule{Names: []string{"setns"}, Action: Errno(unix.EPERM)},
			Rule{Names: []string{"clone3"}, Action: Errno(unix.ENOSYS)})
	}
	if p.LandlockTCP {
		// The kernel reads socket's arguments as ints: only the low 32
		// bits count, so only they are compared (a deny on all 64 would
		// miss AF_INET|1<<32). The type's low 4 bits are the type, the
		// rest SOCK_NONBLOCK and SOCK_CLOEXEC.
		const low32, typeMask = 0xffffffff, 0xf
		refuse := Errno(unix.EPROTONOSUPPORT)
		for _, fam := range []uint64{unix.AF_INET, unix.AF_INET6} {
			rs = append(rs,
				Rule{Names: []string{"socket"}, Action: refuse, Args: []Cond{
					MaskedEq(0, low32, fam), MaskedEq(1, typeMask, unix.SOCK_STREAM),
					MaskedNe(2, low32, 0), MaskedNe(2, low32, unix.IPPROTO_TCP)}},
				Rule{Names: []string{"socket"}, Action: refuse, Args: []Cond{
					MaskedEq(0, low32, fam), MaskedNe(1, typeMask, unix.SOCK_STREAM), MaskedNe(1, typeMask, unix.SOCK_DGRAM)}})
		}
	}
	return rs
}

// nestedSyscalls are allowed by step 5 of the filter.
var nestedSyscalls = []string{
	"clone", "unshare", "setns",
	"mount", "umount2", "pivot_root", "mount_setattr", "move_mount", "open_tree",
	"fsopen", "fsconfig", "fsmount", "fspick",
}

// link is one rule as it applies to one syscall.
type link struct {
	args   []Cond
	action Action
	origin origin
}

// chain is what the filter checks for one syscall, in order; when no
// link matches, the default action applies.
type chain struct {
	nr    int
	name  string
	links []link
}

// final returns the action of the chain when no condition holds: that of
// its unconditional last link, or the default action.
func (c *chain) final(def Action) Action {
	if n := len(c.links); n > 0 && len(c.links[n-1].args) == 0 {
		return c.links[n-1].action
	}
	return def
}

// chains returns the policy as the filter checks it, by syscall number.
// Links after an unconditional one are dropped, since nothing reaches
// them. p must be valid.
func (p *Policy) chains() []chain {
	byNr := make([]chain, maxSyscall+1)
	n := 0
	add := func(r Rule, o origin) {
		for _, name := range r.Names {
			nr, _ := LookupSyscall(name)
			c := &byNr[nr]
			if c.name == "" {
				*c = chain{nr: nr, name: name}
				n++
			}
			if n := len(c.links); n > 0 && len(c.links[n-1].args) == 0 {
				continue // unreachable
			}
			c.links = append(c.links, link{args: r.Args, action: r.Action, origin: o})
		}
	}
	for _, r := range p.guards() {
		add(r, fromGuard)
	}
	for i := len(p.Rules) - 1; i >= 0; i-- {
		add(p.Rules[i], fromRule)
	}
	if p.AllowNestedNamespaces {
		add(Rule{Names: nestedSyscalls, Action: Allow}, fromNested)
	}
	out := make([]chain, 0, n)
	for _, c := range byNr {
		if c.name != "" {
			out = append(out, c)
		}
	}
	return out
}

// String prints the whole policy, one rule per line, in the order the
// filter checks them: the architecture checks, then each syscall's rules
// (syscalls by name; the nested-namespace rules of Policy included), then
// the default action. A rule that an unconditional rule checked before it
// hides is left out, as the filter leaves it out. An invalid policy
// prints as the error Validate returns.
func (p *Policy) String() string {
	if err := p.Validate(); err != nil {
		return "invalid seccomp policy: " + err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "arch != x86_64 -> %s\n", foreignArch)
	fmt.Fprintf(&b, "nr >= %#x (x32) -> %s\n", x32Bit, x32Action)
	chains := p.chains()
	slices.SortFunc(chains, func(a, b chain) int { return strings.Compare(a.name, b.name) })
	for _, c := range chains {
		for _, l := range c.links {
			b.WriteString(formatRule(c.name, c.name, l.args, l.action))
			b.WriteByte('\n')
		}
	}
	fmt.Fprintf(&b, "default -> %s", p.DefaultAction)
	return b.String()
}

// notable are syscalls that Summary names when the policy denies them.
var notable = []string{
	"add_key", "bpf", "delete_module", "finit_module", "init_module", "io_uring_setup",
	"kexec_file_load", "kexec_load", "keyctl", "mount", "open_by_handle_at",
	"perf_event_open", "pivot_root", "process_vm_readv", "process_vm_writev", "ptrace",
	"reboot", "request_key", "setns", "umount2", "unshare", "userfaultfd",
}

// Summary describes the policy in a few lines for cell plan: the default
// action, the architecture checks, how many syscalls are allowed, each
// rule with conditions or an action of its own, and the notable syscalls
// denied. An invalid policy is one line, the error.
func (p *Policy) Summary() []string {
	if err := p.Validate(); err != nil {
		return []string{"invalid seccomp policy: " + err.Error()}
	}
	def := p.DefaultAction
	lines := []string{
		"default action: " + def.String(),
		fmt.Sprintf("architecture: x86_64 only; i386 (int 0x80) -> %s; x32 syscalls -> %s", foreignArch, x32Action),
	}
	chains := p.chains()
	slices.SortFunc(chains, func(a, b chain) int { return strings.Compare(a.name, b.name) })
	byName := map[string]*chain{}
	guarded := map[string][]string{}
	allowed := 0
	var someArgs, special []string
	for i := range chains {
		c := &chains[i]
		byName[c.name] = c
		final := c.final(def)
		switch {
		case final == Allow:
			allowed++
		case slices.ContainsFunc(c.links, func(l link) bool { return l.action == Allow }):
			someArgs = append(someArgs, c.name)
		}
		g, other := summarizeChain(c, def)
		guarded[c.name] = g
		special = append(special, other...)
	}
	line := fmt.Sprintf("allowed: %d syscalls", allowed)
	if len(someArgs) > 0 {
		line += fmt.Sprintf(", %d more for some arguments only (%s)", len(someArgs), strings.Join(someArgs, ", "))
	}
	lines = append(lines, line)
	if p.AllowNestedNamespaces {
		lines = append(lines, "nested namespaces: allowed (clone, unshare, setns and the mount syscalls, unless a rule denies them)")
	}
	var guardNames []string
	for _, r := range p.guards() {
		if !slices.Contains(guardNames, r.Names[0]) {
			guardNames = append(guardNames, r.Names[0])
			lines = append(lines, guarded[r.Names[0]]...)
		}
	}
	lines = append(lines, special...)
	var denied []string
	for _, name := range notable {
		c := byName[name]
		if c == nil || (c.final(def) != Allow && !slices.ContainsFunc(c.links, func(l link) bool { return l.action == Allow }) &&
			len(guarded[name]) == 0) {
			denied = append(denied, name)
		}
	}
	if len(denied) > 0 {
		lines = append(lines, fmt.Sprintf("not allowed, among others: %s", strings.Join(denied, ", ")))
	}
	return lines
}

// summarizeChain returns the lines Summary prints for one syscall, those
// of the nested-namespace guard apart: one for each link with conditions
// or with an action that is neither allow nor the default, with
// consecutive allowing links joined.
func summarizeChain(c *chain, def Action) (guard, other []string) {
	var allows []string
	flush := func() {
		if len(allows) > 0 {
			slices.Reverse(allows) // in the order they were added
			other = append(other, fmt.Sprintf("%s(arg in %s) -> allow, else %s", c.name, strings.Join(allows, ", "), c.final(def)))
			allows = nil
		}
	}
	for i, l := range c.links {
		if l.origin == fromGuard {
			note := " (nested namespaces off)"
			switch c.name {
			case "clone3":
				note = " (its flags cannot be inspected)"
			case "socket":
				note = " (landlock's TCP rules do not mediate it)"
			}
			short := ""
			if len(l.args) > 0 {
				short, _ = shortConds(c.name, l.args)
				short = "(" + short + ")"
			}
			guard = append(guard, fmt.Sprintf("%s%s -> %s%s", c.name, short, l.action, note))
			continue
		}
		if len(l.args) == 0 {
			last := i == len(c.links)-1
			// The last link's action is the "else" of pending allows.
			if l.action == Allow || (l.action == def && last) || (last && len(allows) > 0) {
				continue
			}
			flush()
			other = append(other, fmt.Sprintf("%s -> %s", c.name, l.action))
			continue
		}
		short, low32 := shortConds(c.name, l.args)
		if l.action == Allow {
			allows = append(allows, short)
			continue
		}
		flush()
		note := ""
		if low32 {
			note = " (low 32 bits compared)"
		}
		other = append(other, fmt.Sprintf("%s(%s) -> %s%s", c.name, short, l.action, note))
	}
	flush()
	return guard, other
}

// shortConds prints conditions for Summary: a compared value alone
// ("TIOCSTI", "CLONE_NEW*"), a range as "lo..hi"; and reports whether
// every comparison masks the argument to its low 32 bits.
func shortConds(syscall string, args []Cond) (string, bool) {
	if len(args) == 2 && args[0].Arg == args[1].Arg && args[0].Op == OpGe && args[1].Op == OpLe {
		a := args[0].Arg
		return argValue(syscall, a, args[0].Value) + ".." + argValue(syscall, a, args[1].Value), false
	}
	low32 := true
	parts := make([]string, len(args))
	for i, c := range args {
		low32 = low32 && (c.Op == OpMaskedEq || c.Op == OpMaskedNe) && c.Mask == 0xffffffff
		switch {
		case c.Op == OpEq || (c.Op == OpMaskedEq && c.Mask == 0xffffffff):
			parts[i] = argValue(syscall, c.Arg, c.Value)
		case c.Op == OpMaskedNe && c.Mask == 0xffffffff:
			parts[i] = fmt.Sprintf("arg%d != %s", c.Arg, argValue(syscall, c.Arg, c.Value))
		case c.Op == OpMaskedNe && c.Value == 0 && argKind(syscall) == kindCloneFlags &&
			(c.Mask == cloneNamespaces || c.Mask == unshareNamespaces):
			parts[i] = "CLONE_NEW*"
		case c.Op == OpMaskedNe && c.Value == 0:
			parts[i] = "any of " + argValue(syscall, c.Arg, c.Mask)
		default:
			parts[i] = c.format(syscall)
		}
	}
	return strings.Join(parts, " && "), low32
}
