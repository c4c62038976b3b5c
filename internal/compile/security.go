package compile

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/landlock"
	"github.com/cellsandbox/cell/internal/rlimit"
	"github.com/cellsandbox/cell/internal/seccomp"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/spec"
)

// errnoByName finds an errno from its name ("EPERM").
func errnoByName(name string) (unix.Errno, bool) {
	for e := unix.Errno(1); e < 4096; e++ {
		if unix.ErrnoName(e) == name {
			return e, true
		}
	}
	return 0, false
}

// seccompOps maps the profile's comparison names to the filter's.
var seccompOps = map[string]seccomp.Op{
	"eq": seccomp.OpEq, "ne": seccomp.OpNe, "lt": seccomp.OpLt, "le": seccomp.OpLe,
	"gt": seccomp.OpGt, "ge": seccomp.OpGe, "maskedEq": seccomp.OpMaskedEq,
}

// seccompPolicy builds the profile's filter, or nil when it is unconfined.
// Every syscall name is checked against the table of this architecture:
// an unknown name is an error at its position, never ignored. When the
// landlock rules restrict TCP ports, the filter refuses the sockets that
// landlock does not mediate, and a profile without a filter is refused:
// nothing else could keep MPTCP or SCTP from any port.
func (c *compiler) seccompPolicy(ll *landlock.Rules) (*seccomp.Policy, []unix.SockFilter, error) {
	sc := &c.p.Security.Seccomp
	setID := c.setIDExposure()
	if sc.Mode == spec.SeccompUnconfined {
		if ll.RestrictsTCP() {
			return nil, nil, c.errorf("security.seccomp.mode", "unconfined with landlock TCP port rules (security.landlock.connectTcp, bindTcp): landlock mediates only TCP, and without the filter MPTCP and SCTP sockets reach any port; use mode default or remove the port rules")
		}
		if setID != "" {
			return nil, nil, c.errorf("security.seccomp.mode", "unconfined leaves no filter to refuse set-user-ID and set-group-ID bits, and what the command makes in %s belongs on the host to %s: another user could run such a file as that ID; keep the seccomp filter, or make the bind read-only", setID, c.hostOwner())
		}
		return nil, nil, nil
	}
	pol := seccomp.Default()
	var errs []error
	if sc.Mode == spec.SeccompRules {
		a, err := ruleAction(sc.DefaultAction, sc.DefaultErrno)
		if err != nil {
			return nil, nil, c.errorf("security.seccomp.defaultAction", "%s", err)
		}
		pol = &seccomp.Policy{DefaultAction: a}
	}
	pol.AllowNestedNamespaces = sc.AllowNestedNamespaces
	pol.LandlockTCP = ll.RestrictsTCP()
	for i, r := range sc.Rules {
		at := fmt.Sprintf("security.seccomp.rules[%d]", i)
		rule := seccomp.Rule{Names: r.Syscalls}
		if sc.Mode == spec.SeccompRules {
			// An OCI filter lists the names of every architecture; one
			// that x86_64 lacks cannot be called, so a rule about it
			// changes nothing, unless it would deny a call the default
			// allows (cell's table may lack a newer call).
			var known []string
			for _, name := range r.Syscalls {
				if _, ok := seccomp.LookupSyscall(name); ok || r.Action != "allow" && pol.DefaultAction == seccomp.Allow {
					known = append(known, name)
				}
			}
			if len(known) == 0 {
				continue
			}
			rule.Names = known
		}
		for j, name := range rule.Names {
			if _, ok := seccomp.LookupSyscall(name); !ok {
				err := error(&seccomp.UnknownSyscallError{Name: name})
				if aerr := pol.Add(seccomp.Rule{Names: []string{name}, Action: seccomp.Allow}); aerr != nil {
					err = aerr // carries the closest name
				}
				errs = append(errs, c.errorf(fmt.Sprintf("%s.syscalls[%d]", at, j), "%s", err))
			}
		}
		a, err := ruleAction(r.Action, r.Errno)
		if err != nil {
			at := at + ".action"
			if r.Action == "errno" {
				at = fmt.Sprintf("security.seccomp.rules[%d].errno", i)
			}
			errs = append(errs, c.errorf(at, "%s", err))
			continue
		}
		rule.Action = a
		for k, a := range r.Args {
			op := seccompOps[a.Op]
			if op == seccomp.OpMaskedEq {
				rule.Args = append(rule.Args, seccomp.MaskedEq(int(a.Index), a.Mask, a.Value))
			} else {
				rule.Args = append(rule.Args, seccomp.Cond{Arg: int(a.Index), Op: op, Value: a.Value})
			}
			if op == 0 {
				errs = append(errs, c.errorf(fmt.Sprintf("%s.args[%d].op", at, k), "unknown comparison %q", a.Op))
			}
		}
		if len(errs) == 0 {
			if err := pol.Add(rule); err != nil {
				errs = append(errs, c.errorf(at, "%s", err))
			}
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	if setID != "" {
		if err := addSetIDGuard(pol); err != nil {
			return nil, nil, c.errorf("security.seccomp", "%s", err)
		}
	}
	prog, err := pol.Compile()
	if err != nil {
		return nil, nil, c.errorf("security.seccomp", "%s", err)
	}
	return pol, prog, nil
}

// landlockRules checks the profile's landlock rules against the kernel:
// in require mode a rule the kernel cannot enforce is an error; in
// best-effort mode the plan says what is enforced.
func (c *compiler) landlockRules() (*landlock.Rules, error) {
	l := &c.p.Security.Landlock
	if l.Mode == spec.LandlockOff {
		return nil, nil
	}
	r := &landlock.Rules{
		ReadOnly: l.ReadOnly, ReadWrite: l.ReadWrite, ReadExec: l.ReadExec,
		BindTCP: l.BindTCP, ConnectTCP: l.ConnectTCP, Mode: landlock.Require,
	}
	for i, sc := range l.Scope {
		switch sc {
		case spec.ScopeAbstractUnix:
			r.Scope = append(r.Scope, landlock.AbstractUnixSocket)
		case spec.ScopeSignal:
			r.Scope = append(r.Scope, landlock.Signal)
		default:
			return nil, c.errorf(fmt.Sprintf("security.landlock.scope[%d]", i), "unknown scope %s", sc)
		}
	}
	if l.Mode == spec.LandlockBestEffort {
		r.Mode = landlock.BestEffort
	}
	if r.Empty() {
		return nil, c.errorf("security.landlock", "mode %s with no rule would restrict nothing; list paths, ports or scopes, or set mode: off", l.Mode)
	}
	if err := r.Check(c.host.LandlockABI); err != nil {
		at := "security.landlock.mode"
		if unscoped := *r; len(r.Scope) > 0 {
			// When only the scopes are beyond this kernel, point at them.
			unscoped.Scope = nil
			if unscoped.Check(c.host.LandlockABI) == nil {
				at = "security.landlock.scope"
			}
		}
		return nil, c.errorf(at, "%s; set mode: bestEffort to run with what the kernel has", err)
	}
	return r, nil
}

// rlimits returns the profile's rlimits in a fixed order.
func (c *compiler) rlimits() ([]rlimit.Limit, error) {
	names := make([]string, 0, len(c.p.Security.Rlimits))
	for n := range c.p.Security.Rlimits {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []rlimit.Limit
	for _, n := range names {
		res, err := rlimit.Parse(n)
		if err != nil {
			return nil, c.errorf("security.rlimits."+n, "%s", err)
		}
		v := c.p.Security.Rlimits[n]
		lim := rlimit.Limit{Resource: res, Soft: rlimitValue(v.Soft), Hard: rlimitValue(v.Hard)}
		if err := lim.Check(); err != nil {
			return nil, c.errorf("security.rlimits."+n, "%s", err)
		}
		out = append(out, lim)
	}
	return out, nil
}

func rlimitValue(v spec.RlimitValue) uint64 {
	if v.Unlimited {
		return rlimit.Unlimited
	}
	return v.Value
}

// securitySteps are the prepared parts of the security section, added to
// the plan at their places in the order of setup.
type securitySteps struct {
	rlimits  []rlimit.Limit
	landlock *landlock.Rules
	seccomp  *seccomp.Policy
	filter   []unix.SockFilter
}

// prepareSecurity checks and compiles the security section before any
// step is added, so that a refusal comes before anything is planned.
func (c *compiler) prepareSecurity() (*securitySteps, error) {
	var s securitySteps
	var err error
	if s.rlimits, err = c.rlimits(); err != nil {
		return nil, err
	}
	if s.landlock, err = c.landlockRules(); err != nil {
		return nil, err
	}
	if s.seccomp, s.filter, err = c.seccompPolicy(s.landlock); err != nil {
		return nil, err
	}
	return &s, nil
}

// landlockStep is the plan's landlock step of the rules r, compiled for
// the kernel's Landlock ABI abi: the rules in the plan's form and what
// they enforce there.
func landlockStep(r *landlock.Rules, abi int) *plan.Landlock {
	scopes := make([]string, len(r.Scope))
	for i, s := range r.Scope {
		scopes[i] = s.String()
	}
	return &plan.Landlock{
		Rules: plan.LandlockRules{
			ReadOnly: r.ReadOnly, ReadWrite: r.ReadWrite, ReadExec: r.ReadExec,
			BindTCP: r.BindTCP, ConnectTCP: r.ConnectTCP, Scope: scopes, Mode: r.Mode.String(),
		},
		ABI:       abi,
		Effective: r.Effective(abi),
	}
}

// seccompStep is the plan's seccomp step: the compiled filter, and the
// policy it was compiled from as the plan explains it.
func seccompStep(pol *seccomp.Policy, filter []unix.SockFilter) *plan.Seccomp {
	prog := make(plan.Program, len(filter))
	for i, in := range filter {
		prog[i] = plan.Instruction{Code: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	head := pol.Summary()[:1]
	if pol.LandlockTCP {
		head = append(head, seccomp.LandlockTCPNote)
	}
	return &plan.Seccomp{Filter: prog, Summary: strings.Join(head, "; "), Policy: pol.String()}
}

// ruleAction is the filter's action for a profile's action and errno.
func ruleAction(action, errno string) (seccomp.Action, error) {
	if action != "errno" {
		return seccomp.ParseAction(action)
	}
	if errno == "" {
		errno = "EPERM"
	}
	e, ok := errnoByName(errno)
	if !ok {
		return 0, fmt.Errorf("unknown errno %q", errno)
	}
	return seccomp.Errno(e), nil
}
