package mountinfo

import "testing"

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`:  "/a b",
		`/a\134b`:  `/a\b`,
		`/tail\04`: `/tail\04`,
		`/x\999y`:  `/x\999y`,
		`/end\011`: "/end\t",
		"/plain":   "/plain",
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
