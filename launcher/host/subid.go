package host

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/cellsandbox/cell/launcher/ids"
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

// ProbeSubIDs fills f.SubIDs from /etc/subuid, /etc/subgid and PATH. A
// missing file means no allocation.
func (f *Facts) ProbeSubIDs() error {
	s := &SubIDs{}
	for _, file := range []struct {
		name string
		id   uint32
		dst  *[]SubRange
	}{{SubUIDFile, f.UID, &s.UIDs}, {SubGIDFile, f.GID, &s.GIDs}} {
		b, err := os.ReadFile(file.name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("probe subordinate IDs: %w", err)
		}
		if *file.dst, err = ParseSubIDs(b, f.User, file.id); err != nil {
			return fmt.Errorf("%s: %w", file.name, err)
		}
	}
	s.NewUIDMap, s.NewGIDMap = helper("newuidmap"), helper("newgidmap")
	f.SubIDs = s
	return nil
}

// helper finds a setuid helper in PATH, or where distributions install it
// (a caller's PATH may be empty or minimal).
func helper(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
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

// ProbeIDPool fills f.IDPool: the pool from CELL_ID_POOL, /etc/cell/id-pool
// or the default, and what the host's user database, subordinate ranges
// and login.defs give out.
func (f *Facts) ProbeIDPool() error {
	p := &IDPool{Pool: ids.DefaultPool, From: "default"}
	if v, ok := f.LookupEnv(ids.PoolEnv); ok && v != "" {
		pool, err := ids.ParsePool(v)
		if err != nil {
			return fmt.Errorf("%s: %w", ids.PoolEnv, err)
		}
		p.Pool, p.From = pool, ids.PoolEnv
	} else if b, err := os.ReadFile(ids.PoolFile); err == nil {
		pool, err := ids.ParsePool(string(b))
		if err != nil {
			return fmt.Errorf("%s: %w", ids.PoolFile, err)
		}
		p.Pool, p.From = pool, ids.PoolFile
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("probe the ID pool: %w", err)
	}
	p.Taken = append(p.Taken, Taken{0, 65536, "the IDs below 65536 (system and login users, nobody)"})
	for _, file := range []string{SubUIDFile, SubGIDFile} {
		b, err := os.ReadFile(file)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("probe the ID pool: %w", err)
		}
		p.Taken = append(p.Taken, allSubIDs(b, file)...)
	}
	defs := map[string]uint64{
		"UID_MIN": 1000, "UID_MAX": 60000, "GID_MIN": 1000, "GID_MAX": 60000,
		"SUB_UID_MIN": 100000, "SUB_UID_MAX": 600100000, "SUB_GID_MIN": 100000, "SUB_GID_MAX": 600100000,
	}
	if b, err := os.ReadFile(LoginDefs); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			if _, known := defs[f[0]]; known {
				if v, err := strconv.ParseUint(f[1], 0, 32); err == nil {
					defs[f[0]] = v
				}
			}
		}
	}
	for _, r := range [][3]string{{"UID_MIN", "UID_MAX", "login users"}, {"GID_MIN", "GID_MAX", "login groups"},
		{"SUB_UID_MIN", "SUB_UID_MAX", "subordinate UIDs useradd gives out"}, {"SUB_GID_MIN", "SUB_GID_MAX", "subordinate GIDs useradd gives out"}} {
		lo, hi := defs[r[0]], defs[r[1]]
		if hi >= lo {
			p.Taken = append(p.Taken, Taken{uint32(lo), uint32(hi - lo + 1), fmt.Sprintf("%s %s..%s (%s)", LoginDefs, r[0], r[1], r[2])})
		}
	}
	for _, file := range []string{"/etc/passwd", "/etc/group"} {
		b, _ := os.ReadFile(file)
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Split(sc.Text(), ":")
			if len(f) < 3 {
				continue
			}
			if id, err := strconv.ParseUint(f[2], 10, 32); err == nil && id >= 65536 {
				p.Taken = append(p.Taken, Taken{uint32(id), 1, fmt.Sprintf("%s entry %s", file, f[0])})
			}
		}
	}
	f.IDPool = p
	return nil
}

// allSubIDs returns every range of a subuid/subgid file, each named by
// its user; lines it cannot read are skipped (shadow-utils skips them too).
func allSubIDs(data []byte, file string) []Taken {
	var out []Taken
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) != 3 {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count > 1<<32-1 {
			continue
		}
		out = append(out, Taken{uint32(start), uint32(count), fmt.Sprintf("%s entry of %s", file, f[0])})
	}
	return out
}
