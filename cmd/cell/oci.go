package main

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cellsandbox/cell/profiles"
	"github.com/cellsandbox/cell/spec"
	"github.com/cellsandbox/cell/spec/oci"
)

// bundleConfig returns the config.json of name when name is an OCI bundle
// (a directory holding config.json, or config.json itself), so that every
// command that reads a profile by name reads a bundle too. A built-in
// name is the built-in even where a directory of that name is a bundle.
func bundleConfig(name string) (string, bool) {
	if isBuiltin(name) && slices.Contains(profiles.Names(), name) {
		return "", false
	}
	return oci.Bundle(name)
}

// parseBundle reads the text of a bundle's config.json, named file in
// positions ("REV:path/config.json" when read from git), as a profile.
// --set edits YAML profiles; a bundle is what its engine wrote, so it
// takes none.
func parseBundle(file string, data []byte, sets []string) (*spec.Profile, error) {
	if len(sets) > 0 {
		return nil, errors.New("--set does not apply to an OCI bundle: edit its config.json")
	}
	path := file
	if i := strings.Index(path, ":"); i >= 0 && filepath.Base(path) == oci.ConfigName && !strings.HasPrefix(path, "/") {
		path = path[i+1:] // from git: relative paths are the bundle's
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	return oci.Parse(file, data, dir)
}
