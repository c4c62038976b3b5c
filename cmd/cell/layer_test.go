package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoSupervisorInCLI: cmd/cell keeps flags, output formats and exit
// statuses; starting, supervising and serving sandboxes is package
// launcher's (issue 15). No file of cmd/cell starts a sandbox, serves a
// socket, holds a thread for a sandbox, relays or sends signals, or
// waits on processes; only main.go notifies SIGPIPE, for every command.
func TestNoSupervisorInCLI(t *testing.T) {
	forbidden := map[string]bool{
		"sandbox.Start": true, "pool.Accept": true, "pool.ServeExec": true,
		"runtime.LockOSThread": true, "signal.Notify": true, "signal.NotifyContext": true,
		"unix.Kill": true, "unix.Poll": true, "unix.PidfdOpen": true, "unix.Wait4": true,
		"syscall.Kill": true, "net.ListenUnix": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "os/signal" && name != "main.go" {
				t.Errorf("%s imports os/signal", fset.Position(imp.Pos()))
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			call := x.Name + "." + sel.Sel.Name
			if forbidden[call] && !(name == "main.go" && call == "signal.Notify") {
				t.Errorf("%s: %s belongs in package launcher", fset.Position(sel.Pos()), call)
			}
			return true
		})
	}
}
