// Package bitnames prints flag words by the names of their bits, as
// strace does: "CLONE_NEWUSER|CLONE_NEWNS", with any unnamed bits in hex.
package bitnames

import (
	"fmt"
	"strings"
)

// Name names one bit (or a group of bits) of a flag word.
type Name struct {
	Bit  uint64
	Name string
}

// Format prints v by the names in table, in table order; "0" for none.
func Format(v uint64, table []Name) string {
	if v == 0 {
		return "0"
	}
	var parts []string
	for _, n := range table {
		if v&n.Bit != 0 {
			parts = append(parts, n.Name)
			v &^= n.Bit
		}
	}
	if v != 0 {
		parts = append(parts, fmt.Sprintf("%#x", v))
	}
	return strings.Join(parts, "|")
}
