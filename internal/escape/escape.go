package escape

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Package is the import path of the escape program.
const Package = "github.com/cellsandbox/cell/internal/escape/cmd/escape"

// RealityPackage is the import path of the reality probe, which checks
// the claims of cell explain --format json from inside a sandbox.
const RealityPackage = "github.com/cellsandbox/cell/internal/escape/cmd/reality"

// program is one program, compiled once per test binary and kept in
// memory, so that each test gets its own copy in a directory it owns and
// nothing is left behind.
type program struct {
	once sync.Once
	bin  []byte
	err  error
}

// built are the escape program and the reality probe: the one piece of
// package state, a cache that tests share.
var built = map[string]*program{Package: {}, RealityPackage: {}}

// Build returns the path of the escape program, a static binary
// (CGO_ENABLED=0) in a new directory of mode 0755, so that any user can
// run it and a sandbox can bind it. The program is compiled once per test
// binary; the directory is removed when the test ends.
func Build(t testing.TB) string {
	t.Helper()
	return buildProgram(t, Package, "escape")
}

// BuildReality returns the path of the reality probe, as Build does for
// the escape program.
func BuildReality(t testing.TB) string {
	t.Helper()
	return buildProgram(t, RealityPackage, "reality")
}

func buildProgram(t testing.TB, pkg, name string) string {
	t.Helper()
	b := built[pkg]
	b.once.Do(func() { b.bin, b.err = compile(pkg) })
	if b.err != nil {
		t.Fatalf("build %s: %v", pkg, b.err)
	}
	dir, err := os.MkdirTemp("", "cell-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// compile runs go build of pkg and returns the binary.
func compile(pkg string) ([]byte, error) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("no go command in PATH: %w", err)
	}
	dir, err := os.MkdirTemp("", "cell-escape-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "escape")
	cmd := exec.Command(gotool, "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	// Inside the module, whatever the caller's working directory.
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		cmd.Dir = filepath.Dir(file)
	}
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, msg)
	}
	return os.ReadFile(out)
}

// Names returns the names of the program's attempts (bin -list), in the
// order it makes them.
func Names(t testing.TB, bin string) []string {
	t.Helper()
	out, err := exec.Command(bin, "-list").Output()
	if err != nil {
		t.Fatalf("%s -list: %v", bin, err)
	}
	return strings.Fields(string(out))
}

// Status is the outcome of one attempt.
type Status uint8

// The outcomes, as the program prints them.
const (
	// Blocked: the attempt failed; the detail gives the errno or reason.
	Blocked Status = iota
	// Escaped: the attempt succeeded; the detail says what happened.
	Escaped
	// Skipped: the attempt means nothing here (TIOCSTI without a
	// terminal, for example).
	Skipped
)

func (s Status) String() string {
	switch s {
	case Blocked:
		return "BLOCKED"
	case Escaped:
		return "ESCAPED"
	case Skipped:
		return "SKIPPED"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// Result is one line of the program's output.
type Result struct {
	Status Status
	Name   string
	Detail string
}

// String prints the result as the program does: "BLOCKED mount: EPERM
// (operation not permitted)".
func (r Result) String() string {
	return fmt.Sprintf("%s %s: %s", r.Status, r.Name, r.Detail)
}

var lineRE = regexp.MustCompile(`^(BLOCKED|ESCAPED|SKIPPED) ([a-z][a-z0-9-]*): (\S.*)$`)

// Parse reads the program's output. Every line must be a result, and an
// attempt must not appear twice.
func Parse(out string) ([]Result, error) {
	var rs []Result
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for n := 1; sc.Scan(); n++ {
		m := lineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			return rs, fmt.Errorf("line %d: %q is not \"BLOCKED|ESCAPED|SKIPPED name: detail\"", n, sc.Text())
		}
		if seen[m[2]] {
			return rs, fmt.Errorf("line %d: %s reported twice", n, m[2])
		}
		seen[m[2]] = true
		r := Result{Name: m[2], Detail: m[3]}
		switch m[1] {
		case "BLOCKED":
			r.Status = Blocked
		case "ESCAPED":
			r.Status = Escaped
		case "SKIPPED":
			r.Status = Skipped
		}
		rs = append(rs, r)
	}
	return rs, sc.Err()
}

// Select returns the results with status s.
func Select(rs []Result, s Status) []Result {
	var out []Result
	for _, r := range rs {
		if r.Status == s {
			out = append(out, r)
		}
	}
	return out
}

// Verify parses the output of a run of the program inside a sandbox, logs
// it, and fails the test for a malformed line, an empty output or any
// attempt that escaped, and, when names are given, for an attempt of names
// that printed no line (the sandbox died under the program, as when its
// init crashes). It returns the results.
func Verify(t testing.TB, out []byte, names ...string) []Result {
	t.Helper()
	t.Logf("escape program:\n%s", out)
	rs, err := Parse(string(out))
	if err != nil {
		t.Fatalf("escape program output: %v", err)
	}
	if len(rs) == 0 {
		t.Fatal("the escape program printed nothing")
	}
	for _, r := range Select(rs, Escaped) {
		t.Errorf("the sandbox let an attempt through: %s", r)
	}
	printed := map[string]bool{}
	for _, r := range rs {
		printed[r.Name] = true
	}
	for _, n := range names {
		if !printed[n] {
			t.Errorf("attempt %s printed no line: the program did not get that far", n)
		}
	}
	return rs
}
