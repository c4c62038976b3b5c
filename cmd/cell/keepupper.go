package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// keepDir makes the directory of one run's --keep-upper DIR: DIR/1,
// DIR/2, ..., the first number not taken, so that runs never share or
// collide with one another's layers. mkdir(2) claims it atomically.
//
// DIR is often in the project, which a sandbox could write: it may have
// planted DIR (or, below the working directory, one of DIR's parents) as
// a link to anywhere on the host, or another user may have made DIR to
// swap its runs' directories later. So DIR and every component below the
// working directory are made and opened without following symlinks, and
// DIR must be the caller's own and writable by nobody else; the run's
// directory is made inside the descriptor that was checked.
func keepDir(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("--keep-upper: %w", err)
	}
	// Above the working directory, the path is the caller's own choice
	// (a /home that is a link is fine); below it, nothing may be a link.
	from, rel := filepath.Dir(dir), filepath.Base(dir)
	if cwd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(cwd, dir); err == nil && r != "." && r != ".." && !strings.HasPrefix(r, "../") {
			from, rel = cwd, r
		}
	}
	if err := os.MkdirAll(from, 0o755); err != nil {
		return "", fmt.Errorf("--keep-upper: %w", err)
	}
	fd, err := unix.Open(from, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("--keep-upper: open %s: %w", from, err)
	}
	at := from
	names := strings.Split(rel, "/")
	for i, name := range names {
		at = filepath.Join(at, name)
		mode := uint32(0o755)
		if i == len(names)-1 {
			mode = 0o700
		}
		next, err := mkdirNoFollow(fd, name, at, mode)
		unix.Close(fd)
		if err != nil {
			return "", err
		}
		fd = next
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", fmt.Errorf("--keep-upper: stat %s: %w", dir, err)
	}
	if int(st.Uid) != os.Geteuid() {
		return "", fmt.Errorf("--keep-upper: %s belongs to uid %d, not to you (uid %d): use a directory of your own", dir, st.Uid, os.Geteuid())
	}
	if st.Mode&0o022 != 0 {
		return "", fmt.Errorf("--keep-upper: %s is writable by others (mode %04o), who could replace a run's directory: chmod go-w it or use another", dir, st.Mode&0o7777)
	}
	for n := 1; ; n++ {
		// 0700: what the command wrote is the caller's to look at, not
		// every user's (set-ID bits aside, it may hold secrets).
		err := unix.Mkdirat(fd, strconv.Itoa(n), 0o700)
		if err == nil {
			return filepath.Join(dir, strconv.Itoa(n)), nil
		}
		if !errors.Is(err, unix.EEXIST) || n == 1<<20 {
			return "", fmt.Errorf("--keep-upper: mkdir %s: %w", filepath.Join(dir, strconv.Itoa(n)), err)
		}
	}
}

// mkdirNoFollow makes the directory name in dir unless it exists, and
// opens it without following a symlink; at is its path, for messages.
func mkdirNoFollow(dir int, name, at string, mode uint32) (int, error) {
	if err := unix.Mkdirat(dir, name, mode); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("--keep-upper: mkdir %s: %w", at, err)
	}
	fd, err := unix.Openat(dir, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		var st unix.Stat_t
		if unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return -1, fmt.Errorf("--keep-upper: %s is a symlink (a sandbox that could write there may have planted it); refused: remove it or use another directory", at)
		}
		return -1, fmt.Errorf("--keep-upper: open %s: %w", at, err)
	}
	return fd, nil
}
