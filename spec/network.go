package spec

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
	"gopkg.in/yaml.v3"
)

// Defaults of a bridged network.
const (
	// DefaultBridge is the bridge that mode bridge joins when the profile
	// names none; cell creates it when it is missing.
	DefaultBridge = "cell0"
	// DefaultSubnet is the default bridge's IPv4 subnet; its first address
	// is the bridge's own (the sandboxes' gateway).
	DefaultSubnet = "10.88.0.0/24"
)

// Network selects what network the sandbox sees.
type Network struct {
	// Mode is the network; every mode but host needs Namespaces.Net New,
	// host needs it Host.
	Mode NetMode `yaml:"mode" json:"mode"`
	// Bridge names the bridge and subnet of mode bridge.
	Bridge Bridge `yaml:"bridge" json:"bridge,omitempty"`
	// NAT lets a bridged sandbox reach beyond the bridge, its packets
	// masqueraded behind the host's address. Without it the sandbox
	// reaches the bridge and the host only.
	NAT bool `yaml:"nat" json:"nat,omitempty"`
	// Ports publishes ports of the sandbox on the host (bridge, user).
	Ports []PortMap `yaml:"ports" json:"ports,omitempty" validate:"max=64"`
	// DNS are the name servers written to the sandbox's /etc/resolv.conf
	// (bridge, user). Absent: the host's own that the sandbox can reach.
	// With domain rules in Egress, the sandbox asks the proxy's name
	// server, and DNS are the servers that it asks (absent: the host's).
	DNS []string `yaml:"dns" json:"dns,omitempty" validate:"max=3"`
	// HostLoopback lets a sandbox of mode user reach the host's loopback
	// services at the gateway address (10.0.2.2). Off by default: the
	// host's loopback is where unauthenticated services listen.
	HostLoopback bool `yaml:"hostLoopback" json:"hostLoopback,omitempty"`
	// Egress restricts what the sandbox may connect to, by rules installed
	// in its own network namespace before the command starts.
	Egress Egress `yaml:"egress" json:"egress,omitempty"`
}

// Bridge is the host bridge of mode bridge.
type Bridge struct {
	// Name is the bridge's interface name (default cell0).
	Name string `yaml:"name" json:"name,omitempty"`
	// Subnet is the bridge's IPv4 subnet (default 10.88.0.0/24): the
	// bridge holds its first address and sandboxes lease the others.
	Subnet string `yaml:"subnet" json:"subnet,omitempty"`
}

// BridgeName returns the bridge's name, defaulted.
func (b Bridge) BridgeName() string {
	if b.Name == "" {
		return DefaultBridge
	}
	return b.Name
}

// BridgeSubnet returns the bridge's subnet, defaulted.
func (b Bridge) BridgeSubnet() string {
	if b.Subnet == "" {
		return DefaultSubnet
	}
	return b.Subnet
}

// PortMap publishes a port of the sandbox on the host: "8080:80/tcp",
// "8080:80" (tcp) or "80" (the same number on both sides).
type PortMap struct {
	Host, Sandbox uint16
	// Proto is "tcp" or "udp".
	Proto string
}

// String prints the map as written, with its protocol.
func (m PortMap) String() string {
	return fmt.Sprintf("%d:%d/%s", m.Host, m.Sandbox, m.Proto)
}

// ParsePortMap parses the forms PortMap accepts.
func ParsePortMap(s string) (PortMap, error) {
	m := PortMap{Proto: "tcp"}
	spec, proto, hasProto := strings.Cut(s, "/")
	if hasProto {
		if proto != "tcp" && proto != "udp" {
			return m, fmt.Errorf("protocol must be tcp or udp, not %q", shorten(proto))
		}
		m.Proto = proto
	}
	host, inside, pair := strings.Cut(spec, ":")
	if !pair {
		inside = host
	}
	for _, f := range []struct {
		s   string
		dst *uint16
	}{{host, &m.Host}, {inside, &m.Sandbox}} {
		n, err := strconv.ParseUint(f.s, 10, 16)
		if err != nil || n == 0 {
			return m, fmt.Errorf(`must be HOST:SANDBOX[/tcp|udp] with ports 1 to 65535, such as "8080:80/tcp", not %q`, shorten(s))
		}
		*f.dst = uint16(n)
	}
	return m, nil
}

// UnmarshalYAML accepts a string or a port number.
func (m *PortMap) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf(`must be a port map such as "8080:80/tcp"`)
	}
	v, err := ParsePortMap(n.Value)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// MarshalText prints the map.
func (m PortMap) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// EgressDefault is what egress rules do with a connection no rule allows.
type EgressDefault uint8

// The egress defaults. Allow, the zero value, installs no rules.
const (
	EgressAllow EgressDefault = iota
	EgressDeny
)

// String returns "allow" or "deny".
func (d EgressDefault) String() string {
	if d == EgressDeny {
		return "deny"
	}
	return "allow"
}

// UnmarshalYAML accepts "allow" or "deny".
func (d *EgressDefault) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "allow":
		*d = EgressAllow
	case "deny":
		*d = EgressDeny
	default:
		return fmt.Errorf("must be allow or deny, not %q", shorten(n.Value))
	}
	return nil
}

// MarshalText prints the name.
func (d EgressDefault) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Egress is an allow list of destinations. With Default deny, connections
// to anything but loopback and the listed destinations are refused. A rule
// with a Domain names its destinations by name: cell runs a filtering
// proxy and a name server for the sandbox, outside it, that the sandbox
// reaches on its own loopback, and only they reach those names.
type Egress struct {
	// Default is allow (no filtering, the default) or deny.
	Default EgressDefault `yaml:"default" json:"default,omitempty"`
	// Allow lists the destinations allowed when Default is deny.
	Allow []EgressRule `yaml:"allow" json:"allow,omitempty" validate:"max=256,dive"`
}

// EgressRule allows connections to an address range, optionally only to
// some ports of one protocol, or to a domain name through cell's proxy.
type EgressRule struct {
	// To is an address or CIDR, IPv4 or IPv6.
	To string `yaml:"to" json:"to,omitempty"`
	// Domain is a host name ("example.com") or a wildcard of its
	// subdomains ("*.example.com": one or more labels before
	// example.com, not example.com itself), reached through the proxy
	// over TCP. A rule has To or Domain, not both.
	Domain string `yaml:"domain" json:"domain,omitempty" validate:"omitempty,max=253,domain"`
	// SNI is what the proxy asks of a tunnel's TLS server name:
	// required (the default) refuses a tunnel to port 443 that does not
	// start with a ClientHello naming the host; optional lets one
	// without TLS or without a name through. A ClientHello that names
	// another host is refused either way.
	SNI string `yaml:"sni" json:"sni,omitempty" validate:"omitempty,oneof=required optional"`
	// Ports are destination ports; empty means every port.
	Ports []uint16 `yaml:"ports" json:"ports,omitempty" validate:"max=64"`
	// Proto is tcp, udp, or empty for both (ports need a protocol or
	// apply to both).
	Proto string `yaml:"proto" json:"proto,omitempty" validate:"omitempty,oneof=tcp udp"`
}

// Prefix returns To as a prefix: an address is a /32 or /128.
func (r EgressRule) Prefix() (netip.Prefix, error) {
	if strings.Contains(r.To, "/") {
		p, err := netip.ParsePrefix(r.To)
		if err != nil {
			return p, err
		}
		if p != p.Masked() {
			return p, fmt.Errorf("has host bits set: write %s", p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(r.To)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// validateNetwork checks the fields that only some modes use, the bridge's
// name and subnet, name servers, ports and egress rules.
func validateNetwork(sl validator.StructLevel) {
	n := sl.Current().Interface().(Network)
	only := func(v any, field, modes string, set bool) {
		if set {
			sl.ReportError(v, field, field, "onlyfor", "network.mode "+modes)
		}
	}
	bridged, user := n.Mode == NetBridge, n.Mode == NetUser
	only(n.Bridge, "bridge", "bridge", !bridged && (n.Bridge != Bridge{}))
	only(n.NAT, "nat", "bridge", !bridged && n.NAT)
	only(n.Ports, "ports", "bridge and user", !bridged && !user && len(n.Ports) > 0)
	// With domain rules the name servers are the proxy's, in any mode.
	only(n.DNS, "dns", "bridge and user", !bridged && !user && !n.Egress.HasDomains() && len(n.DNS) > 0)
	only(n.HostLoopback, "hostLoopback", "user", !user && n.HostLoopback)
	if n.Mode == NetHost && (n.Egress.Default == EgressDeny || len(n.Egress.Allow) > 0) {
		sl.ReportError(n.Egress, "egress", "egress", "needs", "a network namespace of its own (network.mode none, bridge or user)")
	}
	if n.Egress.Default != EgressDeny && len(n.Egress.Allow) > 0 {
		sl.ReportError(n.Egress.Allow, "egress.allow", "allow", "needs", "egress.default: deny")
	}
	if name := n.Bridge.Name; name != "" && !validIfName(name) {
		sl.ReportError(name, "bridge.name", "name", "ifname", "")
	}
	if s := n.Bridge.Subnet; s != "" {
		if p, err := netip.ParsePrefix(s); err != nil || !p.Addr().Is4() || p.Bits() > 29 || p.Bits() < 8 || p != p.Masked() {
			sl.ReportError(s, "bridge.subnet", "subnet", "subnet", "")
		}
	}
	for i, d := range n.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			sl.ReportError(d, joinIndex("dns", i), "dns", "ipaddr", "")
		}
	}
	seen := make(map[string]int)
	for i, p := range n.Ports {
		k := fmt.Sprintf("%d/%s", p.Host, p.Proto)
		if j, dup := seen[k]; dup {
			sl.ReportError(p, joinIndex("ports", i), "ports", "duplicate", fmt.Sprintf("network.ports[%d]: host port %s", j, k))
		}
		seen[k] = i
	}
	for i, r := range n.Egress.Allow {
		fp := joinIndex("egress.allow", i)
		switch {
		case r.To == "" && r.Domain == "":
			sl.ReportError(r, fp, "allow", "needs", "to (an address) or domain (a name)")
		case r.To != "" && r.Domain != "":
			sl.ReportError(r.Domain, joinKey(fp, "domain"), "domain", "exclusive", "to: a rule names addresses or a domain")
		case r.Domain != "" && r.Proto == "udp":
			sl.ReportError(r.Proto, joinKey(fp, "proto"), "proto", "onlyfor", "address rules: a domain is reached over TCP, through the proxy")
		case r.Domain != "" && !domainNotAddress(r.Domain):
			sl.ReportError(r.Domain, joinKey(fp, "domain"), "domain", "domainaddr", "")
		case r.Domain == "" && r.SNI != "":
			sl.ReportError(r.SNI, joinKey(fp, "sni"), "sni", "onlyfor", "domain rules")
		}
		if r.To != "" {
			if _, err := r.Prefix(); err != nil {
				sl.ReportError(r.To, joinKey(fp, "to"), "to", "cidr", "")
			}
		}
		for j, port := range r.Ports {
			if port == 0 {
				sl.ReportError(port, joinIndex(joinKey(fp, "ports"), j), "ports", "gt", "0")
			}
		}
	}
}

// HasDomains reports whether any rule of e names a domain: the sandbox
// then needs cell's proxy.
func (e *Egress) HasDomains() bool {
	for _, r := range e.Allow {
		if r.Domain != "" {
			return true
		}
	}
	return false
}

// domainPattern is what a rule's domain may be: a host name of letters,
// digits and "-" in labels joined by ".", optionally after "*.". The
// JSON Schema carries the same pattern.
const domainPattern = `^(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`

var domainRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(domainPattern) })

// validDomain reports whether s is a domain rule's name or wildcard.
func validDomain(s string) bool { return domainRE().MatchString(s) }

// domainNotAddress reports whether the name's last label has a letter:
// "192.0.2.1" is an address, which a to: rule names.
func domainNotAddress(s string) bool {
	last := s[strings.LastIndexByte(s, '.')+1:]
	return strings.IndexFunc(last, func(r rune) bool { return r < '0' || r > '9' }) >= 0
}

// validIfName reports whether s can name a network interface: 1 to 15
// bytes, no "/", ":" or white space, not "." or "..".
func validIfName(s string) bool {
	if len(s) == 0 || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsAny(s, "/: \t\n")
}
