package state

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/internal/testenv"
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
	if d, err := Dir(1000, ""); d != "/tmp/cell-1000" || err != nil {
		t.Errorf("user without XDG_RUNTIME_DIR: %s, %v", d, err)
	}
}

// TestOpenRefuses: a state directory another user could use, or that is
// a symbolic link, is refused, not used.
func TestOpenRefuses(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(open); err == nil || !strings.Contains(err.Error(), "mode 0755 and lets its group or others in") {
		t.Errorf("a directory of mode 0755: %v", err)
	}
	link := filepath.Join(base, "link")
	private := filepath.Join(base, "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(private, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a symbolic link: %v", err)
	}
	if _, err := Open(private); err != nil {
		t.Errorf("a private directory: %v", err)
	}
	if os.Geteuid() == 0 {
		other := filepath.Join(base, "other")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(other); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("another user's directory: %v", err)
		}
	}
}

// TestDamaged: a record cut short (by a crash of an older cell, or a full
// disk) must not hide the others from gc, and a dead writer's temp file
// goes.
func TestDamaged(t *testing.T) {
	dir := t.TempDir() + "/cell"
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(&Record{Name: "good"}); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(dir + "/.*.tmp"); len(left) > 0 {
		t.Errorf("Create left %v", left)
	}
	if err := os.WriteFile(s.path("cut"), []byte(`{"name":"cu`), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := s.List()
	if len(l) != 1 || l[0].Name != "good" || err == nil || !strings.Contains(err.Error(), "cut.json") {
		t.Errorf("List = %v, %v; want the good record and an error naming the damaged one", l, err)
	}
	// pid 2^22+1 is above the kernel's pid_max limit: never alive.
	dead := filepath.Join(dir, ".x.4194305.tmp")
	live := filepath.Join(dir, fmt.Sprintf(".y.%d.tmp", os.Getpid()))
	for _, p := range []string{dead, live} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.RemoveStaleTemps(); len(got) != 1 || got[0] != ".x.4194305.tmp" {
		t.Errorf("RemoveStaleTemps = %v", got)
	}
	if _, err := os.Stat(live); err != nil {
		t.Error("the temp file of a live writer was removed")
	}
}

// TestZombieNotAlive: a process that has exited but is not yet reaped
// (cell's parent may be slow to wait) is not alive.
func TestZombieNotAlive(t *testing.T) {
	cmd := exec.Command("sleep", "0.2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	r := &Record{Pid: cmd.Process.Pid}
	var err error
	if r.PidStart, err = StartTime(r.Pid); err != nil || !r.Alive() {
		t.Fatalf("a running process: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Alive() {
		if time.Now().After(deadline) {
			t.Fatal("a zombie is alive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.Pid))
	if !strings.Contains(string(b), ") Z ") {
		t.Errorf("not a zombie yet, yet not alive: %s", b)
	}
}

// otherUser returns the uid of the unprivileged test user celltest, whom
// the tests make the owner of planted files (root may chown to anyone).
func otherUser(t *testing.T) int {
	t.Helper()
	testenv.Root(t)
	uid, _ := testenv.Other(t)
	return int(uid)
}

// TestForeignStateDir refuses a state directory that another user made
// (a co-user who creates it first owns the sockets and records in it), one
// that others may write, and a symbolic link.
func TestForeignStateDir(t *testing.T) {
	other := otherUser(t)
	base := t.TempDir()
	for _, tc := range []struct {
		name, want string
		make       func(dir string) error
	}{
		{"owned by another user", "is owned by uid", func(dir string) error {
			if err := os.Mkdir(dir, 0o700); err != nil {
				return err
			}
			return os.Chown(dir, other, other)
		}},
		{"writable by others", "lets its group or others in", func(dir string) error {
			if err := os.Mkdir(dir, 0o700); err != nil {
				return err
			}
			return os.Chmod(dir, 0o777)
		}},
		{"a symbolic link", "is not a directory", func(dir string) error {
			return os.Symlink(base, dir)
		}},
		{"in a parent others may write, not sticky", "writable by others and not sticky", func(dir string) error {
			if err := os.Chmod(filepath.Dir(dir), 0o777); err != nil {
				return err
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := filepath.Join(base, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.Mkdir(parent, 0o755); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(parent, "cell")
			if err := tc.make(dir); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open of a state directory %s: %v; want an error saying %q", tc.name, err, tc.want)
			}
		})
	}
	// A sticky parent others may write (/tmp) is fine, and Open makes the
	// directory the caller's, mode 0700.
	sticky := filepath.Join(base, "sticky")
	if err := os.Mkdir(sticky, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(sticky, "cell")); err != nil {
		t.Errorf("a new state directory in a sticky parent: %v", err)
	}
}

// TestForeignRecord ignores, with an error that names it, a record or
// socket that another user owns or others may write: a forged record
// would aim cell kill at a process of the caller's.
func TestForeignRecord(t *testing.T) {
	other := otherUser(t)
	s, err := Open(filepath.Join(t.TempDir(), "cell"))
	if err != nil {
		t.Fatal(err)
	}
	start, _ := StartTime(os.Getpid())
	for _, name := range []string{"mine", "planted", "loose"} {
		if err := s.Create(&Record{Name: name, Pid: os.Getpid(), PidStart: start, CellPid: os.Getpid(), CellStart: start}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(s.path("planted"), other, other); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.path("loose"), 0o666); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"planted", "loose"} {
		_, err := s.Get(name)
		var fe *ForeignError
		if !errors.As(err, &fe) {
			t.Errorf("Get of the %s record: %v; want a *ForeignError", name, err)
		}
	}
	l, err := s.List()
	if len(l) != 1 || l[0].Name != "mine" || err == nil || !strings.Contains(err.Error(), fmt.Sprintf("planted.json is owned by uid %d", other)) {
		t.Errorf("List = %v, %v; want only the caller's record and the others named", l, err)
	}
	// A socket of another user's in place of the sandbox's.
	sock := s.Socket("planted")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := s.CheckSocket("planted"); err != nil {
		t.Errorf("the caller's own socket: %v", err)
	}
	if err := os.Chown(sock, other, other); err != nil {
		t.Fatal(err)
	}
	var fe *ForeignError
	if _, err := s.CheckSocket("planted"); !errors.As(err, &fe) {
		t.Errorf("CheckSocket of another user's socket: %v", err)
	}
}

// TestNamesStayInside gives every method that takes a name the names that
// would lead out of the state directory, with a record planted where
// "../outside" leads: each is refused, and the record is neither read nor
// removed nor overwritten.
func TestNamesStayInside(t *testing.T) {
	root := t.TempDir()
	s, err := Open(filepath.Join(root, "cell"))
	if err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(root, "outside.json")
	if err := os.WriteFile(planted, []byte(`{"name": "outside", "pid": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../outside", "a/b", "", ".", "..", "/etc/passwd", "A"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			want := fmt.Sprintf("sandbox name %q: use 1 to 63", name)
			check := func(op string, err error) {
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("%s(%q) = %v, want %s...", op, name, err, want)
				}
			}
			_, err := s.Get(name)
			check("Get", err)
			check("Delete", s.Delete(name))
			check("Update", s.Update(&Record{Name: name}))
			check("Create", s.Create(&Record{Name: name}))
		})
	}
	if b, err := os.ReadFile(planted); err != nil || string(b) != `{"name": "outside", "pid": 1}` {
		t.Errorf("the planted record outside the state directory changed: %q, %v", b, err)
	}
}
