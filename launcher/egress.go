//go:build !cell_lean

package launcher

import (
	"io"
	"os"

	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/internal/network/egress"
	"github.com/cellsandbox/cell/internal/network/egress/proc"
	"github.com/cellsandbox/cell/internal/sandbox"
)

// A program that launches through this package serves its sandboxes'
// egress proxies itself: its executable, run again as network.ProxyProcess
// (Init), is the proxy.
func init() {
	sandbox.SpawnEgress = func(self string, p *network.Proxy, listen []network.Listen, files []*os.File, log, trace io.Writer) (sandbox.EgressProxy, error) {
		pr, err := proc.Spawn(self, p, listen, files, log, trace, nil)
		if err != nil {
			return nil, err
		}
		return pr, nil
	}
}

// proxyMain is the egress proxy's process.
func proxyMain() int { return egress.Main() }
