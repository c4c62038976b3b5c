// The Go runtime would keep two cgroupfs files open to follow the
// cgroup's CPU limit (GOMAXPROCS): in init they are host descriptors in
// pid 1, and init closes at start every descriptor the plan does not name.

//go:debug containermaxprocs=0

// Command cell-init is a sandbox's init, built on its own: cell runs it
// instead of re-executing itself when it is installed beside cell from
// the same build (see launcher.FindInit). It holds only the
// executor's packages, without cell's profile parser, validator and
// command line, so that it starts ~2 ms sooner and stays resident in
// about half the memory.
package main

import (
	"os"

	"github.com/cellsandbox/cell/internal/sandbox"
)

func main() { os.Exit(sandbox.Init()) }
