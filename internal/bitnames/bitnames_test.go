package bitnames

import "testing"

func TestFormat(t *testing.T) {
	table := []Name{{1, "A"}, {2, "B"}, {4, "C"}}
	for v, want := range map[uint64]string{0: "0", 1: "A", 5: "A|C", 7: "A|B|C", 9: "A|0x8", 16: "0x10"} {
		if got := Format(v, table); got != want {
			t.Errorf("Format(%d) = %q, want %q", v, got, want)
		}
	}
}
