// Package sibling decides whether a program that lies beside cell's own
// executable (cell-init, cell-tools) may be run in cell's place: it must
// be cell's build, and no other user may have put it there. The
// programs are found beside os.Executable, never on $PATH, which a
// sandbox's user or the caller's environment could point elsewhere.
package sibling

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Safe says why path may not stand in for self (cell's executable), or
// returns "": it must be a regular executable with self's owner,
// writable by no one else, in a directory that only root or that owner
// can write, so that no other user can put a program in its place.
func Safe(self, path string) string {
	var selfSt, st, dirSt unix.Stat_t
	if err := unix.Stat(self, &selfSt); err != nil {
		return err.Error()
	}
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Sprintf("no %s beside %s", filepath.Base(path), self)
	}
	if err := unix.Stat(filepath.Dir(path), &dirSt); err != nil {
		return err.Error()
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0:
		return path + " is not an executable file"
	case st.Uid != selfSt.Uid:
		return fmt.Sprintf("%s is owned by uid %d, cell by uid %d", path, st.Uid, selfSt.Uid)
	case st.Mode&0o022 != 0:
		return path + " is writable by its group or others"
	case dirSt.Uid != 0 && dirSt.Uid != selfSt.Uid, dirSt.Mode&0o022 != 0 && dirSt.Mode&unix.S_ISVTX == 0:
		return filepath.Dir(path) + " can be written by another user"
	}
	return ""
}

// BuildID reads the Go build ID of the executable at path (what `go
// tool buildid` prints): the linker's hash of the program's inputs, then
// of its own bytes, so two builds that differ in any way have different
// IDs. It is read from the ELF note that the Go linker writes
// (.note.go.buildid), without reading the rest of the file.
func BuildID(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := f.Section(".note.go.buildid")
	if s == nil {
		return "", fmt.Errorf("%s: no Go build ID (not a Go program)", path)
	}
	b, err := s.Data()
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return parseNote(b, f.ByteOrder)
}

// parseNote reads an ELF note of Go's build ID: name size, description
// size and type (4), the name "Go" padded to 4 bytes, then the ID.
func parseNote(b []byte, order binary.ByteOrder) (string, error) {
	const goBuildIDNote = 4
	if len(b) < 16 {
		return "", errors.New("the Go build ID note is too short")
	}
	namesz, descsz, typ := order.Uint32(b), order.Uint32(b[4:]), order.Uint32(b[8:])
	name := b[12:]
	if typ != goBuildIDNote || namesz != 4 || !bytes.Equal(name[:4], []byte("Go\x00\x00")) || uint32(len(b)) < 16+descsz {
		return "", errors.New("the Go build ID note is malformed")
	}
	return string(b[16 : 16+descsz]), nil
}
