// Package ids describes the ranges of host user and group IDs that are
// leased to sandboxes, as systemd-nspawn's --private-users=pick does: a
// profile whose ID map says `outside: pick` gets, while it runs, a slot of
// SlotSize IDs that no other sandbox, user or subordinate range holds.
//
// The slots come from a pool that cell is configured to own
// (DefaultPool, or CELL_ID_POOL, or the file PoolFile). The leases are one
// JSON file, LeaseFile, rewritten under an exclusive flock(2) of itself,
// as the bridge's address leases are (internal/network/lease): each lease
// names the cell process that holds it by pid and start time, so that the
// lease of a cell that was SIGKILLed is told from a live one and taken
// back, by the next slots.Acquire or by `cell gc`, once no process runs
// with an ID of the slot.
//
// The same slot gives the sandbox's UIDs and GIDs: base..base+SlotSize-1
// of each. This package holds the pool, the slot size and the
// placeholders a plan writes for the leased IDs, and does no I/O; the
// subpackage slots keeps the leases.
package ids

import (
	"fmt"
	"strconv"
	"strings"
)

// SlotSize is the number of IDs of a leased slot: the 16-bit ID space
// that a POSIX system uses (root to nobody), as nspawn and LXD allocate.
const SlotSize = 65536

// Pool is the range of host IDs that cell leases slots from.
type Pool struct {
	// First is the pool's first ID; Count how many IDs it holds, of
	// which the whole slots are leased.
	First, Count uint32
}

// DefaultPool is 0x70000000-0x7FFDFFFF: above the subordinate ranges
// that useradd gives (SUB_UID_MIN..SUB_UID_MAX, 100000-600100000 by
// default), above systemd-nspawn's own pick range
// (0x00080000-0x6FFFFFFF), below systemd's foreign range (0x7FFE0000)
// and below 2^31, which some programs take for negative. 4094 slots.
var DefaultPool = Pool{First: 0x70000000, Count: 4094 * SlotSize}

// PoolEnv and PoolFile configure the pool (FIRST:COUNT, each decimal or
// 0x hexadecimal); the environment wins over the file, the file over
// DefaultPool.
const (
	PoolEnv  = "CELL_ID_POOL"
	PoolFile = "/etc/cell/id-pool"
)

// LeaseFile holds the leases of every pool (a plan names the file in its
// lease step), in a directory of its own: the state directory's *.json
// are records. The pool is root's: only root maps IDs other than its own
// without a subordinate range.
const LeaseFile = "/run/cell/ids/leases.json"

// Slots is the number of whole slots of the pool.
func (p Pool) Slots() uint32 { return p.Count / SlotSize }

// Last is the pool's last ID.
func (p Pool) Last() uint32 { return uint32(uint64(p.First) + uint64(p.Count) - 1) }

// String prints the pool as FIRST-LAST.
func (p Pool) String() string { return fmt.Sprintf("%d-%d", p.First, p.Last()) }

// ParsePool parses FIRST:COUNT.
func ParsePool(s string) (Pool, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ":")
	first, err1 := strconv.ParseUint(a, 0, 32)
	count, err2 := strconv.ParseUint(b, 0, 32)
	if !ok || err1 != nil || err2 != nil {
		return Pool{}, fmt.Errorf("ID pool %q: want FIRST:COUNT (decimal or 0x hexadecimal)", s)
	}
	if count < SlotSize {
		return Pool{}, fmt.Errorf("ID pool %q: holds %d IDs, fewer than one slot of %d", s, count, SlotSize)
	}
	if first+count > 1<<32-2 {
		return Pool{}, fmt.Errorf("ID pool %q: ends past 4294967293", s)
	}
	return Pool{First: uint32(first), Count: uint32(count)}, nil
}

// The placeholders of a plan for the leased base: "{ids}" and
// "{ids+N}", an ID N above it. The parent puts the leased IDs in their
// place before it writes a map.
const Placeholder = "{ids}"

// Ref returns the placeholder of the ID off above the leased base.
func Ref(off uint32) string {
	if off == 0 {
		return Placeholder
	}
	return fmt.Sprintf("{ids+%d}", off)
}

// Resolve puts the IDs above base in place of the placeholders of s.
func Resolve(s string, base uint32) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "{ids")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated ID placeholder in %q", s)
		}
		ref := s[i : i+j+1]
		off := uint64(0)
		if ref != Placeholder {
			n, ok := strings.CutPrefix(strings.TrimSuffix(ref, "}"), "{ids+")
			v, err := strconv.ParseUint(n, 10, 32)
			if !ok || err != nil || v >= SlotSize {
				return "", fmt.Errorf("bad ID placeholder %q", ref)
			}
			off = v
		}
		b.WriteString(strconv.FormatUint(uint64(base)+off, 10))
		s = s[i+j+1:]
	}
}
