package compile

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// module is cell's module path.
const module = "github.com/cellsandbox/cell"

// kernelPackages are the packages whose code touches the kernel (netlink,
// nftables, the cgroup file system, mounts, the setup syscalls), by import
// path prefix: the executor, and the kernel halves of the concerns, which
// are subpackages of the concerns' model packages (network/{link,nft,
// lease,slirp}, cgroup/cgroupfs, landlock/lsm, seccomp/filter,
// rlimit/prlimit, ids/slots, host/probe). A plan is compiled and printed
// without any of them: `cell plan` must not be able to change the host,
// and what compile and plan import is what a program that only plans
// links in.
var kernelPackages = []string{
	"github.com/google/nftables",
	"github.com/mdlayher/",
	"github.com/vishvananda/",
	module + "/internal/sandbox",
	module + "/internal/mounts",
	module + "/internal/network/",
	module + "/internal/cgroup/",
	module + "/internal/landlock/",
	module + "/internal/seccomp/",
	module + "/internal/rlimit/",
	module + "/internal/ids/",
	module + "/internal/host/",
	module + "/internal/state",
	module + "/launcher/pool",
	module + "/internal/escape",
}

// ioImports are the imports of a package that does I/O or syscalls.
var ioImports = map[string]bool{
	"syscall": true, "unsafe": true, "os": true, "os/exec": true, "os/user": true,
	"os/signal": true, "net": true,
}

// pureUnix are the names of golang.org/x/sys/unix that a pure package may
// call: conversions to its types and lookups in its tables of names.
// golang.org/x/sys/unix itself stays in the closure, as plan cannot do
// without it: a plan is written in the kernel's constants (mount and clone
// flags, mount attributes, signal and errno numbers, RLIMIT_*, landlock
// rights) and carries the seccomp filter as []unix.SockFilter. Its syscall
// wrappers are what this test keeps out.
var pureUnix = map[string]bool{
	"Signal": true, "Errno": true, "SignalName": true, "SignalNum": true, "ErrnoName": true,
}

// exempt are cell's packages in the closure that may do I/O, and why.
var exempt = map[string]string{
	// spec marks the end of parsing for `cell run --trace`: a clock read
	// and an append; its /proc reading (ProcessStart) is not called from
	// spec.
	module + "/internal/stamp": "trace marks",
}

// planDeps are the only packages of cell's that plan may import: plan is
// the leaf that every concern package may use (cgroup.Group and
// network.Rule are plan's types), so it imports none of them; it prints
// flag words and capabilities through these two tables of names.
var planDeps = map[string]bool{
	module + "/launcher/plan":     true,
	module + "/internal/bitnames": true,
	module + "/spec/capability":   true,
}

type listed struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Standard   bool
}

// TestPureClosure checks that compiling and printing a plan pulls in no
// package that touches the kernel: neither netlink, nftables nor cell's
// executors, and none of cell's packages in the closure does I/O or calls
// a syscall (issue 15).
func TestPureClosure(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CELL_TEST_STRICT") == "1" {
			t.Fatal("the go command, which lists the dependencies:", err)
		}
		t.Skip("needs the go command to list the dependencies:", err)
	}
	pkgs := goList(t, gocmd, module+"/launcher/plan", module+"/internal/compile")
	n := len(pkgs)
	for _, p := range pkgs {
		for _, k := range kernelPackages {
			if strings.HasPrefix(p.ImportPath, k) {
				t.Errorf("%s is in the closure of plan and compile; it touches the kernel", p.ImportPath)
			}
		}
		if p.Standard || !strings.HasPrefix(p.ImportPath, module+"/") || exempt[p.ImportPath] != "" {
			continue
		}
		for _, imp := range p.Imports {
			if ioImports[imp] {
				t.Errorf("%s, in the closure of plan and compile, imports %s", p.ImportPath, imp)
			}
		}
		for _, f := range p.GoFiles {
			for _, c := range unixCalls(t, filepath.Join(p.Dir, f)) {
				t.Errorf("%s, in the closure of plan and compile, calls %s", p.ImportPath, c)
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list listed %d packages; the test reads the wrong output", n)
	}

	// plan alone: a leaf, with no concern package in its closure.
	leaf := 0
	for _, p := range goList(t, gocmd, module+"/launcher/plan") {
		if strings.HasPrefix(p.ImportPath, module+"/") {
			leaf++
			if !planDeps[p.ImportPath] {
				t.Errorf("%s is in the closure of plan, which imports no concern package", p.ImportPath)
			}
		}
	}
	if leaf < 2 {
		t.Fatalf("go list listed %d of cell's packages for plan; the test reads the wrong output", leaf)
	}
}

// goList returns the dependency closure of pkgs, as go list -deps lists it.
func goList(t *testing.T, gocmd string, pkgs ...string) []listed {
	t.Helper()
	cmd := exec.Command(gocmd, append([]string{"list", "-deps", "-json"}, pkgs...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var all []listed
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			return all
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		all = append(all, p)
	}
}

// unixCalls returns the calls of golang.org/x/sys/unix functions in the
// Go file path other than pureUnix, as file:line: unix.Name.
func unixCalls(t *testing.T, path string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	name := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "golang.org/x/sys/unix" {
			name = "unix"
			if imp.Name != nil {
				name = imp.Name.Name
			}
		}
	}
	if name == "" {
		return nil
	}
	var calls []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && id.Name == name && !pureUnix[sel.Sel.Name] {
			calls = append(calls, fset.Position(call.Pos()).String()+": unix."+sel.Sel.Name)
		}
		return true
	})
	return calls
}

// TestInitBinaryLean: init's own binary (cmd/cell-init) starts in every
// sandbox, so what it links is paid at every launch; the review tools,
// the egress proxy with its DNS library, the OCI runtime and CRIU's RPC
// run in cell's parent or in processes of their own, never in init.
func TestInitBinaryLean(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CELL_TEST_STRICT") == "1" {
			t.Fatal("the go command, which lists the dependencies:", err)
		}
		t.Skip("needs the go command to list the dependencies:", err)
	}
	unwanted := []string{
		"github.com/miekg/dns", module + "/internal/network/egress",
		"github.com/checkpoint-restore/go-criu", "google.golang.org/protobuf",
		"github.com/go-playground/validator", "gopkg.in/yaml.v3", "github.com/urfave/cli",
		module + "/spec/lint", module + "/spec/oci", module + "/internal/ociruntime",
	}
	pkgs := goList(t, gocmd, module+"/cmd/cell-init")
	for _, p := range pkgs {
		for _, u := range unwanted {
			if strings.HasPrefix(p.ImportPath, u) {
				t.Errorf("cmd/cell-init links %s", p.ImportPath)
			}
		}
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list listed %d packages; the test reads the wrong output", len(pkgs))
	}
}

// TestRunBinaryLean keeps cell's run binary (cmd/cell built with the
// cell_lean tag, as make build builds it) free of what only the review
// tools, OCI bundles, checkpoints and the egress proxy need: their
// packages' initialisers and pages cost every launch (cell-tools, the
// same command without the tag, has them).
func TestRunBinaryLean(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CELL_TEST_STRICT") == "1" {
			t.Fatal("the go command, which lists the dependencies:", err)
		}
		t.Skip("needs the go command to list the dependencies:", err)
	}
	unwanted := []string{
		"github.com/miekg/dns", module + "/internal/network/egress",
		"github.com/checkpoint-restore/go-criu", "google.golang.org/protobuf",
		"github.com/opencontainers/runtime-spec", module + "/internal/checkpoint",
		module + "/spec/lint", module + "/spec/diff", module + "/spec/explain",
		module + "/spec/oci", module + "/internal/ociruntime",
	}
	pkgs := goList(t, gocmd, "-tags=cell_lean,urfave_cli_no_docs", module+"/cmd/cell")
	for _, p := range pkgs {
		for _, u := range unwanted {
			// internal/network/egress/proc starts the proxy; it is
			// the proxy's package that must be left out.
			if p.ImportPath == u || strings.HasPrefix(p.ImportPath, u+"/") && p.ImportPath != module+"/internal/network/egress/proc" {
				t.Errorf("cmd/cell (cell_lean) links %s", p.ImportPath)
			}
		}
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list listed %d packages; the test reads the wrong output", len(pkgs))
	}
}
