package spec

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/go-playground/validator/v10"
	"gopkg.in/yaml.v3"

	"github.com/cellsandbox/cell/spec/capability"
)

// Security holds the process-level defences beyond namespaces. Its zero
// value is the secure default: no capabilities, no_new_privs on, the
// default seccomp filter, no landlock, no extra rlimits.
type Security struct {
	// Capabilities are what the command keeps, in every set (a list) or
	// set by set; every other one is dropped.
	Capabilities Capabilities `yaml:"capabilities" json:"capabilities,omitempty"`
	// NoNewPrivileges can be turned off (false) only explicitly; absent
	// means on.
	NoNewPrivileges *bool `yaml:"noNewPrivileges" json:"noNewPrivileges,omitempty"`
	// Seccomp is the system call filter.
	Seccomp Seccomp `yaml:"seccomp" json:"seccomp"`
	// Landlock restricts file system access and TCP ports on top of the
	// mounts.
	Landlock Landlock `yaml:"landlock" json:"landlock"`
	// Rlimits are resource limits of the command, by name (nofile, nproc,
	// core, as, cpu, fsize, ...).
	Rlimits map[string]Rlimit `yaml:"rlimits" json:"rlimits,omitempty"`
	// OOMScoreAdj is the command's oom_score_adj, -1000 to 1000.
	OOMScoreAdj *int `yaml:"oomScoreAdj" json:"oomScoreAdj,omitempty"`
	// SetIDGuard keeps the command from leaving set-user-ID, set-group-ID
	// or file-capability programs on the host through a writable bind
	// (a seccomp guard, and refusing what would get around it). Absent
	// means on; false, only explicitly, runs the profile without it, as
	// an OCI runtime runs a bundle.
	SetIDGuard *bool `yaml:"setIDGuard" json:"setIDGuard,omitempty"`
}

// NoNewPrivs reports whether no_new_privs is set (the default).
func (s *Security) NoNewPrivs() bool { return s.NoNewPrivileges == nil || *s.NoNewPrivileges }

// GuardsSetID reports whether the set-ID guard is on (the default).
func (s *Security) GuardsSetID() bool { return s.SetIDGuard == nil || *s.SetIDGuard }

// Capabilities are the capabilities the command keeps. Written as a list
// they are kept in every set; written as a mapping, set by set:
//
//	capabilities: {bounding: [CAP_CHOWN, CAP_NET_RAW], ambient: [CAP_NET_RAW], inheritable: [CAP_NET_RAW]}
//
// After execve the kernel derives the permitted and effective sets: a
// command that is root inside gets the bounding set, any other the ambient
// set. Permitted and effective, when written, must say that.
type Capabilities struct {
	Bounding, Permitted, Effective, Inheritable, Ambient []Capability
	// Sets says the mapping form was written.
	Sets bool
}

// capSetNames are the mapping form's keys, in order.
var capSetNames = []string{"bounding", "permitted", "effective", "inheritable", "ambient"}

func (c *Capabilities) sets() []*[]Capability {
	return []*[]Capability{&c.Bounding, &c.Permitted, &c.Effective, &c.Inheritable, &c.Ambient}
}

// Kept is every capability named in any set, each once, in order.
func (c *Capabilities) Kept() []Capability {
	var out []Capability
	for _, set := range c.sets() {
		for _, name := range *set {
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// Empty reports whether no capability is kept.
func (c *Capabilities) Empty() bool { return len(c.Kept()) == 0 }

// String prints the list form when every set is the same, else the sets.
func (c Capabilities) String() string {
	if !c.Sets {
		return fmt.Sprint(c.Bounding)
	}
	var parts []string
	for i, set := range c.sets() {
		parts = append(parts, capSetNames[i]+"="+fmt.Sprint(*set))
	}
	return strings.Join(parts, " ")
}

// MarshalJSON prints the list form or the mapping.
func (c Capabilities) MarshalJSON() ([]byte, error) {
	if !c.Sets {
		return json.Marshal(c.Bounding)
	}
	m := map[string][]Capability{}
	for i, set := range c.sets() {
		m[capSetNames[i]] = *set
	}
	return json.Marshal(m)
}

// UnmarshalYAML reads the list form or the mapping.
func (c *Capabilities) UnmarshalYAML(n *yaml.Node) error {
	list := func(n *yaml.Node) ([]Capability, error) {
		if n.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("must be a list of capability names")
		}
		var out []Capability
		for _, e := range n.Content {
			var cp Capability
			if err := cp.UnmarshalYAML(e); err != nil {
				return nil, err
			}
			if !slices.Contains(out, cp) {
				out = append(out, cp)
			}
		}
		if len(out) > 64 {
			return nil, fmt.Errorf("names %d capabilities; Linux has %d", len(out), len(capability.Names()))
		}
		return out, nil
	}
	switch n.Kind {
	case yaml.SequenceNode:
		l, err := list(n)
		if err != nil {
			return err
		}
		*c = Capabilities{Bounding: l, Permitted: l, Effective: l, Inheritable: l, Ambient: l}
		return nil
	case yaml.MappingNode:
		got := Capabilities{Sets: true}
		sets := got.sets()
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			j := slices.Index(capSetNames, k)
			if j < 0 {
				return fmt.Errorf("unknown capability set %q (sets: %s)", k, strings.Join(capSetNames, ", "))
			}
			l, err := list(n.Content[i+1])
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			*sets[j] = l
		}
		for _, a := range got.Ambient {
			if !slices.Contains(got.Inheritable, a) || !slices.Contains(got.Bounding, a) {
				return fmt.Errorf("ambient %s must also be in inheritable and bounding (the kernel keeps ambient within both)", a)
			}
		}
		*c = got
		return nil
	}
	return fmt.Errorf("must be a list of capability names, or a mapping of sets (%s) to lists", strings.Join(capSetNames, ", "))
}

// Capability is a capability name such as CAP_NET_BIND_SERVICE.
type Capability string

// UnmarshalYAML accepts a known capability name, with or without the
// CAP_ prefix, in any case.
func (c *Capability) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a capability name such as CAP_NET_BIND_SERVICE")
	}
	name := strings.ToUpper(n.Value)
	if !strings.HasPrefix(name, "CAP_") {
		name = "CAP_" + name
	}
	if _, ok := CapabilityNumber(name); !ok {
		if s, ok := closest(name, capability.Names()); ok {
			return fmt.Errorf("unknown capability %q (did you mean %s?)", n.Value, s)
		}
		return fmt.Errorf("unknown capability %q", n.Value)
	}
	*c = Capability(name)
	return nil
}

// CapabilityNumber returns the number of a capability name.
func CapabilityNumber(name string) (int, bool) { return capability.Number(name) }

// SeccompMode selects the system call filter.
type SeccompMode uint8

// The seccomp modes; SeccompDefault is the zero value.
const (
	// SeccompDefault is a filter equivalent to Docker's default profile
	// plus cell's additions (clone3, nested namespaces, TIOCSTI).
	SeccompDefault SeccompMode = iota
	// SeccompUnconfined installs no filter.
	SeccompUnconfined
	// SeccompRules is a filter of the rules alone, then DefaultAction:
	// an OCI bundle's linux.seccomp, whose allowlist is its own.
	SeccompRules
)

// String returns the mode's YAML name.
func (m SeccompMode) String() string {
	switch m {
	case SeccompDefault:
		return "default"
	case SeccompUnconfined:
		return "unconfined"
	case SeccompRules:
		return "rules"
	}
	return fmt.Sprintf("SeccompMode(%d)", uint8(m))
}

// UnmarshalYAML accepts "default", "unconfined" or "rules".
func (m *SeccompMode) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "default":
		*m = SeccompDefault
	case "unconfined":
		*m = SeccompUnconfined
	case "rules":
		*m = SeccompRules
	default:
		return fmt.Errorf("must be default, unconfined or rules, not %q", n.Value)
	}
	return nil
}

// MarshalText prints the name.
func (m SeccompMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Seccomp configures the system call filter.
type Seccomp struct {
	Mode SeccompMode `yaml:"mode" json:"mode"`
	// AllowNestedNamespaces lets the command create namespaces (unshare,
	// clone with CLONE_NEW*), for nested sandboxes.
	AllowNestedNamespaces bool `yaml:"allowNestedNamespaces" json:"allowNestedNamespaces,omitempty"`
	// Rules are added to the default filter, later rules winning.
	Rules []SeccompRule `yaml:"rules" json:"rules,omitempty" validate:"dive"`
	// DefaultAction, in mode rules only, decides the system calls that
	// no rule matches: allow, errno, kill or log.
	DefaultAction string `yaml:"defaultAction" json:"defaultAction,omitempty" validate:"omitempty,oneof=allow errno kill log"`
	// DefaultErrno is the error of DefaultAction errno (default EPERM).
	DefaultErrno string `yaml:"defaultErrno" json:"defaultErrno,omitempty"`
}

// SeccompRule decides what happens to some system calls.
type SeccompRule struct {
	// Syscalls are names; an unknown name is an error.
	Syscalls []string `yaml:"syscalls" json:"syscalls" validate:"required,min=1,dive,required"`
	// Action is allow, errno, kill or log.
	Action string `yaml:"action" json:"action" validate:"required,oneof=allow errno kill log"`
	// Errno is the error returned by action errno (default EPERM), by name.
	Errno string `yaml:"errno" json:"errno,omitempty"`
	// Args are conditions on arguments; all must hold.
	Args []SeccompArg `yaml:"args" json:"args,omitempty" validate:"max=6,dive"`
}

// SeccompArg compares argument Index with Value (after Mask for
// maskedEq).
type SeccompArg struct {
	Index uint8  `yaml:"index" json:"index" validate:"max=5"`
	Op    string `yaml:"op" json:"op" validate:"required,oneof=eq ne lt le gt ge maskedEq"`
	Value uint64 `yaml:"value" json:"value"`
	Mask  uint64 `yaml:"mask" json:"mask,omitempty"`
}

// LandlockMode says whether landlock is used and how strictly.
type LandlockMode uint8

// The landlock modes; LandlockOff is the zero value.
const (
	LandlockOff LandlockMode = iota
	// LandlockBestEffort enforces what the kernel's ABI supports; the plan
	// says what is left out.
	LandlockBestEffort
	// LandlockRequire refuses to start when the kernel cannot enforce
	// every rule.
	LandlockRequire
)

// String returns the mode's YAML name.
func (m LandlockMode) String() string {
	switch m {
	case LandlockOff:
		return "off"
	case LandlockBestEffort:
		return "bestEffort"
	case LandlockRequire:
		return "require"
	}
	return fmt.Sprintf("LandlockMode(%d)", uint8(m))
}

// UnmarshalYAML accepts off, bestEffort or require.
func (m *LandlockMode) UnmarshalYAML(n *yaml.Node) error {
	for _, c := range []LandlockMode{LandlockOff, LandlockBestEffort, LandlockRequire} {
		if c.String() == n.Value {
			*m = c
			return nil
		}
	}
	return fmt.Errorf("must be off, bestEffort or require, not %q", n.Value)
}

// MarshalText prints the name.
func (m LandlockMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Landlock lists what the command may reach once restricted. Paths are
// inside the sandbox.
type Landlock struct {
	Mode       LandlockMode `yaml:"mode" json:"mode"`
	ReadOnly   []string     `yaml:"readOnly" json:"readOnly,omitempty" validate:"dive,abspath"`
	ReadWrite  []string     `yaml:"readWrite" json:"readWrite,omitempty" validate:"dive,abspath"`
	ReadExec   []string     `yaml:"readExec" json:"readExec,omitempty" validate:"dive,abspath"`
	BindTCP    []uint16     `yaml:"bindTcp" json:"bindTcp,omitempty"`
	ConnectTCP []uint16     `yaml:"connectTcp" json:"connectTcp,omitempty"`
	// Scope cuts the command off from what processes outside its landlock
	// domain offer through other channels than files and ports: their
	// abstract Unix sockets and their signals (landlock ABI 6).
	Scope []LandlockScope `yaml:"scope" json:"scope,omitempty"`
}

// LandlockScope is a kind of interaction with processes outside the
// command's landlock domain that landlock can refuse.
type LandlockScope uint8

// The scopes. The zero value is invalid, so that a missing value is
// never taken for one.
const (
	scopeInvalid LandlockScope = iota
	// ScopeAbstractUnix refuses connecting to, and sending to, abstract
	// Unix sockets bound outside the domain.
	ScopeAbstractUnix
	// ScopeSignal refuses sending signals to processes outside the domain.
	ScopeSignal
)

// LandlockScopes lists every scope.
var LandlockScopes = []LandlockScope{ScopeAbstractUnix, ScopeSignal}

// String returns the scope's YAML name.
func (s LandlockScope) String() string {
	switch s {
	case ScopeAbstractUnix:
		return "abstractUnixSocket"
	case ScopeSignal:
		return "signal"
	case scopeInvalid:
	}
	return fmt.Sprintf("LandlockScope(%d)", uint8(s))
}

// UnmarshalYAML accepts abstractUnixSocket or signal.
func (s *LandlockScope) UnmarshalYAML(n *yaml.Node) error {
	for _, c := range LandlockScopes {
		if c.String() == n.Value {
			*s = c
			return nil
		}
	}
	return fmt.Errorf("must be abstractUnixSocket or signal, not %q", n.Value)
}

// MarshalText prints the name.
func (s LandlockScope) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Rlimit is a soft and hard limit; "unlimited" or a number. Written as a
// single value it sets both.
type Rlimit struct {
	Soft, Hard RlimitValue
}

// RlimitValue is a number or unlimited.
type RlimitValue struct {
	Unlimited bool
	Value     uint64
}

// String prints "unlimited" or the number.
func (v RlimitValue) String() string {
	if v.Unlimited {
		return "unlimited"
	}
	return fmt.Sprint(v.Value)
}

func parseRlimitValue(s string) (RlimitValue, error) {
	if s == "unlimited" || s == "infinity" {
		return RlimitValue{Unlimited: true}, nil
	}
	v, err := ParseSize(s)
	if err != nil {
		return RlimitValue{}, fmt.Errorf(`must be a number or "unlimited", not %q`, s)
	}
	return RlimitValue{Value: uint64(v)}, nil
}

// UnmarshalYAML accepts a value, or a mapping with soft and hard.
func (r *Rlimit) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		v, err := parseRlimitValue(n.Value)
		if err != nil {
			return err
		}
		*r = Rlimit{Soft: v, Hard: v}
		return nil
	case yaml.MappingNode:
		var got Rlimit
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1].Value
			val, err := parseRlimitValue(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			switch k {
			case "soft":
				got.Soft = val
			case "hard":
				got.Hard = val
			default:
				return fmt.Errorf("unknown key %q (allowed: soft, hard)", k)
			}
			seen[k] = true
		}
		if !seen["soft"] || !seen["hard"] {
			return fmt.Errorf("needs both soft and hard, or a single value for both")
		}
		if !got.Hard.Unlimited && (got.Soft.Unlimited || got.Soft.Value > got.Hard.Value) {
			return fmt.Errorf("soft limit %s is above the hard limit %s", got.Soft, got.Hard)
		}
		*r = got
		return nil
	}
	return fmt.Errorf(`must be a number, "unlimited", or {soft: N, hard: N}`)
}

// MarshalText prints "soft:hard".
func (r Rlimit) MarshalText() ([]byte, error) {
	return []byte(r.Soft.String() + ":" + r.Hard.String()), nil
}

// RlimitNames are the rlimit names a profile may use.
var RlimitNames = []string{"as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}

// jsonSchema is the schema of Capabilities: a list, or a mapping of sets.
func (Capabilities) jsonSchema() *schema {
	list := &schema{Type: "array", Items: Capability("").jsonSchema()}
	sets := &schema{Type: "object", Properties: map[string]*schema{}, AdditionalProperties: false}
	for _, n := range capSetNames {
		sets.Properties[n] = list
	}
	return &schema{AnyOf: []*schema{list, sets}}
}

// jsonSchema is the schema of a Capability: the known names, with or
// without CAP_, in any case. The case is spelt out letter by letter
// ([Cc][Aa][Pp]) because an inline (?i) is RE2's and Python's but not
// ECMA-262's, the regular expressions editors use.
func (Capability) jsonSchema() *schema {
	var names []string
	for _, n := range capability.Names() {
		names = append(names, anyCase(strings.TrimPrefix(n, "CAP_")))
	}
	return &schema{Type: "string", Pattern: "^(" + anyCase("CAP_") + ")?(" + strings.Join(names, "|") + ")$"}
}

// anyCase returns a pattern that matches s, of letters and _, in any case.
func anyCase(s string) string {
	var b strings.Builder
	for _, r := range s {
		if u, l := unicode.ToUpper(r), unicode.ToLower(r); u != l {
			b.WriteString("[" + string(u) + string(l) + "]")
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// jsonSchema is the schema of a SeccompMode.
func (SeccompMode) jsonSchema() *schema {
	return &schema{Type: "string", Enum: []string{SeccompDefault.String(), SeccompUnconfined.String(), SeccompRules.String()}}
}

// jsonSchema is the schema of a LandlockMode.
func (LandlockMode) jsonSchema() *schema {
	return &schema{Type: "string", Enum: []string{LandlockOff.String(), LandlockBestEffort.String(), LandlockRequire.String()}}
}

// jsonSchema is the schema of a LandlockScope.
func (LandlockScope) jsonSchema() *schema {
	names := make([]string, len(LandlockScopes))
	for i, c := range LandlockScopes {
		names[i] = c.String()
	}
	return &schema{Type: "string", Enum: names}
}

// jsonSchema is the schema of an Rlimit.
func (Rlimit) jsonSchema() *schema {
	v := &schema{AnyOf: []*schema{{Type: "integer"}, {Type: "string"}}}
	return &schema{AnyOf: []*schema{
		{Type: "integer"},
		{Type: "string"},
		{Type: "object", Properties: map[string]*schema{"soft": v, "hard": v}, Required: []string{"soft", "hard"}, AdditionalProperties: false},
	}}
}

// validateSecurity checks rlimit names and seccomp errno names.
func validateSecurity(sl validator.StructLevel) {
	s := sl.Current().Addr().Interface().(*Security)
	for name := range s.Rlimits {
		if !slices.Contains(RlimitNames, name) {
			sl.ReportError(name, "rlimits["+name+"]", name, "rlimitname", strings.Join(RlimitNames, ", "))
		}
	}
	if a := s.OOMScoreAdj; a != nil && (*a < -1000 || *a > 1000) {
		sl.ReportError(*a, "oomScoreAdj", "oomScoreAdj", "between", "-1000 and 1000")
	}
	switch sc := s.Seccomp; {
	case sc.Mode == SeccompRules && sc.DefaultAction == "":
		sl.ReportError(sc.DefaultAction, "seccomp.defaultAction", "defaultAction", "requiredfor", "mode rules")
	case sc.Mode != SeccompRules && sc.DefaultAction != "":
		sl.ReportError(sc.DefaultAction, "seccomp.defaultAction", "defaultAction", "needs", "mode: rules")
	case sc.DefaultErrno != "" && sc.DefaultAction != "errno":
		sl.ReportError(sc.DefaultErrno, "seccomp.defaultErrno", "defaultErrno", "errnoonly", "")
	case sc.DefaultErrno != "" && !errnoName(sc.DefaultErrno):
		sl.ReportError(sc.DefaultErrno, "seccomp.defaultErrno", "defaultErrno", "errnoname", "")
	}
	for i, r := range s.Seccomp.Rules {
		at := fmt.Sprintf("seccomp.rules[%d].errno", i)
		switch {
		case r.Errno != "" && r.Action != "errno":
			sl.ReportError(r.Errno, at, "errno", "errnoonly", "")
		case r.Errno != "" && !errnoName(r.Errno):
			sl.ReportError(r.Errno, at, "errno", "errnoname", "")
		}
	}
}

// errnoName reports whether s names an errno: E and capitals or digits.
func errnoName(s string) bool {
	if len(s) < 2 || s[0] != 'E' {
		return false
	}
	for _, c := range s[1:] {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
