package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// referenceProfile is the profile of the bwrap reference rows (see
// testdata/reference.yaml): bubblewrap's reference set of issue 16.
//
//go:embed testdata/reference.yaml
var referenceProfile string

// refProfile is the reference profile with binds more read-only binds of
// src at /m/0, /m/1 ... appended to its mounts (which come last).
func refProfile(binds int, src string) string {
	var b strings.Builder
	b.WriteString(referenceProfile)
	for i := range binds {
		fmt.Fprintf(&b, "    - {type: bind, source: %q, target: /m/%d}\n", src, i)
	}
	return b.String()
}

// refBwrapArgs is the bubblewrap command line of the reference set, with
// binds read-only binds of src at /m/0, /m/1 ...: the namespaces of the
// reference profile, /usr read-only with links to it, /etc read-only, a
// private /tmp, /proc and /dev, the command run from /.
func refBwrapArgs(bwrap string, binds int, src string, argv ...string) []string {
	args := []string{bwrap,
		"--unshare-user", "--unshare-pid", "--unshare-uts", "--unshare-ipc", "--unshare-net", "--unshare-cgroup",
		"--ro-bind", "/usr", "/usr",
		"--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
		"--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin",
		"--ro-bind", "/etc", "/etc",
		"--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev",
	}
	for i := range binds {
		args = append(args, "--ro-bind", src, fmt.Sprintf("/m/%d", i))
	}
	args = append(args, "--chdir", "/", "--die-with-parent")
	return append(args, argv...)
}

// reference is where the reference rows' files are: the profile with
// each number of binds, and the directory they bind.
type reference struct {
	dir string
	src string
}

// newReference makes dir/reference with the bind source in it.
func newReference(scratch string) (*reference, error) {
	r := &reference{dir: filepath.Join(scratch, "reference")}
	r.src = filepath.Join(r.dir, "src")
	if err := os.MkdirAll(r.src, 0o755); err != nil {
		return nil, fmt.Errorf("reference profile: %w", err)
	}
	return r, nil
}

// profile writes the reference profile with binds binds and returns its path.
func (r *reference) profile(binds int) (string, error) {
	path := filepath.Join(r.dir, fmt.Sprintf("reference-%d.yaml", binds))
	if err := os.WriteFile(path, []byte(refProfile(binds, r.src)), 0o644); err != nil {
		return "", fmt.Errorf("reference profile: %w", err)
	}
	return path, nil
}

// launchers are the `cell run` and bwrap rows of the reference set with
// binds more binds, each running argv.
func (r *reference) launchers(t tools, binds int, argv ...string) (cell, bwrap launcher, err error) {
	path, err := r.profile(binds)
	if err != nil {
		return cell, bwrap, err
	}
	suffix := ""
	if binds > 0 {
		suffix = fmt.Sprintf(" + %d binds", binds)
	}
	cell = launcher{name: "cell run, bwrap reference profile" + suffix, argv: append([]string{t.cell, "run", "-p", path, "--"}, argv...)}
	bwrap = launcher{name: "bwrap, reference set" + suffix, argv: refBwrapArgs(t.bwrap, binds, r.src, argv...)}
	return cell, bwrap, nil
}

// helloSource is a Go program that does nothing but print: the floor of
// a Go process's start, for the startup rows.
const helloSource = `package main

import "os"

func main() { os.Stdout.WriteString("hello\n") }
`

// startupLaunchers are the startup rows: `cell --help`, which starts
// cell and prints, next to a static Go hello built into scratch with
// the go command on PATH (the toolchain that builds cell); without one,
// the reason the rows were skipped.
func startupLaunchers(ctx context.Context, t tools, scratch string) ([]launcher, []skippedRow) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, []skippedRow{{Name: "cell --help against a static Go hello", Reason: "no go command on PATH to build the hello with"}}
	}
	dir := filepath.Join(scratch, "hello")
	hello := filepath.Join(dir, "hello")
	src := filepath.Join(dir, "main.go")
	if err = os.MkdirAll(dir, 0o755); err == nil {
		err = os.WriteFile(src, []byte(helloSource), 0o644)
	}
	if err == nil {
		cmd := exec.CommandContext(ctx, goCmd, "build", "-o", hello, src)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off", "GOTOOLCHAIN=local", "GOFLAGS=")
		var out []byte
		if out, err = cmd.CombinedOutput(); err != nil {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
		}
	}
	if err != nil {
		return nil, []skippedRow{{Name: "cell --help against a static Go hello", Reason: "build the hello: " + err.Error()}}
	}
	return []launcher{
		{name: "cell --help (startup only)", argv: []string{t.cell, "--help"}},
		{name: "static Go hello (a Go process's start)", argv: []string{hello}},
	}, nil
}

// The targets of issue 16, each a ratio within one run.
const (
	// targetRefWall and targetRefCPU bound `cell run` of the reference
	// profile against bwrap with the reference set.
	targetRefWall = 0.9
	targetRefCPU  = 2.0
	// targetDefault bounds `cell run` of the default profile against
	// bwrap with the reference set.
	targetDefault = 1.0
)

// rowNamed is the index of the result named name, -1 if none.
func (rep *latency) rowNamed(prefix string) int {
	for i, r := range rep.Results {
		if strings.HasPrefix(r.Name, prefix) {
			return i
		}
	}
	return -1
}

// targets prints issue 16's rows: each of cell's medians next to the
// one it is compared with, the ratio and the target.
func (rep *latency) targets(b *bytes.Buffer) {
	rc, rb := rep.rowNamed("cell run, bwrap reference profile"), rep.rowNamed("bwrap, reference set")
	if rc < 0 || rb < 0 {
		return
	}
	cell, bw := rep.Results[rc], rep.Results[rb]
	def := rep.Results[cellIdx]
	b.WriteString("Targets of issue 16 in this run (medians, ms; ratios of cell's to the other's):\n\n")
	b.WriteString("| measure | cell | against | ratio | target | met |\n|---|--:|--:|--:|--:|---|\n")
	row := func(what string, c, o float64, against string, target float64) {
		fmt.Fprintf(b, "| %s | %s | %s (%s) | %s | ≤ %.1f× | %s |\n", what, ms(c), ms(o), against, ratio(c, o), target, metWord(c <= target*o))
	}
	row("`cell run`, reference profile, wall", cell.WallMS.Median, bw.WallMS.Median, "bwrap, reference set", targetRefWall)
	row("`cell run`, reference profile, CPU", cell.CPUMS.Median, bw.CPUMS.Median, "bwrap, reference set", targetRefCPU)
	row("`cell run`, default profile, wall", def.WallMS.Median, bw.WallMS.Median, "bwrap, reference set", targetDefault)
	if len(rep.Results) > crunIdx && rep.Results[crunIdx].Name == "crun" {
		cr := rep.Results[crunIdx]
		fmt.Fprintf(b, "| `cell run`, reference profile, wall | %s | %s (crun, bwrap's default-profile set) | %s | | |\n",
			ms(cell.WallMS.Median), ms(cr.WallMS.Median), ratio(cell.WallMS.Median, cr.WallMS.Median))
		fmt.Fprintf(b, "| `cell run`, reference profile, CPU | %s | %s (crun, bwrap's default-profile set) | %s | | |\n",
			ms(cell.CPUMS.Median), ms(cr.CPUMS.Median), ratio(cell.CPUMS.Median, cr.CPUMS.Median))
	}
	if h, g := rep.rowNamed("cell --help"), rep.rowNamed("static Go hello"); h >= 0 && g >= 0 {
		hw, gw := rep.Results[h].WallMS.Median, rep.Results[g].WallMS.Median
		fmt.Fprintf(b, "| `cell --help` (startup only), wall | %s | %s (static Go hello) | %s (%s before any work) | | |\n",
			ms(hw), ms(gw), ratio(hw, gw), signedMS(hw-gw))
	}
	b.WriteString("\n")
}
