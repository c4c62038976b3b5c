package state

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cellsandbox/cell/launcher/cgroup"
)

func TestStore(t *testing.T) {
	s, err := Open(t.TempDir() + "/cell")
	if err != nil {
		t.Fatal(err)
	}
	start, err := StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	r := &Record{Name: "a1", Profile: "default", Started: time.Unix(1, 0).UTC(), Pid: os.Getpid(), PidStart: start, Cgroup: &cgroup.Group{Unified: "/sys/fs/cgroup/cell/a1"}}
	if err := s.Create(r); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(r); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("second Create of the same name: %v", err)
	}
	got, err := s.Get("a1")
	if err != nil || got.Pid != r.Pid || got.Cgroup.Unified != r.Cgroup.Unified || !got.Alive() {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	got.PidStart++
	if got.Alive() {
		t.Error("a record whose start time differs (a reused pid) is alive")
	}
	if err := s.Update(got); err != nil {
		t.Fatal(err)
	}
	l, err := s.List()
	if err != nil || len(l) != 1 || l[0].PidStart != start+1 {
		t.Fatalf("List = %v, %v", l, err)
	}
	// A cell that was killed leaves its exec socket; Delete takes it too.
	if err := os.WriteFile(s.Socket("a1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("a1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("a1"); err == nil {
		t.Error("deleted record still found")
	}
	if _, err := os.Stat(s.Socket("a1")); err == nil {
		t.Error("Delete left the exec socket behind")
	}
	if err := s.Delete("a1"); err != nil {
		t.Errorf("deleting a missing record: %v", err)
	}
	if err := s.Create(&Record{Name: "../x"}); err == nil {
		t.Error("a name with a slash was accepted")
	}
	if (&Record{}).Alive() {
		t.Error("a record with no pid is alive")
	}
}

func TestDir(t *testing.T) {
	if d, _ := Dir(0, "/run/user/1000"); d != "/run/cell" {
		t.Errorf("root: %s", d)
	}
	if d, _ := Dir(1000, "/run/user/1000"); d != "/run/user/1000/cell" {
		t.Errorf("user: %s", d)
	}
	if _, err := Dir(1000, ""); err == nil {
		t.Error("no XDG_RUNTIME_DIR accepted")
	}
}
