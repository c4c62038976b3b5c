package trust

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Name is the file that names a directory's profile.
const Name = ".cell.yaml"

// maxSize bounds what Read reads: a profile is a few kilobytes.
const maxSize = 1 << 20

// Find returns the nearest regular file called Name in dir or above, or
// "" when there is none. dir must be absolute.
func Find(dir string) string {
	dir = filepath.Clean(dir)
	for {
		f := filepath.Join(dir, Name)
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			return f
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// UnsafeError is a file that another user could have written or
// replaced.
type UnsafeError struct {
	// Path is the file refused; Culprit is the file or directory that
	// makes it unsafe, and Reason says how.
	Path, Culprit, Reason string
}

func (e *UnsafeError) Error() string {
	if e.Culprit == e.Path {
		return fmt.Sprintf("refuse profile %s: it is %s", e.Path, e.Reason)
	}
	return fmt.Sprintf("refuse profile %s: directory %s is %s", e.Path, e.Culprit, e.Reason)
}

// Hint says how to use the file anyway.
func (e *UnsafeError) Hint() string {
	return fmt.Sprintf("cell uses a profile it finds by itself only when the caller owns it and no one else can change it or its directories (as git's safe.directory); review it and name it with -p %s to use it anyway, or fix the owner and mode of %s", e.Path, e.Culprit)
}

// fileProblem says why a profile file with this mode and owner is not
// safe for the caller uid, or "".
func fileProblem(mode fs.FileMode, owner, uid uint32) string {
	switch {
	case !mode.IsRegular():
		return "not a regular file"
	case owner != uid:
		return fmt.Sprintf("owned by uid %d, not by the caller (uid %d)", owner, uid)
	case mode.Perm()&0o022 != 0:
		return fmt.Sprintf("writable by group or others (mode %04o)", mode.Perm())
	}
	return ""
}

// dirProblem says why a directory with this mode and owner could let
// someone other than uid replace what it holds, or "".
func dirProblem(mode fs.FileMode, owner, uid uint32) string {
	switch {
	case !mode.IsDir():
		return "not a directory"
	case owner != uid && owner != 0:
		return fmt.Sprintf("owned by uid %d, neither the caller (uid %d) nor root", owner, uid)
	case mode.Perm()&0o022 != 0 && mode&fs.ModeSticky == 0:
		return fmt.Sprintf("writable by group or others and not sticky (mode %04o)", mode.Perm())
	}
	return ""
}

// checkChain checks dir and each directory above it for the caller uid;
// path is the file being checked, for the error.
func checkChain(path, dir string, uid uint32) error {
	for {
		st, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if why := dirProblem(st.Mode(), owner(st), uid); why != "" {
			return &UnsafeError{Path: path, Culprit: dir, Reason: why}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// owner is the uid of a file's stat.
func owner(st fs.FileInfo) uint32 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Uid
	}
	return ^uint32(0)
}

// Read reads the profile file path for the caller uid when it is safe: a
// regular file owned by uid, writable by no one else, in directories
// that only uid or root can change (both the directories it is named
// through and those it resolves to). path must be absolute.
func Read(path string, uid uint32) ([]byte, error) {
	if err := checkChain(path, filepath.Dir(path), uid); err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("read profile %s: %w", path, err)
	}
	if real != path {
		if err := checkChain(path, filepath.Dir(real), uid); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	if why := fileProblem(st.Mode(), owner(st), uid); why != "" {
		return nil, &UnsafeError{Path: path, Culprit: path, Reason: why}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	if len(data) > maxSize {
		return nil, fmt.Errorf("read profile %s: larger than %d bytes", path, maxSize)
	}
	return data, nil
}

// Key is the name the store keeps path under: absolute, with the
// symbolic links of its directory resolved (the file itself may be a
// link; it is the name in that directory that is trusted).
func Key(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

// IsUnsafe reports whether err is a refusal for ownership or mode.
func IsUnsafe(err error) bool {
	var u *UnsafeError
	return errors.As(err, &u)
}
