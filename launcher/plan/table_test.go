package plan

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the op table of README.md")

// executors are the functions of internal/sandbox that run steps: a step
// type that one of their type switches names is run there. (Other type
// switches there only look at steps: which descriptors or hand-back
// directories they name.)
var executors = []string{"Start", "parentStep", "teardown", "(*initExec).step", "(*cgroups).step", "(*nets).step", "(*nets).cleanup"}

// README's op table lies between these lines.
const (
	tableStart = "<!-- op table: written by go test ./launcher/plan -run OpTableInREADME -update; do not edit -->"
	tableEnd   = "<!-- end of the op table -->"
)

// TestOpTableInREADME checks README's table of every op: the files of
// internal/compile that produce its steps and the functions of
// internal/sandbox that run them, both read from the code, so that the
// table cannot rot. Every op must have a producer and an executor.
func TestOpTableInREADME(t *testing.T) {
	producers := uses(t, "../../internal/compile", func(fn *ast.FuncDecl, n ast.Node) (string, bool) {
		cl, ok := n.(*ast.CompositeLit)
		if !ok {
			return "", false
		}
		return planType(cl.Type), true
	})
	runners := uses(t, "../../internal/sandbox", func(fn *ast.FuncDecl, n ast.Node) (string, bool) {
		cc, ok := n.(*ast.CaseClause)
		if !ok || !slices.Contains(executors, funcName(fn)) {
			return "", false
		}
		var types []string
		for _, e := range cc.List {
			if st, ok := e.(*ast.StarExpr); ok {
				types = append(types, planType(st.X))
			}
		}
		return strings.Join(types, " "), true
	})
	var b strings.Builder
	b.WriteString(tableStart + "\n\n| op | action (launcher/plan) | produced in internal/compile | run by internal/sandbox |\n| --- | --- | --- | --- |\n")
	for _, op := range Ops() {
		name := reflect.TypeOf(New(op)).Elem().Name()
		p, r := producers[name], runners[name]
		if len(p) == 0 {
			t.Errorf("%s (%s): no file of internal/compile makes it", op, name)
		}
		if len(r) == 0 {
			t.Errorf("%s (%s): no executor of internal/sandbox runs it (%v)", op, name, executors)
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", op, name, code(p), code(r))
	}
	b.WriteString("\n" + tableEnd)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	start, end := strings.Index(string(readme), tableStart), strings.Index(string(readme), tableEnd)
	if start < 0 || end < start {
		t.Fatalf("README.md has no op table between %q and %q", tableStart, tableEnd)
	}
	got := string(readme[start : end+len(tableEnd)])
	if got == b.String() {
		return
	}
	if *update {
		out := string(readme[:start]) + b.String() + string(readme[end+len(tableEnd):])
		if err := os.WriteFile("../../README.md", []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's op table is stale; run go test ./launcher/plan -run OpTableInREADME -update. Want:\n%s", b.String())
}

// uses returns, for each name of a plan type that match finds in the Go
// files of dir (tests left out), where: the file, or for a function that
// is an executor, file: function.
func uses(t *testing.T, dir string, match func(*ast.FuncDecl, ast.Node) (string, bool)) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string][]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				names, ok := match(fn, n)
				if !ok {
					return true
				}
				where := filepath.Base(f)
				if _, isCase := n.(*ast.CaseClause); isCase {
					where += ": " + funcName(fn)
				}
				for _, name := range strings.Fields(names) {
					if !slices.Contains(found[name], where) {
						found[name] = append(found[name], where)
					}
				}
				return true
			})
		}
	}
	return found
}

// code prints each of l as code, separated by commas.
func code(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}

// planType is the name of T in plan.T, "" for another expression.
func planType(e ast.Expr) string {
	if sel, ok := e.(*ast.SelectorExpr); ok {
		if id, ok := sel.X.(*ast.Ident); ok && id.Name == "plan" {
			return sel.Sel.Name
		}
	}
	return ""
}

// funcName is "F", or "(*T).M" for a method.
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	switch r := fn.Recv.List[0].Type.(type) {
	case *ast.StarExpr:
		if id, ok := r.X.(*ast.Ident); ok {
			return "(*" + id.Name + ")." + fn.Name.Name
		}
	case *ast.Ident:
		return r.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}
