package state

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// UpdateLocked runs f on the list that file holds in JSON, under an
// exclusive flock(2) of the file, and writes back what f returns: the
// leases of bridge addresses and of ID slots are kept so. The lock is
// held for the update only. The file is made 0600 in a 0700 directory,
// and is not opened through a symbolic link. A file that does not decode
// is an error, and is left as it is for a person to look at: removable
// says when it may go ("when no sandbox uses bridge cell0").
func UpdateLocked[T any](file, removable string, f func([]T) ([]T, error)) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	fd, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	defer fd.Close()
	if err := unix.Flock(int(fd.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("flock %s: %w", file, err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var list []T
	if len(b) > 0 {
		if err := json.Unmarshal(b, &list); err != nil {
			return fmt.Errorf("lease file %s is damaged (%v); remove it %s", file, err, removable)
		}
	}
	out, err := f(list)
	if err != nil {
		return err
	}
	if b, err = json.Marshal(out); err != nil {
		return err
	}
	// Rewritten in place under the lock; a reader takes the lock first.
	if err := fd.Truncate(0); err != nil {
		return err
	}
	if _, err := fd.WriteAt(b, 0); err != nil {
		return err
	}
	return fd.Sync()
}
