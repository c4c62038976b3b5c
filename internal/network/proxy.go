package network

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/cellsandbox/cell/launcher/plan"
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

// Listen is one socket of the proxy (plan.ProxyListen, which a plan's
// egress-proxy step carries).
type Listen = plan.ProxyListen

// ProxyListens are the sockets of every proxy: HTTP and SOCKS5 on port
// 3128, DNS on 53 (UDP and TCP), each on 127.0.0.1 and ::1.
func ProxyListens() []Listen {
	var out []Listen
	for _, ip := range []string{"127.0.0.1", "::1"} {
		out = append(out,
			Listen{Net: "tcp", Addr: netip.AddrPortFrom(netip.MustParseAddr(ip), ProxyPort).String(), Serves: "proxy"},
			Listen{Net: "udp", Addr: netip.AddrPortFrom(netip.MustParseAddr(ip), DNSPort).String(), Serves: "dns"},
			Listen{Net: "tcp", Addr: netip.AddrPortFrom(netip.MustParseAddr(ip), DNSPort).String(), Serves: "dns"})
	}
	return out
}

// ProxyRule allows a name, a wildcard's names or an address range to
// some ports (plan.ProxyRule); Decide and Resolvable say what it matches.
type ProxyRule = plan.ProxyRule

// matchesName reports whether the rule names name (lower case, without
// a trailing dot): equal, or for "*.suffix" one or more labels before
// ".suffix". A wildcard does not match the suffix itself.
func matchesName(r *ProxyRule, name string) bool {
	if r.Domain == "" {
		return false
	}
	if suffix, ok := strings.CutPrefix(r.Domain, "*."); ok {
		return len(name) > len(suffix)+1 && strings.HasSuffix(name, "."+suffix) && !strings.HasPrefix(name, ".")
	}
	return name == r.Domain
}

func matchesPort(r *ProxyRule, port uint16) bool {
	return len(r.Ports) == 0 || slices.Contains(r.Ports, port)
}

// Proxy is a sandbox's egress proxy (plan.Proxy, which a plan's
// egress-proxy step carries): what it listens on in the sandbox, what it
// allows, and whom it asks for names. It denies what no rule allows.
type Proxy = plan.Proxy

// CanonicalName is name lower case without a trailing dot: how the
// proxy compares names.
func CanonicalName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// Decide returns the first rule of p that allows a connection to host (a name
// or an address literal) and port, or nil: a name is matched against the
// domain rules, an address against the address rules only, so that a
// client cannot reach an allowed name's address by writing the address.
func Decide(p *Proxy, host string, port uint16) *ProxyRule {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		a = a.Unmap()
		for i := range p.Rules {
			r := &p.Rules[i]
			if r.Prefix == "" || !matchesPort(r, port) {
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
		if r := &p.Rules[i]; matchesName(r, name) && matchesPort(r, port) {
			return r
		}
	}
	return nil
}

// Resolvable returns the first rule of p that names name on any port, or nil:
// the name server answers for these names alone.
func Resolvable(p *Proxy, name string) *ProxyRule {
	name = CanonicalName(name)
	for i := range p.Rules {
		if r := &p.Rules[i]; matchesName(r, name) {
			return r
		}
	}
	return nil
}

// ProxyProcess is the argv[0] of the proxy: cell executed again.
const ProxyProcess = plan.EgressProcess
