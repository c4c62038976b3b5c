package lease

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

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

// TestAcquireAddr: a restore leases exactly the address it had; one a
// live sandbox holds is a HeldError naming it, one a dead sandbox held is
// reclaimed, and the subnet's own, gateway and broadcast are refused.
func TestAcquireAddr(t *testing.T) {
	LeaseDir = t.TempDir()
	t.Cleanup(func() { LeaseDir = "/run/cell/net" })
	a, err := Acquire("br-a", "10.9.1.0/29", "first", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = AcquireAddr("br-a", "10.9.1.0/29", "second", a, nil)
	var held *HeldError
	if !errors.As(err, &held) || held.Holder.Owner != "first" || !strings.Contains(err.Error(), a.String()) {
		t.Fatalf("AcquireAddr of a held address: %v, want a HeldError naming first", err)
	}
	want := netip.MustParseAddr("10.9.1.5")
	if err := AcquireAddr("br-a", "10.9.1.0/29", "second", want, nil); err != nil {
		t.Fatal(err)
	}
	hs, _ := Leases("br-a")
	if len(hs) != 2 || hs[1].Addr != "10.9.1.5" || hs[1].Owner != "second" {
		t.Errorf("leases after AcquireAddr: %+v", hs)
	}
	for _, bad := range []string{"10.9.1.0", "10.9.1.1", "10.9.1.7", "10.9.2.3"} {
		if err := AcquireAddr("br-a", "10.9.1.0/29", "third", netip.MustParseAddr(bad), nil); err == nil {
			t.Errorf("AcquireAddr(%s) in 10.9.1.0/29 was granted", bad)
		}
	}
	// A dead holder's address is reclaimed and given.
	if err := Release("br-a", "first"); err != nil {
		t.Fatal(err)
	}
	f, _ := leaseFile("br-a")
	b, _ := os.ReadFile(f)
	var cur []Holder
	json.Unmarshal(b, &cur)
	cur = append(cur, Holder{Addr: "10.9.1.3", Owner: "dead", Pid: deadPid(t), Start: 1})
	b, _ = json.Marshal(cur)
	os.WriteFile(f, b, 0o600)
	reclaimed := ""
	if err := AcquireAddr("br-a", "10.9.1.0/29", "fourth", netip.MustParseAddr("10.9.1.3"), func(h Holder) error { reclaimed = h.Owner; return nil }); err != nil || reclaimed != "dead" {
		t.Errorf("AcquireAddr of a dead holder's address: %v (reclaimed %q)", err, reclaimed)
	}
}
