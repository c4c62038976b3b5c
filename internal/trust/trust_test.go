package trust

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFileProblem(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mode       fs.FileMode
		owner, uid uint32
		want       string
	}{
		{"mine", 0o644, 1000, 1000, ""},
		{"mine private", 0o600, 1000, 1000, ""},
		{"root's for root", 0o644, 0, 0, ""},
		{"root's for a user", 0o644, 0, 1000, "owned by uid 0, not by the caller (uid 1000)"},
		{"a user's for root", 0o644, 1000, 0, "owned by uid 1000, not by the caller (uid 0)"},
		{"group writable", 0o664, 1000, 1000, "writable by group or others (mode 0664)"},
		{"world writable", 0o646, 1000, 1000, "writable by group or others (mode 0646)"},
		{"directory", fs.ModeDir | 0o755, 1000, 1000, "not a regular file"},
		{"fifo", fs.ModeNamedPipe | 0o644, 1000, 1000, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fileProblem(tc.mode, tc.owner, tc.uid); got != tc.want {
				t.Errorf("fileProblem(%v, %d, %d) = %q, want %q", tc.mode, tc.owner, tc.uid, got, tc.want)
			}
		})
	}
}

func TestDirProblem(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mode       fs.FileMode
		owner, uid uint32
		want       string
	}{
		{"mine", fs.ModeDir | 0o755, 1000, 1000, ""},
		{"root's", fs.ModeDir | 0o755, 0, 1000, ""},
		{"/tmp", fs.ModeDir | fs.ModeSticky | 0o777, 0, 1000, ""},
		{"mine sticky shared", fs.ModeDir | fs.ModeSticky | 0o777, 1000, 1000, ""},
		{"another user's", fs.ModeDir | 0o755, 1001, 1000, "owned by uid 1001, neither the caller (uid 1000) nor root"},
		{"another user's for root", fs.ModeDir | 0o755, 1000, 0, "owned by uid 1000, neither the caller (uid 0) nor root"},
		{"another user's sticky", fs.ModeDir | fs.ModeSticky | 0o777, 1001, 1000, "owned by uid 1001, neither the caller (uid 1000) nor root"},
		{"world writable", fs.ModeDir | 0o777, 0, 1000, "writable by group or others and not sticky (mode 0777)"},
		{"group writable", fs.ModeDir | 0o775, 1000, 1000, "writable by group or others and not sticky (mode 0775)"},
		{"a file", 0o644, 1000, 1000, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dirProblem(tc.mode, tc.owner, tc.uid); got != tc.want {
				t.Errorf("dirProblem(%v, %d, %d) = %q, want %q", tc.mode, tc.owner, tc.uid, got, tc.want)
			}
		})
	}
}

func TestStoreDirProblem(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mode       fs.FileMode
		owner, uid uint32
		want       string
	}{
		{"mine", fs.ModeDir | 0o700, 1000, 1000, ""},
		{"root's for a user", fs.ModeDir | 0o700, 0, 1000, "owned by uid 0, not by the caller (uid 1000)"},
		{"sticky shared", fs.ModeDir | fs.ModeSticky | 0o777, 1000, 1000, "writable by group or others (mode 0777)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := storeDirProblem(tc.mode, tc.owner, tc.uid); got != tc.want {
				t.Errorf("storeDirProblem = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	entries := []Entry{Sum("/b/.cell.yaml", []byte("b")), Sum("/a/.cell.yaml", []byte("a"))}
	text := Format(entries)
	want := header +
		"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  /a/.cell.yaml\n" +
		"3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d  /b/.cell.yaml\n"
	if diff := cmp.Diff(want, string(text)); diff != "" {
		t.Errorf("Format (-want +got):\n%s", diff)
	}
	back, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Entry{entries[1], entries[0]}, back); diff != "" {
		t.Errorf("Parse(Format) (-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		"nothex  /a\n",
		"ca978112  /a\n",
		"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  relative\n",
		"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb /one-space\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("Parse(%q) = %v, want an error at line 1", bad, err)
		}
	}
}

func TestVerify(t *testing.T) {
	root, parent := Sum("/p/.cell.yaml", []byte("root")), Sum("/p/base.yaml", []byte("base"))
	changed := Sum("/p/base.yaml", []byte("base, changed"))
	for _, tc := range []struct {
		name    string
		entries []Entry
		files   []Entry
		want    string
	}{
		{"trusted", []Entry{root, parent}, []Entry{root, parent}, ""},
		{"none read", nil, nil, ""},
		{"not trusted", nil, []Entry{root}, "profile /p/.cell.yaml is not trusted"},
		{"root changed", []Entry{Sum("/p/.cell.yaml", []byte("old"))}, []Entry{root}, "profile /p/.cell.yaml has changed since it was trusted"},
		{"parent untrusted", []Entry{root}, []Entry{root, parent}, "profile /p/.cell.yaml extends /p/base.yaml, which is not trusted"},
		{"parent changed", []Entry{root, parent}, []Entry{root, changed}, "profile /p/.cell.yaml extends /p/base.yaml, which has changed since it was trusted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.entries, tc.files)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Verify = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		path, dir string
		want      bool
	}{
		{"/home/u/.config/cell", "/home/u", true},
		{"/home/u/.config/cell", "/home/u/.config/cell", true},
		{"/home/u/.config/cell", "/", true},
		{"/home/u/.config/cell", "/home/u/.config/cel", false},
		{"/home/u/.config/cell", "/home/u/proj", false},
		{"/home/u", "/home/u/.config", false},
	} {
		if got := within(tc.path, tc.dir); got != tc.want {
			t.Errorf("within(%q, %q) = %v, want %v", tc.path, tc.dir, got, tc.want)
		}
	}
}

func TestCovering(t *testing.T) {
	home := t.TempDir()
	store := filepath.Join(home, ".config", "cell")
	if err := os.MkdirAll(store, 0o700); err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(home, "proj")
	os.Mkdir(proj, 0o755)
	// A link into the home reaches the store all the same.
	link := filepath.Join(t.TempDir(), "h")
	if err := os.Symlink(home, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		writable []string
		bind     string
	}{
		{"project", []string{proj, "/usr"}, ""},
		{"nothing", nil, ""},
		{"home", []string{proj, home}, home},
		{"config", []string{filepath.Join(home, ".config")}, filepath.Join(home, ".config")},
		{"the store", []string{store}, store},
		{"in the store", []string{filepath.Join(store, "trusted")}, filepath.Join(store, "trusted")},
		{"through a link", []string{link}, link},
		{"root", []string{"/"}, "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Covering(store, tc.writable)
			var re *ReachError
			switch {
			case tc.bind == "" && err != nil:
				t.Errorf("Covering = %v, want nil", err)
			case tc.bind != "" && (!errors.As(err, &re) || re.Bind != tc.bind):
				t.Errorf("Covering = %v, want the bind of %s refused", err, tc.bind)
			}
		})
	}
	// A store not made yet is where it will be made.
	if err := Covering(filepath.Join(home, "none", "cell"), []string{home}); err == nil {
		t.Errorf("Covering of a store not made yet under a writable bind = nil")
	}
}

func TestFind(t *testing.T) {
	top := t.TempDir()
	deep := filepath.Join(top, "a", "b")
	os.MkdirAll(deep, 0o755)
	if got := Find(deep); got != "" && !strings.HasPrefix(top, filepath.Dir(got)) {
		t.Fatalf("Find with no .cell.yaml below the temporary directory = %q", got)
	}
	os.WriteFile(filepath.Join(top, Name), nil, 0o644)
	if got, want := Find(deep), filepath.Join(top, Name); got != want {
		t.Errorf("Find = %q, want %q", got, want)
	}
	// A directory of that name is no profile.
	os.Mkdir(filepath.Join(deep, Name), 0o755)
	if got, want := Find(deep), filepath.Join(top, Name); got != want {
		t.Errorf("Find past a directory = %q, want %q", got, want)
	}
}

func TestRead(t *testing.T) {
	uid := uint32(os.Geteuid())
	dir := t.TempDir()
	f := filepath.Join(dir, Name)
	if err := os.WriteFile(f, []byte("name: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := Read(f, uid)
	if err != nil || string(data) != "name: x\n" {
		t.Fatalf("Read = %q, %v", data, err)
	}
	os.Chmod(f, 0o664)
	if _, err := Read(f, uid); !IsUnsafe(err) || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("Read of a group-writable file = %v", err)
	}
	os.Chmod(f, 0o644)
	if _, err := Read(f, uid+1); !IsUnsafe(err) {
		t.Errorf("Read for another caller = %v", err)
	}
	os.Chmod(dir, 0o777)
	if _, err := Read(f, uid); !IsUnsafe(err) || !strings.Contains(err.Error(), "directory "+dir) {
		t.Errorf("Read in a world-writable directory = %v", err)
	}
	os.Chmod(dir, os.ModeSticky|0o777)
	if _, err := Read(f, uid); err != nil {
		t.Errorf("Read in a sticky directory = %v", err)
	}
	os.Chmod(dir, 0o755)
	// A link is followed, and its target's directories checked too.
	open := t.TempDir()
	os.Chmod(open, 0o777)
	target := filepath.Join(open, "p.yaml")
	os.WriteFile(target, []byte("x"), 0o644)
	link := filepath.Join(t.TempDir(), Name)
	os.Symlink(target, link)
	if _, err := Read(link, uid); !IsUnsafe(err) || !strings.Contains(err.Error(), open) {
		t.Errorf("Read through a link into a world-writable directory = %v", err)
	}
}

func TestStore(t *testing.T) {
	uid := uint32(os.Geteuid())
	s := Open(filepath.Join(t.TempDir(), "config", "cell"), uid)
	if e, err := s.Entries(); err != nil || len(e) != 0 {
		t.Fatalf("a store not made yet: %v, %v", e, err)
	}
	a, b := Sum("/a", []byte("a")), Sum("/b", []byte("b"))
	if err := s.Add(a, b); err != nil {
		t.Fatal(err)
	}
	a2 := Sum("/a", []byte("a2"))
	if err := s.Add(a2); err != nil {
		t.Fatal(err)
	}
	got, err := s.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Entry{a2, b}, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	for p, want := range map[string]fs.FileMode{s.Dir: 0o700, s.Path(): 0o600} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %04o", p, st.Mode().Perm(), err, want)
		}
	}
	if err := s.Remove("/c"); err == nil {
		t.Errorf("Remove of an untrusted path = nil")
	}
	if err := s.Remove("/a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Entries(); len(got) != 1 || got[0] != b {
		t.Errorf("after Remove: %v", got)
	}
	// A store that others could have written is an error, not empty.
	os.Chmod(s.Path(), 0o666)
	if _, err := s.Entries(); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("a world-writable store: %v", err)
	}
	os.Chmod(s.Path(), 0o600)
	os.Chmod(s.Dir, 0o777)
	if _, err := s.Entries(); err == nil {
		t.Errorf("a store in a world-writable directory: nil error")
	}
	if err := s.Add(a); err == nil {
		t.Errorf("Add to a store in a world-writable directory: nil error")
	}
	os.Chmod(s.Dir, 0o700)
	os.Remove(s.Path())
	os.Symlink("/etc/hostname", s.Path())
	if _, err := s.Entries(); err == nil {
		t.Errorf("a store that is a symbolic link: nil error")
	}
}

func TestDir(t *testing.T) {
	uid := uint32(os.Geteuid())
	mine := t.TempDir()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	got, err := Dir(env(map[string]string{"XDG_CONFIG_HOME": mine, "HOME": "/nonexistent"}), uid)
	if err != nil || got != filepath.Join(mine, "cell") {
		t.Errorf("Dir with XDG_CONFIG_HOME = %q, %v", got, err)
	}
	got, err = Dir(env(map[string]string{"XDG_CONFIG_HOME": "relative", "HOME": mine}), uid)
	if err != nil || got != filepath.Join(mine, ".config", "cell") {
		t.Errorf("Dir with HOME = %q, %v", got, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("the directories of another user are made as root")
	}
	// sudo keeps the invoking user's variables: root must not take them.
	theirs := t.TempDir()
	if err := os.Chown(theirs, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	got, err = Dir(env(map[string]string{"XDG_CONFIG_HOME": theirs, "HOME": theirs}), 0)
	if err != nil || strings.HasPrefix(got, theirs) {
		t.Errorf("Dir for root with another user's XDG_CONFIG_HOME and HOME = %q, %v", got, err)
	}
}

// TestStoreConcurrent adds entries from many writers at once: the lock
// keeps every one.
func TestStoreConcurrent(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "cell"), uint32(os.Geteuid()))
	const n = 16
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- s.Add(Sum(fmt.Sprintf("/p%d", i), nil)) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Entries(); err != nil || len(got) != n {
		t.Errorf("after %d concurrent adds: %d entries, %v", n, len(got), err)
	}
	if left, _ := filepath.Glob(filepath.Join(s.Dir, storeFile+".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
