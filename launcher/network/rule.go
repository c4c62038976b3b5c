package network

import (
	"fmt"
	"strings"
)

// HostTable is the table of cell's rules on the host, family ip. Cell
// owns the table; each rule's comment names the sandbox or bridge it
// belongs to.
const HostTable = "cell"

// Lease stands for the address leased to the sandbox in the fields of the
// steps that follow the lease; the executor puts the address in its place.
const Lease = "{lease}"

// Rule is one nftables object that cell installs: a base chain, when Hook
// is set, or a rule appended to a chain. Rules carry their Owner as their
// comment, which is how cell finds its own rules again to delete them. The
// matches are few on purpose: those the network modes need, each printed
// and compiled one way.
type Rule struct {
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
func (r *Rule) IsChain() bool { return r.Hook != "" }

// String prints r as nft(8) would take it.
func (r *Rule) String() string {
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
func (r Rule) Resolve(lease string) Rule {
	for _, f := range []*string{&r.Saddr, &r.Daddr, &r.To} {
		*f = strings.ReplaceAll(*f, Lease, lease)
	}
	return r
}
