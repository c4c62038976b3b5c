package state

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A running sandbox's kept plan and egress log are not records to List
// (names may hold dots: "a.origin.json" once read as a damaged record of
// "a.origin"), and gc's RemoveOrphans takes them only once the sandbox's
// record is gone.
func TestOrphans(t *testing.T) {
	s, err := Open(t.TempDir() + "/cell")
	if err != nil {
		t.Fatal(err)
	}
	start, err := StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"live", "live.x"} {
		if err := s.Create(&Record{Name: name, Profile: "default", Started: time.Unix(1, 0).UTC(), Pid: os.Getpid(), PidStart: start}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{s.Origin("live"), s.EgressLog("live"), s.Origin("gone"), s.EgressLog("gone"), s.EgressLog("live.x")} {
		if err := os.WriteFile(p, []byte(`{"profile":{"name":"x"}}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := s.List()
	if err != nil || len(l) != 2 {
		t.Fatalf("List = %d records, %v; want the two records and no error", len(l), err)
	}
	removed, err := s.RemoveOrphans()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{s.EgressLog("gone"), s.Origin("gone")}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("RemoveOrphans removed %v, want %v", removed, want)
	}
	for _, p := range []string{s.Origin("live"), s.EgressLog("live"), s.EgressLog("live.x")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s of a live sandbox: %v", filepath.Base(p), err)
		}
	}
	if err := s.Delete("live"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Origin("live")); !os.IsNotExist(err) {
		t.Errorf("Delete left the kept plan: %v", err)
	}
}
