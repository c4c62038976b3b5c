package launcher

import (
	"io"
	"os"
	"sync/atomic"

	"github.com/cellsandbox/cell/internal/compile"
	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/internal/sandbox"
)

// initCalled records that this process's main called Init, so that its
// executable may be re-executed as a sandbox's init. It is a fact about
// the process, not an option, and is set once, before any launch.
var initCalled atomic.Bool

// Init must be called first in main by a program whose sandboxes run
// this program's own executable as their init (Invocation.Init "" where
// FindInit finds no cell-init). When the process is a sandbox's init
// (argv[0] "cell-init"), a sandbox's egress proxy (argv[0] "cell-egress",
// which the sandbox package starts from this executable for a profile
// with domain rules) or the short-lived holder of an ID-mapped mount's
// user namespace, Init does that work and exits the process;
// otherwise it returns at once, having recorded that the executable
// serves as init. Nothing else of the program runs in the sandbox's
// init: no flag parsing, no other initialisation than Go's packages'.
//
//	func main() {
//		launcher.Init()
//		...
//	}
//
// A test binary calls it at the top of TestMain.
func Init() {
	if len(os.Args) > 0 {
		switch os.Args[0] {
		case compile.InitArg0:
			os.Exit(sandbox.Init())
		case network.ProxyProcess:
			os.Exit(proxyMain())
		case sandbox.UsernsHolder:
			_, _ = io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}
	}
	initCalled.Store(true)
}
