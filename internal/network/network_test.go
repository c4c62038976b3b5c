package network

import (
	"strings"
	"testing"
)

func TestRuleString(t *testing.T) {
	for _, tt := range []struct {
		r    Rule
		want string
	}{
		{Rule{Family: "ip", Table: "cell", Chain: "forward", Type: "filter", Hook: "forward", Policy: "accept"},
			"add chain ip cell forward { type filter hook forward priority 0; policy accept; }"},
		{Rule{Family: "ip", Table: "cell", Chain: "prerouting", LocalDaddr: true, Proto: "tcp", Dport: 8080, Verdict: "dnat", To: Lease + ":80", Owner: "s-1"},
			`add rule ip cell prerouting fib daddr type local tcp dport 8080 dnat ip to {lease}:80 comment "s-1"`},
		{Rule{Family: "ip", Table: "cell", Chain: "forward", Insert: true, IIF: "cell0", Saddr: Lease, Verdict: "accept", Owner: "s-1"},
			`insert rule ip cell forward iifname "cell0" ip saddr {lease} accept comment "s-1"`},
		{Rule{Family: "inet", Table: "cell", Chain: "egress", Daddr: "2001:db8::/32", Proto: "udp", Verdict: "accept"},
			"add rule inet cell egress ip6 daddr 2001:db8::/32 meta l4proto udp accept"},
		{Rule{Family: "inet", Table: "cell", Chain: "egress", Proto: "tcp", Verdict: "reject"},
			"add rule inet cell egress meta l4proto tcp reject with tcp reset"},
		{Rule{Family: "inet", Table: "cell", Chain: "egress", Verdict: "reject"},
			"add rule inet cell egress reject with icmpx admin-prohibited"},
	} {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("String:\n got %s\nwant %s", got, tt.want)
		}
	}
}

func TestVethNameAndGateway(t *testing.T) {
	a, b := VethName("default-0a358ecc"), VethName("default-0a358ecd")
	if a == b || len(a) > 15 || a != VethName("default-0a358ecc") || !strings.HasPrefix(a, "cell") {
		t.Errorf("VethName: %q and %q", a, b)
	}
	gw, err := Gateway("10.88.0.0/24")
	if err != nil || gw.String() != "10.88.0.1/24" {
		t.Errorf("Gateway = %v, %v", gw, err)
	}
	if _, err := Gateway("2001:db8::/64"); err == nil {
		t.Error("Gateway of an IPv6 subnet: no error")
	}
}

func TestRuleResolve(t *testing.T) {
	r := Rule{Family: "ip", Saddr: Lease, Daddr: "10.0.0.0/8", To: Lease + ":80"}.Resolve("10.88.0.9")
	if r.Saddr != "10.88.0.9" || r.To != "10.88.0.9:80" || r.Daddr != "10.0.0.0/8" {
		t.Errorf("Resolve: %+v", r)
	}
}

func TestProxyDecide(t *testing.T) {
	p := &Proxy{Rules: []ProxyRule{
		{Domain: "example.com", Ports: []uint16{443}, Pos: "p:1:1"},
		{Domain: "*.example.org", Pos: "p:2:1"},
		{Prefix: "192.0.2.0/24", Ports: []uint16{22}, Pos: "p:3:1"},
		{Prefix: "2001:db8::/32", Pos: "p:4:1"},
	}}
	for _, tt := range []struct {
		host string
		port uint16
		want string // the rule's position, "" for none
	}{
		{"example.com", 443, "p:1:1"},
		{"EXAMPLE.com.", 443, "p:1:1"},
		{"example.com", 80, ""},
		{"www.example.com", 443, ""},
		{"a.example.org", 80, "p:2:1"},
		{"a.b.example.org", 1, "p:2:1"},
		{"example.org", 80, ""},
		{"badexample.org", 80, ""},
		{".example.org", 80, ""},
		{"192.0.2.9", 22, "p:3:1"},
		{"192.0.2.9", 443, ""},
		{"::ffff:192.0.2.9", 22, "p:3:1"},
		{"[2001:db8::1]", 5, "p:4:1"},
		{"198.51.100.1", 22, ""},
		{"example.net", 443, ""},
	} {
		got := ""
		if r := Decide(p, tt.host, tt.port); r != nil {
			got = r.Pos
		}
		if got != tt.want {
			t.Errorf("Decide(%q, %d) = %q, want %q", tt.host, tt.port, got, tt.want)
		}
	}
	if Resolvable(p, "example.com") == nil || Resolvable(p, "x.example.org") == nil || Resolvable(p, "example.org") != nil || Resolvable(p, "192.0.2.9") != nil {
		t.Error("Resolvable")
	}
}
