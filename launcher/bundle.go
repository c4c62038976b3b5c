//go:build !cell_lean

package launcher

import (
	"github.com/cellsandbox/cell/spec"
	"github.com/cellsandbox/cell/spec/oci"
)

// bundlesLinked says that this build reads OCI bundles.
const bundlesLinked = true

// parseBundle parses an OCI bundle's config.json (data, read from file;
// relative paths are relative to dir) as a profile.
func parseBundle(file string, data []byte, dir string) (*spec.Profile, error) {
	return oci.Parse(file, data, dir)
}
