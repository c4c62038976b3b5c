// Package procsys writes kernel parameters under /proc/sys, for the
// sandbox's init; the sysctl package says which ones a sandbox may set.
package procsys

import (
	"fmt"
	"os"

	"github.com/cellsandbox/cell/internal/sysctl"
)

// Write sets the parameter name to value through /proc/sys, which shows
// the parameters of the caller's own namespaces. It must run in the
// sandbox's namespaces, with a /proc mounted at /proc.
func Write(name, value string) error {
	p := sysctl.Path(name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", name, err)
	}
	if _, err := f.WriteString(value); err != nil {
		f.Close()
		return fmt.Errorf("sysctl %s: write %q to %s: %w", name, value, p, err)
	}
	return f.Close()
}
