package plan

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The data of the steps whose arguments are a concern's model: plan owns
// them, so that it imports no concern package; the concern packages use
// them (cgroup.Group and network.Rule are these types) or convert from
// them (landlock, rlimit, seccomp's filter).

// Cgroup is the set of cgroup directories that hold one sandbox: its
// leaf in the unified hierarchy and in each v1 hierarchy it uses
// (internal/cgroup calls it Group).
type Cgroup struct {
	// Unified is the leaf in the unified hierarchy, "" if none.
	Unified string `json:"unified,omitempty"`
	// Controllers are the unified controllers the leaf has (enabled by
	// its parent), in the kernel's order.
	Controllers []string `json:"controllers,omitempty"`
	// V1 maps each v1 controller the sandbox uses to its leaf;
	// co-mounted controllers share a leaf.
	V1 map[string]string `json:"v1,omitempty"`
}

// V1Order returns the v1 controllers in the order in which Dirs lists
// their leaves.
func V1Order() []string {
	return []string{"cpuset", "cpu", "cpuacct", "blkio", "memory", "pids", "devices", "freezer", "hugetlb", "net_cls", "net_prio"}
}

// Dirs returns the group's directories: the unified leaf, then the v1
// leaves in V1Order, each once.
func (g *Cgroup) Dirs() []string {
	var ds []string
	if g.Unified != "" {
		ds = append(ds, g.Unified)
	}
	for _, c := range V1Order() {
		if d := g.V1[c]; d != "" && !slices.Contains(ds, d) {
			ds = append(ds, d)
		}
	}
	return ds
}

// OnV2 reports whether the unified leaf has controller c.
func (g *Cgroup) OnV2(c string) bool { return g.Unified != "" && slices.Contains(g.Controllers, c) }

// Rlimit is a soft and a hard limit on the resource named Resource as a
// profile names it ("nofile"); internal/rlimit converts it to its Limit.
type Rlimit struct {
	Resource string `json:"resource"`
	Soft     uint64 `json:"soft"`
	Hard     uint64 `json:"hard"`
}

// rlimInfinity is RLIM_INFINITY.
const rlimInfinity = ^uint64(0)

// Call prints the system call that applies the limit:
// "prlimit(0, RLIMIT_NOFILE, {1024, 4096})".
func (l Rlimit) Call() string {
	v := func(n uint64) string {
		if n == rlimInfinity {
			return "unlimited"
		}
		return strconv.FormatUint(n, 10)
	}
	return fmt.Sprintf("prlimit(0, RLIMIT_%s, {%s, %s})", strings.ToUpper(l.Resource), v(l.Soft), v(l.Hard))
}

// LandlockRules is a Landlock policy as internal/landlock.Rules holds it,
// with its scopes and mode by name.
type LandlockRules struct {
	ReadOnly   []string `json:"readOnly,omitempty"`
	ReadWrite  []string `json:"readWrite,omitempty"`
	ReadExec   []string `json:"readExec,omitempty"`
	BindTCP    []uint16 `json:"bindTCP,omitempty"`
	ConnectTCP []uint16 `json:"connectTCP,omitempty"`
	Scope      []string `json:"scope,omitempty"`
	Mode       string   `json:"mode"`
}

// Instruction is one classic BPF instruction (struct sock_filter).
type Instruction struct {
	Code   uint16
	Jt, Jf uint8
	K      uint32
}

// Program is a seccomp filter. It is encoded as the base64 of its
// instructions in the kernel's layout (8 bytes each, little-endian): a
// filter of hundreds of instructions is then one short string that
// init decodes in microseconds.
type Program []Instruction

// MarshalJSON encodes the program as base64.
func (p Program) MarshalJSON() ([]byte, error) {
	b := make([]byte, 8*len(p))
	for i, in := range p {
		binary.LittleEndian.PutUint16(b[8*i:], in.Code)
		b[8*i+2], b[8*i+3] = in.Jt, in.Jf
		binary.LittleEndian.PutUint32(b[8*i+4:], in.K)
	}
	return json.Marshal(base64.StdEncoding.EncodeToString(b))
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (p *Program) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("seccomp filter: %w", err)
	}
	return p.fromBase64(s)
}

// fromBase64 decodes the base64 of the instructions.
func (p *Program) fromBase64(s string) error {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("seccomp filter: %w", err)
	}
	if len(b)%8 != 0 {
		return fmt.Errorf("seccomp filter: %d bytes, not a whole number of 8-byte instructions", len(b))
	}
	q := make(Program, len(b)/8)
	for i := range q {
		q[i] = Instruction{
			Code: binary.LittleEndian.Uint16(b[8*i:]),
			Jt:   b[8*i+2], Jf: b[8*i+3],
			K: binary.LittleEndian.Uint32(b[8*i+4:]),
		}
	}
	*p = q
	return nil
}

// Lease stands for the address leased to the sandbox in the fields of the
// steps that follow the lease; the executor puts the address in its place
// when it runs the step (the plan keeps the placeholder).
const Lease = "{lease}"

// WaitForMaps is the last argument of an exec-init whose ID maps the
// setuid helpers write: init then waits, unmapped, for cell's word that
// they exist (internal/proto's mapped message) and executes itself again
// without it.
const WaitForMaps = "wait-for-maps"

// NftRule is one nftables object that cell installs: a base chain, when
// Hook is set, or a rule appended to a chain (internal/network calls it
// Rule). Rules carry their Owner as their comment, which is how cell finds
// its own rules again to delete them. The matches are few on purpose:
// those the network modes need, each printed and compiled one way.
type NftRule struct {
	// Family is "ip" or "inet"; Table and Chain name where the rule goes.
	Family string `json:"family"`
	Table  string `json:"table"`
	Chain  string `json:"chain"`

	// Insert puts the rule first in its chain instead of last.
	Insert bool `json:"insert,omitempty"`
	// Hook, Type, Priority and Policy declare a base chain.
	Hook     string `json:"hook,omitempty"`
	Type     string `json:"type,omitempty"`
	Priority int32  `json:"priority,omitempty"`
	Policy   string `json:"policy,omitempty"`

	// The matches, all of which must hold: input and output interface
	// names (NotOIF: any output interface but this), an IPv4 or IPv6
	// source or destination prefix (or Lease), a destination that is an
	// address of this host, a protocol and destination port, and a
	// connection already established.
	IIF         string `json:"iif,omitempty"`
	OIF         string `json:"oif,omitempty"`
	NotOIF      string `json:"notOif,omitempty"`
	Saddr       string `json:"saddr,omitempty"`
	Daddr       string `json:"daddr,omitempty"`
	LocalDaddr  bool   `json:"localDaddr,omitempty"`
	Proto       string `json:"proto,omitempty"`
	Dport       uint16 `json:"dport,omitempty"`
	Established bool   `json:"established,omitempty"`

	// Verdict is accept, drop, reject, masquerade or dnat; To is dnat's
	// ADDRESS:PORT.
	Verdict string `json:"verdict,omitempty"`
	To      string `json:"to,omitempty"`
	// Owner is the rule's comment: the sandbox or bridge it belongs to.
	Owner string `json:"owner,omitempty"`
}

// IsChain reports whether r declares a base chain.
func (r *NftRule) IsChain() bool { return r.Hook != "" }

// String prints r as nft(8) would take it.
func (r *NftRule) String() string {
	if r.IsChain() {
		return fmt.Sprintf("add chain %s %s %s { type %s hook %s priority %d; policy %s; }",
			r.Family, r.Table, r.Chain, r.Type, r.Hook, r.Priority, r.Policy)
	}
	var b strings.Builder
	verb := "add"
	if r.Insert {
		verb = "insert"
	}
	fmt.Fprintf(&b, "%s rule %s %s %s", verb, r.Family, r.Table, r.Chain)
	if r.IIF != "" {
		fmt.Fprintf(&b, " iifname %q", r.IIF)
	}
	if r.OIF != "" {
		fmt.Fprintf(&b, " oifname %q", r.OIF)
	}
	if r.NotOIF != "" {
		fmt.Fprintf(&b, " oifname != %q", r.NotOIF)
	}
	if r.Saddr != "" {
		fmt.Fprintf(&b, " %s saddr %s", ipWord(r.Saddr), r.Saddr)
	}
	if r.Daddr != "" {
		fmt.Fprintf(&b, " %s daddr %s", ipWord(r.Daddr), r.Daddr)
	}
	if r.LocalDaddr {
		b.WriteString(" fib daddr type local")
	}
	if r.Proto != "" && r.Dport == 0 {
		fmt.Fprintf(&b, " meta l4proto %s", r.Proto)
	}
	if r.Dport != 0 {
		fmt.Fprintf(&b, " %s dport %d", r.Proto, r.Dport)
	}
	if r.Established {
		b.WriteString(" ct state established,related")
	}
	switch r.Verdict {
	case "dnat":
		fmt.Fprintf(&b, " dnat ip to %s", r.To)
	case "reject":
		if r.Proto == "tcp" {
			b.WriteString(" reject with tcp reset")
		} else {
			b.WriteString(" reject with icmpx admin-prohibited")
		}
	default:
		b.WriteString(" " + r.Verdict)
	}
	if r.Owner != "" {
		fmt.Fprintf(&b, " comment %q", r.Owner)
	}
	return b.String()
}

func ipWord(prefix string) string {
	if strings.Contains(prefix, ":") {
		return "ip6"
	}
	return "ip"
}

// Resolve returns r with Lease replaced by the address lease.
func (r NftRule) Resolve(lease string) NftRule {
	for _, f := range []*string{&r.Saddr, &r.Daddr, &r.To} {
		*f = strings.ReplaceAll(*f, Lease, lease)
	}
	return r
}

// EgressProcess is the argv[0] of a sandbox's egress proxy: cell executed
// again (internal/network calls it ProxyProcess).
const EgressProcess = "cell-egress"

// ProxyListen is one socket of the egress proxy (internal/network calls
// it Listen): Net is tcp or udp, Addr the address in the sandbox's
// namespace, Serves "proxy" (HTTP and SOCKS5) or "dns".
type ProxyListen struct {
	Net    string `json:"net"`
	Addr   string `json:"addr"`
	Serves string `json:"serves"`
}

func (l ProxyListen) String() string { return l.Serves + " " + l.Net + " " + l.Addr }

// ProxyRule allows a name, or every name under a wildcard's suffix, or an
// address range (a profile's address rule, which the proxy honours for
// SOCKS5 and CONNECT by address), to Ports (all when empty). What a rule
// matches is decided in internal/network (Decide), not here.
type ProxyRule struct {
	// Domain is lower case: "example.com" or "*.example.com".
	Domain string `json:"domain,omitempty"`
	// Prefix is an address rule's CIDR.
	Prefix string   `json:"prefix,omitempty"`
	Ports  []uint16 `json:"ports,omitempty"`
	// SNIOptional lets a tunnel to port 443 through without a TLS
	// ClientHello that names the host; one that names another host is
	// refused all the same.
	SNIOptional bool `json:"sniOptional,omitempty"`
	// Pos is the profile position of the rule, which the proxy's log
	// names for each decision it makes.
	Pos string `json:"pos"`
}

func (r ProxyRule) String() string {
	what := r.Domain
	if what == "" {
		what = r.Prefix
	}
	if r.SNIOptional {
		what += " (sni optional)"
	}
	if len(r.Ports) == 0 {
		return what + ":*"
	}
	ps := make([]string, len(r.Ports))
	for i, p := range r.Ports {
		ps[i] = strconv.Itoa(int(p))
	}
	return what + ":" + strings.Join(ps, ",")
}

// Proxy is a sandbox's egress proxy (internal/network calls it Proxy):
// what it listens on in the sandbox, what it allows, and whom it asks for
// names. It denies what no rule allows.
type Proxy struct {
	Listen []ProxyListen `json:"listen"`
	Rules  []ProxyRule   `json:"rules"`
	// Upstream are the name servers the proxy forwards allowed names to,
	// ADDRESS:PORT, asked from the host's network namespace.
	Upstream []string `json:"upstream"`
	// Default is the profile position of the default deny.
	Default string `json:"default"`
	// Sandbox names the sandbox in the log.
	Sandbox string `json:"sandbox,omitempty"`
	// Log is the file the decisions are appended to, as JSON lines.
	Log string `json:"log,omitempty"`
	// UID and GID, when UID is not 0, are what the proxy process runs as
	// (root's proxy drops to nobody: it needs no privilege).
	UID uint32 `json:"uid,omitempty"`
	GID uint32 `json:"gid,omitempty"`
}

// Summary prints the proxy for a plan: the process, its sockets and
// rules with their positions.
func (p *Proxy) Summary() string {
	var b strings.Builder
	ls := make([]string, len(p.Listen))
	for i, l := range p.Listen {
		ls[i] = l.String()
	}
	fmt.Fprintf(&b, "listen(%s) in the sandbox's netns, sendmsg to cell; cell serves them with %s", strings.Join(ls, ", "), EgressProcess)
	if p.UID != 0 {
		fmt.Fprintf(&b, " as %d:%d", p.UID, p.GID)
	}
	rs := make([]string, len(p.Rules))
	for i, r := range p.Rules {
		rs[i] = r.String() + " (" + r.Pos + ")"
	}
	fmt.Fprintf(&b, ", allow [%s], deny the rest (%s), names from %s", strings.Join(rs, ", "), p.Default, strings.Join(p.Upstream, ", "))
	return b.String()
}
