// Package state keeps a small record of each running sandbox in a state
// directory (/run/cell for root, $XDG_RUNTIME_DIR/cell for a user, else
// /tmp/cell-UID), so
// that later commands can find a sandbox by name (update, freeze, thaw,
// and later ps, exec and kill) and `cell gc` can remove what a killed cell
// left behind.
//
// A record is created, exclusively, before the sandbox's cgroup exists and
// removed after the cgroup is gone; a record whose process is dead is
// garbage.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/cgroup"
)

// Record describes one sandbox.
type Record struct {
	Name    string    `json:"name"`
	Profile string    `json:"profile"`
	Started time.Time `json:"started"`
	// Pid is init's pid on the host, 0 until it is started; PidStart its
	// start time in clock ticks after boot (field 22 of /proc/PID/stat),
	// which tells it from a later process that reused the pid.
	Pid      int    `json:"pid"`
	PidStart uint64 `json:"pidStart"`
	// CellPid and CellStart are the cell process that runs the sandbox:
	// signals sent to it reach the command.
	CellPid   int    `json:"cellPid"`
	CellStart uint64 `json:"cellStart"`
	// Cgroup is the sandbox's cgroups, nil without limits.
	Cgroup *cgroup.Group `json:"cgroup,omitempty"`
	// Address is the sandbox's address on its bridge, "" without one.
	Address string `json:"address,omitempty"`
}

// ValidName reports whether name can name a sandbox: 1 to 63 lower-case
// letters, digits, ".", "_" or "-", starting with a letter or digit (so
// never "", ".", ".." or a path). It is the one check of names: every
// method of Store that takes one calls it, so that no command (run --name,
// exec, kill, wait, update, freeze, thaw, pool) reaches a file outside the
// state directory.
func ValidName(name string) error {
	ok := len(name) >= 1 && len(name) <= 63
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && (c == '.' || c == '_' || c == '-')
	}
	if !ok {
		return fmt.Errorf("sandbox name %q: use 1 to 63 lower-case letters, digits, \".\", \"_\" or \"-\", starting with a letter or digit", name)
	}
	return nil
}

// Dir is the state directory for a caller: /run/cell for root, else
// $XDG_RUNTIME_DIR/cell (runtime is the value of XDG_RUNTIME_DIR), or,
// where that is not set (after su -, from cron or CI), FallbackDir.
func Dir(euid int, runtime string) (string, error) {
	switch {
	case euid == 0:
		return "/run/cell", nil
	case runtime == "":
		return FallbackDir(euid), nil
	}
	return filepath.Join(runtime, "cell"), nil
}

// FallbackDir is the state directory of a user without XDG_RUNTIME_DIR:
// /tmp/cell-UID, which Open makes private to the user and refuses when
// another user made it first.
func FallbackDir(euid int) string { return fmt.Sprintf("/tmp/cell-%d", euid) }

// Store is an opened state directory.
type Store struct {
	dir  string
	euid int
}

// Open returns the store at dir, creating the directory (mode 0700) if it
// is missing, after CheckDir: whoever could write the directory could
// swap a sandbox's exec socket (and receive the terminal of cell exec) or
// forge a record (and aim cell kill at any process of the caller).
func Open(dir string) (*Store, error) {
	euid := os.Geteuid()
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if err := CheckDir(dir, euid); err != nil {
		return nil, err
	}
	return &Store{dir: dir, euid: euid}, nil
}

// CheckDir checks that dir can hold the state of the user euid: a
// directory, not a symbolic link, owned by euid, that neither its group
// nor others may use; and that its parent is owned by euid or root and,
// when others may write it, sticky (as /tmp), so that nobody else can
// rename dir away and put their own in its place. Every state directory,
// whichever way it was chosen, goes through it.
func CheckDir(dir string, euid int) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("state directory: %w", &os.PathError{Op: "lstat", Path: dir, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("state directory %s is not a directory (a symbolic link or file put there by someone else?); remove it", dir)
	}
	if int(st.Uid) != euid {
		return fmt.Errorf("state directory %s is owned by uid %d, not by you (uid %d): whoever owns it can replace the sandboxes' sockets and records; remove it, or set XDG_RUNTIME_DIR to a directory of yours", dir, st.Uid, euid)
	}
	if st.Mode&0o077 != 0 {
		// Writable: others could replace the sockets and records;
		// readable: they could learn the sandboxes' names and pids.
		return fmt.Errorf("state directory %s is mode %04o and lets its group or others in, who could read, or replace, the sandboxes' sockets and records; chmod 0700 %s", dir, st.Mode&0o7777, dir)
	}
	parent := filepath.Dir(dir)
	if err := unix.Stat(parent, &st); err != nil {
		return fmt.Errorf("state directory: %w", &os.PathError{Op: "stat", Path: parent, Err: err})
	}
	if int(st.Uid) != euid && st.Uid != 0 {
		return fmt.Errorf("the parent of state directory %s is owned by uid %d, neither you (uid %d) nor root, who could replace %s", dir, st.Uid, euid, dir)
	}
	if st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0 {
		return fmt.Errorf("the parent of state directory %s is mode %04o: writable by others and not sticky, so they could replace %s", dir, st.Mode&0o7777, dir)
	}
	return nil
}

// ForeignError is a file of the state directory that the caller does not
// own, or that its group or others may write: a record of it is not
// believed, and its socket not used.
type ForeignError struct {
	Path      string
	UID, EUID int
	Mode      uint32
}

func (e *ForeignError) Error() string {
	if e.UID != e.EUID {
		return fmt.Sprintf("%s is owned by uid %d, not by you (uid %d); ignored", e.Path, e.UID, e.EUID)
	}
	return fmt.Sprintf("%s is mode %04o, writable by its group or others; ignored", e.Path, e.Mode)
}

// checkFile checks that a file of the store is owned by the store's user
// and written by nobody else.
func (s *Store) checkFile(path string, st *unix.Stat_t) error {
	if int(st.Uid) != s.euid || st.Mode&0o022 != 0 {
		return &ForeignError{Path: path, UID: int(st.Uid), EUID: s.euid, Mode: st.Mode & 0o7777}
	}
	return nil
}

// CheckSocket checks the exec socket of the sandbox name before a client
// connects to it: a socket owned by the caller that nobody else may
// write. (The client then checks the peer's credentials too.)
func (s *Store) CheckSocket(name string) (string, error) {
	path := s.Socket(name)
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return "", fmt.Errorf("sandbox %s has no exec socket: %w", name, &os.PathError{Op: "lstat", Path: path, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return "", fmt.Errorf("%s is not a socket; ignored", path)
	}
	if err := s.checkFile(path, &st); err != nil {
		return "", err
	}
	return path, nil
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name+".json") }

// Socket is where the running sandbox name takes exec requests.
func (s *Store) Socket(name string) string { return filepath.Join(s.dir, name+".sock") }

// temp is where this process writes a record before it is linked or
// renamed into place, so that a cell killed mid-write leaves no truncated
// record (which would stop gc); the pid in the name lets gc remove the
// temp file of a dead writer.
func (s *Store) temp(name string) string {
	return filepath.Join(s.dir, fmt.Sprintf(".%s.%d.tmp", name, os.Getpid()))
}

func (s *Store) writeTemp(r *Record) (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	tmp := s.temp(r.Name)
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("state: %w", err)
	}
	return tmp, nil
}

// Create writes a new record; it fails if a sandbox of that name exists.
// The record appears whole or not at all: link(2) of a complete temp
// file, which also fails when the name is taken.
func (s *Store) Create(r *Record) error {
	if err := ValidName(r.Name); err != nil {
		return err
	}
	tmp, err := s.writeTemp(r)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, s.path(r.Name))
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("a sandbox named %q exists already (see %s; cell gc removes dead ones)", r.Name, s.path(r.Name))
	}
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// Update rewrites an existing record (atomically, by rename).
func (s *Store) Update(r *Record) error {
	if err := ValidName(r.Name); err != nil {
		return err
	}
	tmp, err := s.writeTemp(r)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, s.path(r.Name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// RemoveStaleTemps removes the temp files of writers that died before
// they linked or renamed them, and returns their names.
func (s *Store) RemoveStaleTemps() []string {
	entries, _ := os.ReadDir(s.dir)
	var removed []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".tmp")
		if !ok || !strings.HasPrefix(n, ".") {
			continue
		}
		i := strings.LastIndexByte(n, '.')
		pid, err := strconv.Atoi(n[i+1:])
		if i <= 0 || err != nil || pid <= 0 {
			continue
		}
		if err := unix.Kill(pid, 0); err == nil || errors.Is(err, unix.EPERM) {
			continue // the writer may still be at work
		}
		if os.Remove(filepath.Join(s.dir, e.Name())) == nil {
			removed = append(removed, e.Name())
		}
	}
	return removed
}

// Get reads the record of name. A record the caller does not own, or
// that others may write, is a *ForeignError: it is not believed.
func (s *Store) Get(name string) (*Record, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.path(name), os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no sandbox named %q in %s", name, s.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("state: %w", &os.PathError{Op: "fstat", Path: s.path(name), Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("state: %s is not a regular file; ignored", s.path(name))
	}
	if err := s.checkFile(s.path(name), &st); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("state: %s: %w", s.path(name), err)
	}
	return &r, nil
}

// Delete removes the record of name, its exec socket, which a killed
// cell leaves, and the plan kept beside it for cell checkpoint
// (Origin); a missing one is not an error.
func (s *Store) Delete(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	for _, p := range []string{s.Socket(name), s.Origin(name), s.path(name)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("state: %w", err)
		}
	}
	return nil
}

// List returns every record, sorted by name. A record it cannot read, or
// does not believe (a *ForeignError), is left out and named in the error,
// so that one damaged or planted file does not hide the others from ps
// and gc.
func (s *Store) List() ([]*Record, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var out []*Record
	var errs []error
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		r, err := s.Get(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errors.Join(errs...)
}

// Alive reports whether the record's init is still running.
func (r *Record) Alive() bool {
	if r.Pid <= 0 {
		return false
	}
	start, err := StartTime(r.Pid)
	return err == nil && start == r.PidStart
}

// CellAlive reports whether the record's cell process is still running.
func (r *Record) CellAlive() bool {
	if r.CellPid <= 0 {
		return false
	}
	start, err := StartTime(r.CellPid)
	return err == nil && start == r.CellStart
}

// StartTime reads a process's start time in clock ticks after boot.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces; fields count
	// from the last ")".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); the start time is field 22.
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	// A zombie has ended; only its parent's wait is missing.
	if f[0] == "Z" || f[0] == "X" {
		return 0, fmt.Errorf("process %d has exited", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// EgressLog is the file where the egress proxy of the sandbox name
// writes its decisions, one JSON object a line. It outlives the
// sandbox, for review, until a sandbox of the same name starts or cell
// gc collects it (RemoveOrphans).
func (s *Store) EgressLog(name string) string { return filepath.Join(s.dir, name+egressSuffix) }

// Origin is the file where the plan and profile of the running sandbox
// name are kept for cell checkpoint. Its suffix is not a record's
// (".json"): a name may hold dots, so "a.origin.json" would be the
// record of a sandbox "a.origin" to List.
func (s *Store) Origin(name string) string { return filepath.Join(s.dir, name+originSuffix) }

const (
	egressSuffix = ".egress.jsonl"
	originSuffix = ".origin"
)

// RemoveOrphans removes the egress logs and kept plans of sandboxes that
// have no record any more (ended, or collected by gc) and returns their
// paths: a build farm's unnamed runs would otherwise fill the state
// directory, a tmpfs, with one log each.
func (s *Store) RemoveOrphans() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		for _, suffix := range []string{egressSuffix, originSuffix} {
			name, ok := strings.CutSuffix(e.Name(), suffix)
			if !ok || ValidName(name) != nil || !e.Type().IsRegular() {
				continue
			}
			if _, err := os.Lstat(s.path(name)); !errors.Is(err, os.ErrNotExist) {
				continue
			}
			p := filepath.Join(s.dir, e.Name())
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("state: %w", err))
				continue
			}
			removed = append(removed, p)
		}
	}
	return removed, errors.Join(errs...)
}
