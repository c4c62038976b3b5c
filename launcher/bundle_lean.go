// A program built with the cell_lean tag (cell's run binary) does not
// link the OCI runtime specification's types: it refuses a bundle with
// ErrNotLinked, and cell runs its full build for it.

//go:build cell_lean

package launcher

import (
	"fmt"

	"github.com/cellsandbox/cell/spec"
)

func parseBundle(file string, _ []byte, _ string) (*spec.Profile, error) {
	return nil, &ProfileError{fmt.Errorf("%s: OCI bundles are %w", file, ErrNotLinked)}
}
