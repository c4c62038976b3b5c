// Package slots keeps the leases of ID slots (ids.Pool) in one JSON file,
// rewritten under an exclusive flock(2) of itself: each lease names the
// cell process that holds it by pid and start time, so that the lease of
// a cell that was SIGKILLed is told from a live one and taken back, by the
// next Acquire or by `cell gc`, once no process runs with an ID of the
// slot.
package slots

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cellsandbox/cell/internal/ids"
	"github.com/cellsandbox/cell/internal/state"
)

// Holder is a lease: the slot that starts at Base, the sandbox it was
// given to, and the cell process that holds it, by pid and start time.
type Holder struct {
	Base  uint32 `json:"base"`
	Owner string `json:"owner,omitempty"`
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// Alive reports whether the holder's cell process still runs.
func (h *Holder) Alive() bool {
	st, err := state.StartTime(h.Pid)
	return err == nil && st == h.Start
}

func overlap(a, b uint32) bool {
	return uint64(a) < uint64(b)+ids.SlotSize && uint64(b) < uint64(a)+ids.SlotSize
}

// locked runs f on the leases under an exclusive lock of the lease file
// and writes back what f returns. The lock is held for the lease only.
func locked(name string, f func([]Holder) ([]Holder, error)) error {
	if err := state.UpdateLocked(name, "when no sandbox with outside: pick runs", f); err != nil {
		return fmt.Errorf("ID leases: %w", err)
	}
	return nil
}

// Acquire leases the lowest free slot of pool to owner, held by the
// calling process, and returns its first ID. Leases of dead holders are
// taken back first, unless a process still runs with an ID of their slot
// (a sandbox that shares the host's pid namespace may outlive its cell).
func Acquire(file string, pool ids.Pool, owner string) (uint32, error) {
	self := os.Getpid()
	start, err := state.StartTime(self)
	if err != nil {
		return 0, err
	}
	var got uint32
	err = locked(file, func(hs []Holder) ([]Holder, error) {
		held := sweep(hs)
		for i := range pool.Slots() {
			base := pool.First + i*ids.SlotSize
			free := true
			for _, h := range held {
				if overlap(base, h.Base) {
					free = false
					break
				}
			}
			if free {
				got = base
				return append(held, Holder{Base: base, Owner: owner, Pid: self, Start: start}), nil
			}
		}
		return nil, fmt.Errorf("no free slot of %d IDs in the ID pool %s: %d sandboxes hold one (cell gc takes back those of killed cells; %s or %s sets a larger pool)",
			ids.SlotSize, pool, len(held), ids.PoolEnv, ids.PoolFile)
	})
	return got, err
}

// sweep returns the leases still held: those of live holders, and those
// of dead ones whose slot a process still uses.
func sweep(hs []Holder) []Holder {
	var held []Holder
	var procs []procIDs
	scanned := false
	for _, h := range hs {
		if h.Alive() {
			held = append(held, h)
			continue
		}
		if !scanned {
			procs, scanned = scanProcs(), true
		}
		if inUse(procs, h.Base) {
			held = append(held, h)
		}
	}
	return held
}

// Release ends the lease of the slot at base that this process holds.
func Release(file string, base uint32) error {
	self := os.Getpid()
	return locked(file, func(hs []Holder) ([]Holder, error) {
		out := hs[:0]
		for _, h := range hs {
			if h.Base != base || h.Pid != self {
				out = append(out, h)
			}
		}
		return out, nil
	})
}

// Sweep takes back the leases of dead holders whose slot no process uses
// (cell gc) and returns how many it took back. A missing lease file holds
// none.
func Sweep(file string) (int, error) {
	if _, err := os.Lstat(file); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	n := 0
	err := locked(file, func(hs []Holder) ([]Holder, error) {
		held := sweep(hs)
		n = len(hs) - len(held)
		return held, nil
	})
	return n, err
}

// Leases returns the current leases, live or not.
func Leases(file string) ([]Holder, error) {
	var out []Holder
	err := locked(file, func(hs []Holder) ([]Holder, error) {
		out = append(out, hs...)
		return hs, nil
	})
	return out, err
}

// procIDs are a process's real, effective, saved and file-system UIDs
// and GIDs.
type procIDs struct{ uids, gids [4]uint32 }

// scanProcs reads the IDs of every process on the host. A process that
// ends while it is read is left out.
func scanProcs() []procIDs {
	ents, _ := os.ReadDir("/proc")
	var out []procIDs
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		var p procIDs
		for _, line := range strings.Split(string(b), "\n") {
			var dst *[4]uint32
			switch {
			case strings.HasPrefix(line, "Uid:"):
				dst = &p.uids
			case strings.HasPrefix(line, "Gid:"):
				dst = &p.gids
			default:
				continue
			}
			for i, f := range strings.Fields(line)[1:] {
				if v, err := strconv.ParseUint(f, 10, 32); err == nil && i < 4 {
					dst[i] = uint32(v)
				}
			}
		}
		out = append(out, p)
	}
	return out
}

// inUse reports whether a process runs with an ID of the slot at base.
func inUse(procs []procIDs, base uint32) bool {
	in := func(id uint32) bool { return id >= base && uint64(id) < uint64(base)+ids.SlotSize }
	for _, p := range procs {
		for i := range 4 {
			if in(p.uids[i]) || in(p.gids[i]) {
				return true
			}
		}
	}
	return false
}
