package ids

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/cellsandbox/cell/launcher/state"
)

func TestParsePool(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Pool
		bad  bool
	}{
		{in: "0x70000000:0x10000", want: Pool{First: 0x70000000, Count: 65536}},
		{in: "1879048192:131072\n", want: Pool{First: 1879048192, Count: 131072}},
		{in: "100000:100", bad: true},       // less than a slot
		{in: "4294901760:65536", bad: true}, // reaches (uid_t)-2 and -1
		{in: "x:65536", bad: true},
		{in: "65536", bad: true},
	} {
		got, err := ParsePool(tc.in)
		if (err != nil) != tc.bad || !tc.bad && got != tc.want {
			t.Errorf("ParsePool(%q) = %v, %v; want %v (error: %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
	if DefaultPool.Slots() != 4094 || DefaultPool.Last() != 0x7FFDFFFF {
		t.Errorf("default pool %s holds %d slots", DefaultPool, DefaultPool.Slots())
	}
}

func TestResolve(t *testing.T) {
	got, err := Resolve("0 {ids} 1\n1 {ids+1} 65535\n", 0x70000000)
	if want := "0 1879048192 1\n1 1879048193 65535\n"; err != nil || got != want {
		t.Errorf("Resolve = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"{ids", "{ids+x}", "{ids+65536}"} {
		if _, err := Resolve(bad, 1); err == nil {
			t.Errorf("Resolve(%q) accepted", bad)
		}
	}
	if Ref(0) != "{ids}" || Ref(7) != "{ids+7}" {
		t.Errorf("Ref: %s %s", Ref(0), Ref(7))
	}
}

// TestAcquireDistinct leases from many goroutines at once: every slot is
// different, the pool's end refuses one more, and a release frees a slot.
func TestAcquireDistinct(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ids.json")
	pool := Pool{First: 0x50000000, Count: 20 * SlotSize} // see TestReclaim
	var mu sync.Mutex
	seen := map[uint32]bool{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			base, err := Acquire(file, pool, "t")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			if seen[base] || base < pool.First || base > pool.Last() || (base-pool.First)%SlotSize != 0 {
				t.Errorf("slot %d leased twice or outside the pool", base)
			}
			seen[base] = true
		})
	}
	wg.Wait()
	if _, err := Acquire(file, pool, "t"); err == nil {
		t.Fatal("a full pool leased one more slot")
	}
	if err := Release(file, pool.First+3*SlotSize); err != nil {
		t.Fatal(err)
	}
	if base, err := Acquire(file, pool, "t"); err != nil || base != pool.First+3*SlotSize {
		t.Errorf("after a release: %d, %v; want the released slot", base, err)
	}
}

// TestReclaim takes back the lease of a dead holder, and keeps the lease
// of a dead holder while a process still runs with an ID of its slot.
func TestReclaim(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ids.json")
	// Not the default pool's IDs: sandboxes of other tests running at
	// the same time hold its first slots, which Sweep rightly keeps.
	pool := Pool{First: 0x50000000, Count: 2 * SlotSize}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	busy := pool.First + SlotSize
	hs := []Holder{
		{Base: pool.First, Owner: "gone", Pid: dead.Process.Pid, Start: 1},
		{Base: busy, Owner: "gone-but-busy", Pid: dead.Process.Pid, Start: 1},
	}
	if os.Geteuid() == 0 {
		// A process of the second slot outlives its cell (a sandbox that
		// shares the host's pid namespace).
		sleep := exec.Command("sleep", "60")
		sleep.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: busy + 5, Gid: busy + 5}}
		if err := sleep.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
	} else {
		hs = hs[:1]
	}
	if err := locked(file, func([]Holder) ([]Holder, error) { return hs, nil }); err != nil {
		t.Fatal(err)
	}
	n, err := Sweep(file)
	if err != nil || n != 1 {
		t.Fatalf("Sweep took back %d, %v; want 1", n, err)
	}
	left, _ := Leases(file)
	if len(left) != len(hs)-1 || len(left) == 1 && left[0].Base != busy {
		t.Errorf("leases after the sweep: %+v", left)
	}
	start, _ := state.StartTime(os.Getpid())
	if base, err := Acquire(file, pool, "new"); err != nil || base != pool.First {
		t.Errorf("Acquire after the sweep: %d, %v", base, err)
	}
	if len(hs) == 2 {
		if _, err := Acquire(file, pool, "more"); err == nil {
			t.Error("the slot of a process that outlived its cell was leased again")
		}
	}
	left, _ = Leases(file)
	if last := left[len(left)-1]; last.Pid != os.Getpid() || last.Start != start || !last.Alive() {
		t.Errorf("lease holder %+v is not this process", last)
	}
}
