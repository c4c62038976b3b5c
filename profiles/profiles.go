// Package profiles holds the built-in profiles, embedded in the cell
// binary. A built-in is named by its file name without ".yaml".
package profiles

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Default is the profile `cell run` uses when none is given.
const Default = "default"

// Get returns the YAML of the built-in profile name.
func Get(name string) ([]byte, error) {
	b, err := files.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no built-in profile %q (built-ins: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Names lists the built-in profiles, sorted.
func Names() []string {
	entries, _ := files.ReadDir(".")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}
