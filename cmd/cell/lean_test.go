package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// buildLean builds cell-tools and cell into dir as make build does: the
// full command first, then the lean run binary with its build ID (or
// with toolsID, when not "").
func buildLean(t *testing.T, dir, toolsID string) {
	t.Helper()
	gobuild := func(args ...string) {
		t.Helper()
		cmd := exec.Command("go", append([]string{"build", "-buildvcs=auto"}, args...)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	tools := filepath.Join(dir, toolsName)
	gobuild("-tags", "urfave_cli_no_docs", "-o", tools, ".")
	if toolsID == "" {
		out, err := exec.Command("go", "tool", "buildid", tools).Output()
		if err != nil {
			t.Fatalf("go tool buildid: %v", err)
		}
		toolsID = strings.TrimSpace(string(out))
	}
	gobuild("-tags", "urfave_cli_no_docs,cell_lean", "-ldflags", "-X main.toolsID="+toolsID, "-o", filepath.Join(dir, "cell"), ".")
}

// outputOf runs bin with args (argv[0] "cell") and returns its stdout,
// stderr and exit status.
func outputOf(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Args[0] = "cell"
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", bin, err)
	}
	return out.String(), errb.String(), 0
}

// TestLeanBuild builds cell as make build does (the lean run binary and
// cell-tools) and checks that the split does not show: cell lists and
// runs every command as cell-tools does (the CLI scripts run against
// it), with the same output and status, and what needs cell-tools is
// refused without it, a sandbox with an egress proxy included.
func TestLeanBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cell")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	buildLean(t, dir, "")
	cell, tools := filepath.Join(dir, "cell"), filepath.Join(dir, toolsName)
	wide := filepath.Join(t.TempDir(), "wide.yaml")
	os.WriteFile(wide, []byte("apiVersion: cell/v1\nname: wide\nnamespaces: {pid: host}\nprocess:\n  passEnv: [GITHUB_TOKEN]\n"), 0o644)

	// The same words, output and status from cell as from cell-tools,
	// for commands cell runs itself and for those it hands over.
	for _, args := range [][]string{
		{"--help"}, {"plan", "--help"}, {"lint", "--help"}, {"help", "lint"}, {"checkpoint", "--help"},
		{"lint", wide}, {"lint", "--fail-on", "low", wide}, {"lint", "--format", "nope", wide},
		{"explain", wide}, {"schema"}, {"profiles"}, {"completion", "fish"}, {"man"},
		{"plan", "--restore", dir}, {"nosuch"},
	} {
		lo, le, ls := outputOf(t, cell, args...)
		fo, fe, fs := outputOf(t, tools, args...)
		if lo != fo || le != fe || ls != fs {
			t.Errorf("cell %s: status %d, stdout %q, stderr %q; cell-tools: status %d, stdout %q, stderr %q",
				strings.Join(args, " "), ls, trim(lo), trim(le), fs, trim(fo), trim(fe))
		}
	}
	if out, _, _ := outputOf(t, cell, "doctor"); !strings.Contains(out, "run path") || !strings.Contains(out, "lean") || !strings.Contains(out, tools) {
		t.Errorf("cell doctor does not say that it is the lean run binary using %s:\n%s", tools, out)
	}

	t.Run("scripts", func(t *testing.T) { testscript.Run(t, scriptParams(cell)) })

	// Without cell-tools, or with another build's, what needs it is
	// refused with the reason.
	alone := filepath.Join(t.TempDir(), "cell")
	copyFile(t, cell, alone)
	other := t.TempDir()
	os.Chmod(other, 0o755)
	buildLean(t, other, "go-build-id-of-another-cell-tools")
	for _, c := range []struct{ bin, why string }{
		{alone, "no cell-tools beside " + alone},
		{filepath.Join(other, "cell"), "is from another build"},
	} {
		_, stderr, status := outputOf(t, c.bin, "lint", wide)
		if status != StatusError || !strings.Contains(stderr, "cell lint is in cell-tools, which this cell cannot use: ") || !strings.Contains(stderr, c.why) {
			t.Errorf("%s lint without its cell-tools: status %d\n%s", c.bin, status, stderr)
		}
		if os.Geteuid() != 0 {
			continue
		}
		// A sandbox with domain rules needs the proxy: it is ended
		// before its command runs, not run without one.
		prof := profile(t, "network:\n  mode: none\n"+egressRules)
		stdout, stderr, status := outputOf(t, c.bin, "run", "-p", prof, "--", "/bin/sh", "-c", "echo ran")
		if status == 0 || strings.Contains(stdout, "ran") || !strings.Contains(stderr, "the egress proxy is in cell-tools") {
			t.Errorf("%s run with an egress proxy and no cell-tools: status %d\nstdout: %s\nstderr: %s", c.bin, status, stdout, stderr)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func trim(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
