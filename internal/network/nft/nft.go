// Package nft installs and removes cell's nftables rules (network.Rule)
// with netlink, and finds cell's own rules again by their owner comment.
package nft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/network"
)

func family(f string) (nftables.TableFamily, error) {
	switch f {
	case "ip":
		return nftables.TableFamilyIPv4, nil
	case "inet":
		return nftables.TableFamilyINet, nil
	}
	return 0, fmt.Errorf("nftables family %q: want ip or inet", f)
}

var hooks = map[string]*nftables.ChainHook{
	"prerouting":  nftables.ChainHookPrerouting,
	"input":       nftables.ChainHookInput,
	"forward":     nftables.ChainHookForward,
	"output":      nftables.ChainHookOutput,
	"postrouting": nftables.ChainHookPostrouting,
}

// Apply installs r with the connection c: a base chain (and its table) is
// added when missing, a rule is appended, unless a rule of the same owner
// is there already when the owner is a bridge's ("bridge:NAME:WHAT"): a
// bridge's shared rules are installed once.
func Apply(c *nftables.Conn, r *network.Rule) error {
	fam, err := family(r.Family)
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: r.Table, Family: fam}
	if r.IsChain() {
		hook, ok := hooks[r.Hook]
		if !ok {
			return fmt.Errorf("nftables hook %q", r.Hook)
		}
		policy := nftables.ChainPolicyAccept
		if r.Policy == "drop" {
			policy = nftables.ChainPolicyDrop
		}
		// Adding a base chain is a transaction the kernel commits with
		// an RCU grace period (~10 ms here) even when the chain is
		// there; most launches find it there.
		if ch, err := c.ListChain(t, r.Chain); err == nil && ch.Hooknum != nil && *ch.Hooknum == *hook {
			return nil
		}
		c.AddTable(t)
		c.AddChain(&nftables.Chain{Name: r.Chain, Table: t, Hooknum: hook, Priority: nftables.ChainPriorityRef(nftables.ChainPriority(r.Priority)),
			Type: nftables.ChainType(r.Type), Policy: &policy})
		return flush(c, r)
	}
	exprs, err := exprs(r)
	if err != nil {
		return err
	}
	ch := &nftables.Chain{Name: r.Chain, Table: t}
	if strings.HasPrefix(r.Owner, "bridge:") {
		// Shared by every sandbox of the bridge, and named uniquely by
		// its comment: add it once.
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return fmt.Errorf("list rules of %s %s %s: %w", r.Family, r.Table, r.Chain, err)
		}
		for _, have := range rules {
			if owner(have) == r.Owner {
				return nil
			}
		}
	}
	nr := &nftables.Rule{Table: t, Chain: ch, Exprs: exprs, UserData: userdata.AppendString(nil, userdata.TypeComment, r.Owner)}
	if r.Insert {
		c.InsertRule(nr)
	} else {
		c.AddRule(nr)
	}
	return flush(c, r)
}

func flush(c *nftables.Conn, r *network.Rule) error {
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables %s: %w", r, err)
	}
	return nil
}

func owner(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

// eachRule calls f with every rule of the table of the family, in every
// chain; a missing table has none.
func eachRule(c *nftables.Conn, fam, table string, f func(*nftables.Rule) error) error {
	tf, err := family(fam)
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: table, Family: tf}
	chains, err := c.ListChainsOfTableFamily(tf)
	if err != nil {
		return fmt.Errorf("list nftables chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name != table {
			continue
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return fmt.Errorf("list rules of %s %s %s: %w", fam, table, ch.Name, err)
		}
		for _, r := range rules {
			if err := f(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteOwned deletes every rule whose owner is one of owners in the
// table of the family, and reports how many. A missing table has none.
func DeleteOwned(c *nftables.Conn, fam, table string, owners func(string) bool) (int, error) {
	n := 0
	err := eachRule(c, fam, table, func(r *nftables.Rule) error {
		if o := owner(r); o != "" && owners(o) {
			if err := c.DelRule(r); err != nil {
				return fmt.Errorf("delete rule %d of %s %s %s: %w", r.Handle, fam, table, r.Chain.Name, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	if n > 0 {
		if err := c.Flush(); err != nil {
			return 0, fmt.Errorf("delete rules of %s %s: %w", fam, table, err)
		}
	}
	return n, nil
}

// Owners lists the owners of the rules in the table of the family, each
// once.
func Owners(c *nftables.Conn, fam, table string) ([]string, error) {
	var out []string
	err := eachRule(c, fam, table, func(r *nftables.Rule) error {
		if o := owner(r); o != "" && !slices.Contains(out, o) {
			out = append(out, o)
		}
		return nil
	})
	return out, err
}

func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s+"\x00")
	return b
}

// addrMatch loads the source or destination address and compares it with
// prefix under its mask; in the inet family it first checks the packet's
// protocol family.
func addrMatch(fam, prefix string, dst bool) ([]expr.Any, error) {
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		a, aerr := netip.ParseAddr(prefix)
		if aerr != nil {
			return nil, fmt.Errorf("address %q: %w", prefix, err)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	var out []expr.Any
	off, n, proto := uint32(12), uint32(4), byte(unix.NFPROTO_IPV4)
	if p.Addr().Is6() {
		off, n, proto = 8, 16, unix.NFPROTO_IPV6
	}
	if dst {
		off += n
	}
	if fam == "inet" {
		out = append(out, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}})
	} else if p.Addr().Is6() {
		return nil, fmt.Errorf("IPv6 address %s in an ip table", p)
	}
	out = append(out, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n})
	addr := p.Masked().Addr().AsSlice()
	if p.Bits() < p.Addr().BitLen() {
		m := make([]byte, n)
		for i := 0; i < p.Bits(); i++ {
			m[i/8] |= 0x80 >> (i % 8)
		}
		out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: m, Xor: make([]byte, n)})
	}
	return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr}), nil
}

// exprs compiles r's matches and verdict.
func exprs(r *network.Rule) ([]expr.Any, error) {
	var out []expr.Any
	if r.IIF != "" {
		out = append(out, &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(r.IIF)})
	}
	if r.OIF != "" {
		out = append(out, &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(r.OIF)})
	}
	if r.NotOIF != "" {
		out = append(out, &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1}, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(r.NotOIF)})
	}
	for _, a := range []struct {
		prefix string
		dst    bool
	}{{r.Saddr, false}, {r.Daddr, true}} {
		if a.prefix == "" {
			continue
		}
		if strings.Contains(a.prefix, network.Lease) {
			return nil, errors.New("the leased address is not known yet")
		}
		e, err := addrMatch(r.Family, a.prefix, a.dst)
		if err != nil {
			return nil, err
		}
		out = append(out, e...)
	}
	if r.LocalDaddr {
		out = append(out, &expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)})
	}
	if r.Proto != "" {
		p := byte(unix.IPPROTO_TCP)
		switch r.Proto {
		case "tcp":
		case "udp":
			p = unix.IPPROTO_UDP
		default:
			return nil, fmt.Errorf("protocol %q: want tcp or udp", r.Proto)
		}
		out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}})
		if r.Dport != 0 {
			out = append(out, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.Dport)})
		}
	}
	if r.Established {
		mask := binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED)
		out = append(out, &expr.Ct{Key: expr.CtKeySTATE, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
	}
	switch r.Verdict {
	case "accept":
		out = append(out, &expr.Verdict{Kind: expr.VerdictAccept})
	case "drop":
		out = append(out, &expr.Verdict{Kind: expr.VerdictDrop})
	case "reject":
		if r.Proto == "tcp" {
			out = append(out, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
		} else {
			out = append(out, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED})
		}
	case "masquerade":
		out = append(out, &expr.Masq{})
	case "dnat":
		ap, err := netip.ParseAddrPort(r.To)
		if err != nil || !ap.Addr().Is4() {
			return nil, fmt.Errorf("dnat target %q: want IPV4:PORT", r.To)
		}
		port := make([]byte, 2)
		binary.BigEndian.PutUint16(port, ap.Port())
		out = append(out, &expr.Immediate{Register: 1, Data: ap.Addr().AsSlice()},
			&expr.Immediate{Register: 2, Data: port},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true})
	default:
		return nil, fmt.Errorf("nftables verdict %q", r.Verdict)
	}
	return out, nil
}
