package ociruntime

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOnlyLauncherAPI: the OCI runtime is built on package launcher's Go
// API (issues 15 and 17), as a program outside this module would be: no
// file of it or of cmd/cell-oci compiles a profile or executes a plan
// through cell's own packages, which would let it launch what the
// launcher's checks never saw (a detached plan's cleanup, an engine's
// name). Nor does it operate on a running sandbox's cgroups or probe the
// host itself: launcher's Cgroup (from CgroupOf) lists, freezes, kills
// and updates them, and HostFacts probes, as for any other caller, so
// that there is one implementation of each.
func TestOnlyLauncherAPI(t *testing.T) {
	forbidden := []string{
		"github.com/cellsandbox/cell/internal/compile",
		"github.com/cellsandbox/cell/internal/sandbox",
		"github.com/cellsandbox/cell/internal/cgroup",
		"github.com/cellsandbox/cell/internal/host/probe",
	}
	fset := token.NewFileSet()
	n := 0
	for _, dir := range []string{".", filepath.Join("..", "..", "cmd", "cell-oci")} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			n++
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				for _, x := range forbidden {
					if p == x || strings.HasPrefix(p, x+"/") {
						t.Errorf("%s imports %s: the OCI runtime uses package launcher's API", fset.Position(imp.Pos()), p)
					}
				}
			}
		}
	}
	if n < 5 {
		t.Fatalf("read %d files of the runtime; the test looks in the wrong place", n)
	}
}
