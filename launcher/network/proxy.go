package network

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The addresses of a sandbox's egress proxy and name server, on its own
// loopback: init makes the sockets in the sandbox's network namespace and
// hands them to cell, which serves them from outside. Every sandbox has
// its own loopback, so no sandbox reaches another's proxy.
const (
	ProxyPort = 3128
	DNSPort   = 53
)

// ProxyURL is what HTTP_PROXY and HTTPS_PROXY say; SocksURL is ALL_PROXY
// (socks5h: the proxy resolves the name, which it must see to decide).
// The one port speaks both: a SOCKS5 greeting starts with byte 5.
var (
	ProxyURL = fmt.Sprintf("http://127.0.0.1:%d", ProxyPort)
	SocksURL = fmt.Sprintf("socks5h://127.0.0.1:%d", ProxyPort)
)

// Listen is one socket of the proxy: Net is tcp or udp, Addr the address
// in the sandbox's namespace, Serves "proxy" (HTTP and SOCKS5) or "dns".
type Listen struct {
	Net    string `json:"net"`
	Addr   string `json:"addr"`
	Serves string `json:"serves"`
}

func (l Listen) String() string { return l.Serves + " " + l.Net + " " + l.Addr }

// ProxyListens are the sockets of every proxy: HTTP and SOCKS5 on port
// 3128, DNS on 53 (UDP and TCP), each on 127.0.0.1 and ::1.
func ProxyListens() []Listen {
	var out []Listen
	for _, ip := range []string{"127.0.0.1", "::1"} {
		out = append(out,
			Listen{"tcp", netip.AddrPortFrom(netip.MustParseAddr(ip), ProxyPort).String(), "proxy"},
			Listen{"udp", netip.AddrPortFrom(netip.MustParseAddr(ip), DNSPort).String(), "dns"},
			Listen{"tcp", netip.AddrPortFrom(netip.MustParseAddr(ip), DNSPort).String(), "dns"})
	}
	return out
}

// ProxyRule allows a name, or every name under a wildcard's suffix, or an
// address range (a profile's address rule, which the proxy honours for
// SOCKS5 and CONNECT by address), to Ports (all when empty).
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
		ps[i] = fmt.Sprint(p)
	}
	return what + ":" + strings.Join(ps, ",")
}

// matchesName reports whether the rule names name (lower case, without
// a trailing dot): equal, or for "*.suffix" one or more labels before
// ".suffix". A wildcard does not match the suffix itself.
func (r *ProxyRule) matchesName(name string) bool {
	if r.Domain == "" {
		return false
	}
	if suffix, ok := strings.CutPrefix(r.Domain, "*."); ok {
		return len(name) > len(suffix)+1 && strings.HasSuffix(name, "."+suffix) && !strings.HasPrefix(name, ".")
	}
	return name == r.Domain
}

func (r *ProxyRule) matchesPort(port uint16) bool {
	return len(r.Ports) == 0 || slices.Contains(r.Ports, port)
}

// Proxy is a sandbox's egress proxy: what it listens on in the sandbox,
// what it allows, and whom it asks for names. It denies what no rule
// allows.
type Proxy struct {
	Listen []Listen    `json:"listen"`
	Rules  []ProxyRule `json:"rules"`
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

// CanonicalName is name lower case without a trailing dot: how the
// proxy compares names.
func CanonicalName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// Decide returns the first rule that allows a connection to host (a name
// or an address literal) and port, or nil: a name is matched against the
// domain rules, an address against the address rules only, so that a
// client cannot reach an allowed name's address by writing the address.
func (p *Proxy) Decide(host string, port uint16) *ProxyRule {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		a = a.Unmap()
		for i := range p.Rules {
			r := &p.Rules[i]
			if r.Prefix == "" || !r.matchesPort(port) {
				continue
			}
			if pre, err := netip.ParsePrefix(r.Prefix); err == nil && pre.Contains(a) {
				return r
			}
		}
		return nil
	}
	name := CanonicalName(host)
	for i := range p.Rules {
		if r := &p.Rules[i]; r.matchesName(name) && r.matchesPort(port) {
			return r
		}
	}
	return nil
}

// Resolvable returns the first rule that names name on any port, or nil:
// the name server answers for these names alone.
func (p *Proxy) Resolvable(name string) *ProxyRule {
	name = CanonicalName(name)
	for i := range p.Rules {
		if r := &p.Rules[i]; r.matchesName(name) {
			return r
		}
	}
	return nil
}

// Summary prints the proxy for a plan: the process, its sockets and
// rules with their positions.
func (p *Proxy) Summary() string {
	var b strings.Builder
	ls := make([]string, len(p.Listen))
	for i, l := range p.Listen {
		ls[i] = l.String()
	}
	fmt.Fprintf(&b, "listen(%s) in the sandbox's netns, sendmsg to cell; cell serves them with %s", strings.Join(ls, ", "), ProxyProcess)
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

// ProxyProcess is the argv[0] of the proxy: cell executed again.
const ProxyProcess = "cell-egress"
