package trust

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ReachError is a sandbox that could write the trust store.
type ReachError struct {
	// Store is the store's directory, Bind the writable host path that
	// holds it.
	Store, Bind string
}

func (e *ReachError) Error() string {
	return fmt.Sprintf("refuse to run: the writable bind of %s holds cell's trust store %s, so the sandbox could trust its own next profile", e.Bind, e.Store)
}

// Hint says what to do instead.
func (e *ReachError) Hint() string {
	return "run from a directory that does not contain " + e.Store + " (not $HOME or ~/.config), or bind a narrower path writable"
}

// within reports whether path is dir or lies under it; both are clean
// absolute paths.
func within(path, dir string) bool {
	return path == dir || dir == "/" || strings.HasPrefix(path, dir+"/")
}

// resolve returns path with the symbolic links of its longest existing
// prefix resolved.
func resolve(path string) string {
	path = filepath.Clean(path)
	var rest []string
	for {
		if real, err := filepath.EvalSymlinks(path); err == nil {
			return filepath.Join(append([]string{real}, rest...)...)
		} else if !errors.Is(err, os.ErrNotExist) {
			return filepath.Join(append([]string{path}, rest...)...)
		}
		parent := filepath.Dir(path)
		if parent == path {
			return filepath.Join(append([]string{path}, rest...)...)
		}
		rest = append([]string{filepath.Base(path)}, rest...)
		path = parent
	}
}

// Covering returns an error when one of the host paths that a sandbox
// can write (its writable binds' sources) is the store's directory dir,
// lies above it or in it, so that the sandbox could add itself to the
// store.
// Both are compared with their symbolic links resolved.
func Covering(dir string, writable []string) error {
	store := resolve(dir)
	for _, w := range writable {
		if !filepath.IsAbs(w) {
			continue
		}
		if r := resolve(w); within(store, r) || within(r, store) {
			return &ReachError{Store: dir, Bind: w}
		}
	}
	return nil
}
