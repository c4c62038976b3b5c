package network

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

func TestRuleExprs(t *testing.T) {
	ok := []Rule{
		{Family: "ip", Table: "cell", Chain: "postrouting", Saddr: "10.88.0.2", NotOIF: "cell0", Verdict: "masquerade"},
		{Family: "ip", Table: "cell", Chain: "output", LocalDaddr: true, Proto: "udp", Dport: 53, Verdict: "dnat", To: "10.88.0.2:53"},
		{Family: "inet", Table: "cell", Chain: "egress", Daddr: "192.0.2.0/24", Proto: "tcp", Dport: 443, Verdict: "accept"},
		{Family: "inet", Table: "cell", Chain: "egress", Established: true, Verdict: "accept"},
	}
	for _, r := range ok {
		if _, err := r.exprs(); err != nil {
			t.Errorf("%s: %v", r.String(), err)
		}
	}
	bad := map[string]Rule{
		"not known yet":    {Family: "ip", Saddr: Lease, Verdict: "accept"},
		"want IPV4:PORT":   {Family: "ip", Verdict: "dnat", To: "10.0.0.1"},
		"in an ip table":   {Family: "ip", Daddr: "2001:db8::1", Verdict: "accept"},
		"want tcp or udp":  {Family: "ip", Proto: "sctp", Verdict: "accept"},
		"nftables verdict": {Family: "ip", Verdict: "jump"},
		`address "10.0.0.`: {Family: "ip", Daddr: "10.0.0.300", Verdict: "accept"},
	}
	for want, r := range bad {
		if _, err := r.exprs(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one with %q", r.String(), err, want)
		}
	}
	r := Rule{Family: "ip", Saddr: Lease, Daddr: "10.0.0.0/8", To: Lease + ":80"}.Resolve("10.88.0.9")
	if r.Saddr != "10.88.0.9" || r.To != "10.88.0.9:80" || r.Daddr != "10.0.0.0/8" {
		t.Errorf("Resolve: %+v", r)
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

// deadPid returns the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestLeases(t *testing.T) {
	LeaseDir = t.TempDir()
	t.Cleanup(func() { LeaseDir = "/run/cell/net" })

	// Concurrent leases are distinct, and a full subnet says so.
	var wg sync.WaitGroup
	got := make([]string, 5)
	errs := make([]error, 5)
	for i := range got {
		wg.Go(func() {
			a, err := Acquire("br-t", "10.9.0.0/29", fmt.Sprintf("s%d", i), nil)
			got[i], errs[i] = a.String(), err
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, a := range got {
		if errs[i] != nil {
			t.Fatalf("lease %d: %v", i, errs[i])
		}
		if seen[a] || a == "10.9.0.1" || a == "10.9.0.0" || a == "10.9.0.7" {
			t.Errorf("lease %d: %s (leases %v)", i, a, got)
		}
		seen[a] = true
	}
	if _, err := Acquire("br-t", "10.9.0.0/29", "s9", nil); err == nil || !strings.Contains(err.Error(), "no free address") {
		t.Errorf("a sixth lease in a /29: %v", err)
	}
	if _, err := Acquire("br-t", "10.9.0.0/29", "s0", nil); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("a second lease for s0: %v", err)
	}
	if err := Release("br-t", "s0"); err != nil {
		t.Fatal(err)
	}
	// The /29 was full: the released address is the only free one.
	if a, err := Acquire("br-t", "10.9.0.0/29", "s9", nil); err != nil || a.String() != got[0] {
		t.Errorf("lease after releasing %s: %v %v", got[0], a, err)
	}

	// A dead holder's lease is reclaimed, once, by the next lease.
	file, err := leaseFile("br-d")
	if err != nil {
		t.Fatal(err)
	}
	dead := []Holder{{Addr: "10.8.0.2", Owner: "gone", Pid: deadPid(t), Start: 1}}
	b, _ := json.Marshal(dead)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var reclaimed []string
	a, err := Acquire("br-d", "10.8.0.0/24", "new", func(h Holder) error { reclaimed = append(reclaimed, h.Owner); return nil })
	if err != nil || a.String() != "10.8.0.2" || len(reclaimed) != 1 || reclaimed[0] != "gone" {
		t.Errorf("Acquire over a dead lease: %v %v, reclaimed %v", a, err, reclaimed)
	}

	// Sweep (cell gc) takes back dead leases of every bridge.
	os.WriteFile(file, b, 0o600)
	n, err := Sweep(func(bridge string, h Holder) error {
		if bridge != "br-d" {
			t.Errorf("Sweep gave bridge %q", bridge)
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Errorf("Sweep = %d, %v; want 1", n, err)
	}
	if hs, _ := Leases("br-d"); len(hs) != 0 {
		t.Errorf("leases after Sweep: %+v", hs)
	}
	// A damaged file is reported, not overwritten.
	damaged, _ := leaseFile("br-x")
	os.WriteFile(damaged, []byte("{"), 0o600)
	if _, err := Acquire("br-x", "10.7.0.0/24", "s", nil); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Acquire with a damaged lease file: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Clean(damaged)); string(b) != "{" {
		t.Errorf("damaged lease file rewritten: %q", b)
	}
}
