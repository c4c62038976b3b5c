// A program built with the cell_lean tag (cell's run binary) does not
// link the OCI runtime specification's types: it refuses a bundle with
// ErrNotLinked, and cell runs its full build for it.

//go:build cell_lean

package launcher

import (
	"fmt"

	"github.com/cellsandbox/cell/spec"
)

// bundlesLinked says that this build does not read OCI bundles: Open
// refuses them with ErrNotLinked before anything else is done.
const bundlesLinked = false

func parseBundle(file string, _ []byte, _ string) (*spec.Profile, error) {
	return nil, &ProfileError{fmt.Errorf("%s: OCI bundles are %w", file, ErrNotLinked)}
}
