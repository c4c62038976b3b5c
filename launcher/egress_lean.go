// A program built with the cell_lean tag (cell's run binary) does not
// link the egress proxy and its DNS library: it leaves
// sandbox.SpawnEgress to its main, which starts the proxy from the
// program that has it, or leaves it nil, and then a sandbox whose plan
// has a proxy is ended, not run without one.

//go:build cell_lean

package launcher

import (
	"fmt"
	"os"

	"github.com/cellsandbox/cell/internal/network"
)

// proxyMain refuses to be the egress proxy: this program does not link it.
func proxyMain() int {
	fmt.Fprintf(os.Stderr, "%s: this program was built without the egress proxy (the cell_lean tag)\n", network.ProxyProcess)
	return 1
}
