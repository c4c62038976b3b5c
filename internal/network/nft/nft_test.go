package nft

import (
	"strings"
	"testing"

	"github.com/cellsandbox/cell/internal/network"
)

func TestRuleExprs(t *testing.T) {
	ok := []network.Rule{
		{Family: "ip", Table: "cell", Chain: "postrouting", Saddr: "10.88.0.2", NotOIF: "cell0", Verdict: "masquerade"},
		{Family: "ip", Table: "cell", Chain: "output", LocalDaddr: true, Proto: "udp", Dport: 53, Verdict: "dnat", To: "10.88.0.2:53"},
		{Family: "inet", Table: "cell", Chain: "egress", Daddr: "192.0.2.0/24", Proto: "tcp", Dport: 443, Verdict: "accept"},
		{Family: "inet", Table: "cell", Chain: "egress", Established: true, Verdict: "accept"},
	}
	for _, r := range ok {
		if _, err := exprs(&r); err != nil {
			t.Errorf("%s: %v", r.String(), err)
		}
	}
	bad := map[string]network.Rule{
		"not known yet":    {Family: "ip", Saddr: network.Lease, Verdict: "accept"},
		"want IPV4:PORT":   {Family: "ip", Verdict: "dnat", To: "10.0.0.1"},
		"in an ip table":   {Family: "ip", Daddr: "2001:db8::1", Verdict: "accept"},
		"want tcp or udp":  {Family: "ip", Proto: "sctp", Verdict: "accept"},
		"nftables verdict": {Family: "ip", Verdict: "jump"},
		`address "10.0.0.`: {Family: "ip", Daddr: "10.0.0.300", Verdict: "accept"},
	}
	for want, r := range bad {
		if _, err := exprs(&r); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one with %q", r.String(), err, want)
		}
	}
}
