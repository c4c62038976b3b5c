package host

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/cellsandbox/cell/internal/ids"
)

// SubRange is a range of subordinate IDs allocated to a user.
type SubRange struct {
	Start, Count uint32
}

// SubIDs are the caller's subordinate ranges and the helpers that map
// them.
type SubIDs struct {
	// UIDs and GIDs are the caller's entries of SubUIDFile and SubGIDFile.
	UIDs, GIDs []SubRange
	// NewUIDMap and NewGIDMap are the paths of the setuid helpers, "" when
	// they are not installed.
	NewUIDMap, NewGIDMap string
}

// The files that allocate subordinate IDs.
const (
	SubUIDFile = "/etc/subuid"
	SubGIDFile = "/etc/subgid"
)

// ParseSubIDs returns the ranges of a subuid/subgid file's contents that
// belong to the user, named by login name or by number, as shadow-utils
// reads them.
func ParseSubIDs(data []byte, user string, id uint32) ([]SubRange, error) {
	var out []SubRange
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want NAME:START:COUNT, have %q", n, line)
		}
		if f[0] != user && f[0] != strconv.FormatUint(uint64(id), 10) {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count > 1<<32-1 {
			return nil, fmt.Errorf("line %d: bad range %q", n, line)
		}
		out = append(out, SubRange{Start: uint32(start), Count: uint32(count)})
	}
	return out, sc.Err()
}

// IDPool is the pool that `outside: pick` leases slots from, for a
// privileged caller, and the IDs the host gives out otherwise, which the
// pool must not overlap.
type IDPool struct {
	ids.Pool
	// From says where the pool was configured: ids.PoolEnv, ids.PoolFile
	// or "default".
	From string
	// Taken are the IDs the host gives out: its users and groups, the
	// subordinate ranges of /etc/subuid and /etc/subgid, and the ranges
	// that login.defs lets useradd give out.
	Taken []Taken
}

// Taken is a range of IDs that the host gives out, and to what.
type Taken struct {
	Start, Count uint32
	What         string
}

// Overlap returns the first range of Taken that the pool overlaps.
func (p *IDPool) Overlap() (Taken, bool) {
	lo, hi := uint64(p.First), uint64(p.First)+uint64(p.Count)
	for _, t := range p.Taken {
		if uint64(t.Start) < hi && lo < uint64(t.Start)+uint64(t.Count) {
			return t, true
		}
	}
	return Taken{}, false
}

// LoginDefs is where shadow-utils reads the ranges it gives out.
const LoginDefs = "/etc/login.defs"
