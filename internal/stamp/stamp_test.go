package stamp

import (
	"testing"
	"time"
)

func TestStartTicks(t *testing.T) {
	for _, tc := range []struct {
		name string
		stat string
		want uint64
		ok   bool
	}{
		{"plain", "42 (cell) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 12345 1000 10 18446744073709551615", 12345, true},
		{"name with spaces and parentheses", "42 (a) b (c)) R 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0", 777, true},
		{"truncated", "42 (cell) S 1 42", 0, false},
		{"no name", "42 cell S", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := startTicks([]byte(tc.stat))
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("startTicks(%q) = %d, %v; want %d, ok %v", tc.stat, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestProcessStartBeforeRuntime(t *testing.T) {
	start, err := ProcessStart()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	// The kernel's start is in 10 ms ticks, truncated: it is never after
	// now, and this test process is not hours old.
	if start > now || now-start > int64(time.Hour) {
		t.Fatalf("ProcessStart() = %d, %v before now", start, time.Duration(now-start))
	}
}

func TestMarkTake(t *testing.T) {
	first := Take("cell")
	if len(first) == 0 || first[0].Name != Runtime {
		t.Fatalf("first Take = %v, want the %q stamp first", first, Runtime)
	}
	Mark("a")
	Mark("b")
	got := Take("init")
	if len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" || got[0].Side != "init" || got[1].Unix < got[0].Unix {
		t.Fatalf("Take = %+v, want a then b on side init, in time order", got)
	}
	if again := Take("init"); len(again) != 0 {
		t.Fatalf("a second Take = %v, want nothing", again)
	}
	// A process that marks without taking keeps a bounded record.
	for range 10 * maxMarks {
		Mark("parse")
	}
	if got := Take("cell"); len(got) != maxMarks {
		t.Fatalf("after %d marks, Take = %d stamps, want the first %d", 10*maxMarks, len(got), maxMarks)
	}
}
