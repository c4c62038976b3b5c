package trust

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// storeFile is the store's name in its directory.
const storeFile = "trusted"

// Entry is one trusted file: its Key and the SHA-256 of its content.
type Entry struct {
	Path string
	Sum  [sha256.Size]byte
}

// String is the entry as sha256sum prints it.
func (e Entry) String() string { return hex.EncodeToString(e.Sum[:]) + "  " + e.Path }

// Sum returns the entry that trusts data under path.
func Sum(path string, data []byte) Entry { return Entry{Path: path, Sum: sha256.Sum256(data)} }

// header opens the store's file; sha256sum -c skips it as a comment.
const header = "# cell trust store: the SHA-256 of each profile file cell may use without -p (cell trust --list)\n"

// Parse reads a store's text: a header, then one entry a line, as
// sha256sum writes them.
func Parse(data []byte) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxSize)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sum, path, ok := strings.Cut(line, "  ")
		b, err := hex.DecodeString(sum)
		if !ok || err != nil || len(b) != sha256.Size || !filepath.IsAbs(path) {
			return nil, fmt.Errorf("line %d: want a SHA-256 in hex, two spaces and an absolute path", n)
		}
		e := Entry{Path: path}
		copy(e.Sum[:], b)
		out = append(out, e)
	}
	return out, sc.Err()
}

// Format is the store's text for entries, sorted by path.
func Format(entries []Entry) []byte {
	s := slices.Clone(entries)
	slices.SortFunc(s, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	var b bytes.Buffer
	b.WriteString(header)
	for _, e := range s {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Dir returns the directory of the caller uid's store: $XDG_CONFIG_HOME/cell
// when XDG_CONFIG_HOME is absolute and a directory the caller owns, else
// .config/cell in $HOME when the caller owns that, else in the home of
// uid's entry in the user database. A directory named by the environment
// that is someone else's (sudo keeps the invoking user's HOME and
// XDG_CONFIG_HOME) is never used, so root's runs do not take a store
// that another user can write.
func Dir(getenv func(string) string, uid uint32) (string, error) {
	owned := func(dir string) bool {
		if !filepath.IsAbs(dir) {
			return false
		}
		st, err := os.Stat(dir)
		return err == nil && st.IsDir() && owner(st) == uid
	}
	if x := getenv("XDG_CONFIG_HOME"); owned(x) {
		return filepath.Join(filepath.Clean(x), "cell"), nil
	}
	if h := getenv("HOME"); owned(h) {
		return filepath.Join(filepath.Clean(h), ".config", "cell"), nil
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return "", fmt.Errorf("trust store: find the home directory of uid %d: %w", uid, err)
	}
	if !filepath.IsAbs(u.HomeDir) {
		return "", fmt.Errorf("trust store: uid %d has no home directory", uid)
	}
	return filepath.Join(u.HomeDir, ".config", "cell"), nil
}

// Store is a caller's trust store.
type Store struct {
	// Dir holds the store; uid is the caller who owns it.
	Dir string
	uid uint32
}

// Open returns the store in dir for the caller uid; nothing is read or
// created yet.
func Open(dir string, uid uint32) *Store { return &Store{Dir: dir, uid: uid} }

// Path is the store's file.
func (s *Store) Path() string { return filepath.Join(s.Dir, storeFile) }

// checkDir checks that the store's directory and those above are the
// caller's (or root's) and that no one else can write them; a missing
// directory is no error (the store is empty).
func (s *Store) checkDir() (exists bool, err error) {
	st, err := os.Lstat(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("trust store: %w", err)
	}
	if why := storeDirProblem(st.Mode(), owner(st), s.uid); why != "" {
		return false, fmt.Errorf("trust store: directory %s is %s", s.Dir, why)
	}
	if err := checkChain(s.Dir, filepath.Dir(s.Dir), s.uid); err != nil {
		var u *UnsafeError
		if errors.As(err, &u) {
			return false, fmt.Errorf("trust store: directory %s is %s", u.Culprit, u.Reason)
		}
		return false, fmt.Errorf("trust store: %w", err)
	}
	return true, nil
}

// storeDirProblem says why a store directory with this mode and owner is
// not the caller's alone, or "".
func storeDirProblem(mode os.FileMode, owner, uid uint32) string {
	switch {
	case !mode.IsDir():
		return "not a directory"
	case owner != uid:
		return fmt.Sprintf("owned by uid %d, not by the caller (uid %d)", owner, uid)
	case mode.Perm()&0o022 != 0:
		return fmt.Sprintf("writable by group or others (mode %04o)", mode.Perm())
	}
	return ""
}

// Entries reads the store. A store that is missing is empty; one that
// another user could have written is an error, never ignored.
func (s *Store) Entries() ([]Entry, error) {
	exists, err := s.checkDir()
	if err != nil || !exists {
		return nil, err
	}
	return s.read()
}

func (s *Store) read() ([]Entry, error) {
	f, err := os.OpenFile(s.Path(), os.O_RDONLY|unix.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trust store: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("trust store: %w", err)
	}
	if why := fileProblem(st.Mode(), owner(st), s.uid); why != "" {
		return nil, fmt.Errorf("trust store %s: it is %s", s.Path(), why)
	}
	data, err := io.ReadAll(io.LimitReader(f, 16*maxSize))
	if err != nil {
		return nil, fmt.Errorf("trust store: %w", err)
	}
	entries, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("trust store %s: %w", s.Path(), err)
	}
	return entries, nil
}

// Update changes the store under a lock: change gets the entries and
// returns the new ones, which replace the file at once (a new file
// renamed over the old), mode 0600 in a directory of mode 0700.
func (s *Store) Update(change func([]Entry) ([]Entry, error)) error {
	exists, err := s.checkDir()
	if err != nil {
		return err
	}
	if !exists {
		if err := os.MkdirAll(s.Dir, 0o700); err != nil {
			return fmt.Errorf("trust store: %w", err)
		}
		if _, err := s.checkDir(); err != nil {
			return err
		}
	}
	dir, err := os.Open(s.Dir)
	if err != nil {
		return fmt.Errorf("trust store: %w", err)
	}
	defer dir.Close()
	// Two cell trust at once must not lose one's entry.
	if err := unix.Flock(int(dir.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("trust store: lock %s: %w", s.Dir, err)
	}
	entries, err := s.read()
	if err != nil {
		return err
	}
	entries, err = change(entries)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.Dir, storeFile+".*")
	if err != nil {
		return fmt.Errorf("trust store: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(Format(entries))
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.Path())
	}
	if err == nil {
		err = dir.Sync()
	}
	if err != nil {
		return fmt.Errorf("trust store: write %s: %w", s.Path(), err)
	}
	return nil
}

// Add trusts the entries, replacing those of the same paths.
func (s *Store) Add(add ...Entry) error {
	return s.Update(func(entries []Entry) ([]Entry, error) {
		entries = slices.DeleteFunc(entries, func(e Entry) bool {
			return slices.ContainsFunc(add, func(a Entry) bool { return a.Path == e.Path })
		})
		return append(entries, add...), nil
	})
}

// Remove revokes the trust of paths; it is an error when one of them is
// not trusted.
func (s *Store) Remove(paths ...string) error {
	return s.Update(func(entries []Entry) ([]Entry, error) {
		for _, p := range paths {
			if !slices.ContainsFunc(entries, func(e Entry) bool { return e.Path == p }) {
				return nil, fmt.Errorf("trust --revoke: %s is not trusted", p)
			}
		}
		return slices.DeleteFunc(entries, func(e Entry) bool { return slices.Contains(paths, e.Path) }), nil
	})
}

// UntrustedError is a file the caller has not trusted, or trusted with
// other content.
type UntrustedError struct {
	// Path is the file and Root the discovered profile that uses it (the
	// same file, or one that extends it).
	Path, Root string
	// Changed is set when the file was trusted with other content.
	Changed bool
}

func (e *UntrustedError) Error() string {
	what := "is not trusted"
	if e.Changed {
		what = "has changed since it was trusted"
	}
	if e.Path != e.Root {
		return fmt.Sprintf("profile %s extends %s, which %s", e.Root, e.Path, what)
	}
	return fmt.Sprintf("profile %s %s", e.Path, what)
}

// Hint says how to trust it.
func (e *UntrustedError) Hint() string {
	how := "read it (cell explain, cell show), then run: cell trust " + e.Root
	if e.Changed {
		how = "review the change (cell explain, cell show), then trust it again: cell trust " + e.Root
	}
	return "a profile found by searching must be trusted before cell runs it, since a sandbox that can write the directory could have written it; " + how
}

// Verify checks that every file, the first being the discovered profile
// root and the others the local files it extends, is trusted with its
// content among entries.
func Verify(entries []Entry, files []Entry) error {
	if len(files) == 0 {
		return nil
	}
	root := files[0].Path
	for _, f := range files {
		i := slices.IndexFunc(entries, func(e Entry) bool { return e.Path == f.Path })
		if i < 0 {
			return &UntrustedError{Path: f.Path, Root: root}
		}
		if entries[i].Sum != f.Sum {
			return &UntrustedError{Path: f.Path, Root: root, Changed: true}
		}
	}
	return nil
}
