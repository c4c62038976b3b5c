package ids

import (
	"testing"
)

func TestParsePool(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Pool
		bad  bool
	}{
		{in: "0x70000000:0x10000", want: Pool{First: 0x70000000, Count: 65536}},
		{in: "1879048192:131072\n", want: Pool{First: 1879048192, Count: 131072}},
		{in: "100000:100", bad: true},       // less than a slot
		{in: "4294901760:65536", bad: true}, // reaches (uid_t)-2 and -1
		{in: "x:65536", bad: true},
		{in: "65536", bad: true},
	} {
		got, err := ParsePool(tc.in)
		if (err != nil) != tc.bad || !tc.bad && got != tc.want {
			t.Errorf("ParsePool(%q) = %v, %v; want %v (error: %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
	if DefaultPool.Slots() != 4094 || DefaultPool.Last() != 0x7FFDFFFF {
		t.Errorf("default pool %s holds %d slots", DefaultPool, DefaultPool.Slots())
	}
}

func TestResolve(t *testing.T) {
	got, err := Resolve("0 {ids} 1\n1 {ids+1} 65535\n", 0x70000000)
	if want := "0 1879048192 1\n1 1879048193 65535\n"; err != nil || got != want {
		t.Errorf("Resolve = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"{ids", "{ids+x}", "{ids+65536}"} {
		if _, err := Resolve(bad, 1); err == nil {
			t.Errorf("Resolve(%q) accepted", bad)
		}
	}
	if Ref(0) != "{ids}" || Ref(7) != "{ids+7}" {
		t.Errorf("Ref: %s %s", Ref(0), Ref(7))
	}
}

// TestAcquireDistinct leases from many goroutines at once: every slot is
// different, the pool's end refuses one more, and a release frees a slot.
