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
