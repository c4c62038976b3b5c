package host

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSubIDs(t *testing.T) {
	data := []byte("# comment\nalice:100000:65536\n1001:200000:1000\nalice:300000:10\n\nbob:400000:65536\n")
	got, err := ParseSubIDs(data, "alice", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]SubRange{{100000, 65536}, {300000, 10}}, got); diff != "" {
		t.Errorf("alice (-want +got):\n%s", diff)
	}
	got, _ = ParseSubIDs(data, "carol", 1001)
	if diff := cmp.Diff([]SubRange{{200000, 1000}}, got); diff != "" {
		t.Errorf("uid 1001 (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"alice:1\n", "alice:x:1\n", "alice:1:0\n", "alice:4294967295:2\n"} {
		if _, err := ParseSubIDs([]byte(bad), "alice", 1); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
