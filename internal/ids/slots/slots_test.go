package slots

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/cellsandbox/cell/internal/ids"
	"github.com/cellsandbox/cell/internal/state"
)

func TestAcquireDistinct(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ids.json")
	pool := ids.Pool{First: 0x50000000, Count: 20 * ids.SlotSize} // see TestReclaim
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
			if seen[base] || base < pool.First || base > pool.Last() || (base-pool.First)%ids.SlotSize != 0 {
				t.Errorf("slot %d leased twice or outside the pool", base)
			}
			seen[base] = true
		})
	}
	wg.Wait()
	if _, err := Acquire(file, pool, "t"); err == nil {
		t.Fatal("a full pool leased one more slot")
	}
	if err := Release(file, pool.First+3*ids.SlotSize); err != nil {
		t.Fatal(err)
	}
	if base, err := Acquire(file, pool, "t"); err != nil || base != pool.First+3*ids.SlotSize {
		t.Errorf("after a release: %d, %v; want the released slot", base, err)
	}
}

// TestReclaim takes back the lease of a dead holder, and keeps the lease
// of a dead holder while a process still runs with an ID of its slot.
func TestReclaim(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ids.json")
	// Not the default pool's IDs: sandboxes of other tests running at
	// the same time hold its first slots, which Sweep rightly keeps.
	pool := ids.Pool{First: 0x50000000, Count: 2 * ids.SlotSize}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	busy := pool.First + ids.SlotSize
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
