//go:build !cell_lean

package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/cellsandbox/cell/internal/compile"
	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/internal/host/probe"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/profiles"
	"github.com/cellsandbox/cell/spec"
	"github.com/cellsandbox/cell/spec/diff"
	prose "github.com/cellsandbox/cell/spec/explain"
	"github.com/cellsandbox/cell/spec/lint"
)

// reviewCommands returns cmds with the commands for reviewing profiles
// added; a command of cmds with the name of one of them is replaced.
func reviewCommands(cmds []*cli.Command) []*cli.Command {
	added := []*cli.Command{
		lintCommand(),
		diffCommand(),
		explainCommand(),
		showCommand(),
		schemaCommand(),
		profilesCommand(),
	}
	out := slices.DeleteFunc(cmds, func(c *cli.Command) bool {
		return slices.ContainsFunc(added, func(a *cli.Command) bool { return a.Name == c.Name })
	})
	return append(out, added...)
}

// resolveProfile parses the profile a command uses (commandSource) for
// the caller of facts.
func resolveProfile(c *cli.Context, named string, facts *host.Facts) (*spec.Profile, error) {
	src, err := commandSource(c, named)
	if err != nil {
		return nil, err
	}
	return launcher.Parse(src, c.StringSlice("set"), facts)
}

// formatFlag chooses an output format among choices, the first being the
// default.
func formatFlag(choices ...string) *cli.StringFlag {
	return &cli.StringFlag{
		Name:  "format",
		Usage: "output `FORMAT`: " + strings.Join(choices, ", "),
		Value: choices[0],
		Action: func(_ *cli.Context, v string) error {
			if !slices.Contains(choices, v) {
				return usageError(fmt.Sprintf("--format: must be one of %s, not %q", strings.Join(choices, ", "), v))
			}
			return nil
		},
	}
}

// setFlag is --set, as for run and plan.
func reviewSetFlag() *cli.StringSliceFlag {
	return &cli.StringSliceFlag{
		Name:  "set",
		Usage: "override a profile field: `KEY=VALUE`, e.g. namespaces.net=host",
	}
}

func lintCommand() *cli.Command {
	return &cli.Command{
		Name:      "lint",
		Usage:     "report what in profiles widens the sandbox, with an exposure score",
		ArgsUsage: "[PROFILE...]",
		Description: "Each finding has a rule ID (CELL001...), a severity (info, low, medium, high,\n" +
			"critical), the position of the value, a message and a fix hint. The exposure\n" +
			"score goes from 0 (nothing found) to 10. Without a profile, lint checks the\n" +
			"one run would use. `cell lint --rules` lists the rules.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "profile", Aliases: []string{"p"}, Usage: "profile `FILE` or built-in name (repeatable)"},
			reviewSetFlag(),
			formatFlag("text", "json", "sarif"),
			&cli.StringFlag{Name: "fail-on", Value: "none", Usage: "exit with status 1 when a finding is at least `SEVERITY` (info, low, medium, high, critical, none)"},
			&cli.BoolFlag{Name: "rules", Usage: "list the rules and exit"},
		},
		Action: lintAction,
	}
}

func lintAction(c *cli.Context) error {
	if c.Bool("rules") {
		for _, r := range lint.Rules() {
			fmt.Fprintf(c.App.Writer, "%s %-8s %-24s %s\n", r.ID, r.Severity, r.Name, r.Summary)
		}
		return nil
	}
	failOn, fail := lint.Severity(0), false
	if v := c.String("fail-on"); v != "none" {
		s, err := lint.ParseSeverity(v)
		if err != nil {
			return usageError(fmt.Sprintf("--fail-on: %v", err))
		}
		failOn, fail = s, true
	}
	pos, _, dashed := splitArgs(c)
	if dashed {
		return usageError("lint: unexpected --: lint runs nothing")
	}
	names := profileArgs(c, pos)
	// Without a name, lint checks what cell run would use (""), found
	// and checked as run finds it.
	found := len(names) == 0
	if found {
		names = []string{""}
	}
	facts, err := probe.Host()
	if err != nil {
		return err
	}
	// Every profile is read as the same reviewer, not as the caller, so
	// that findings do not depend on the machine: ${HOME}, ${USER},
	// ${PWD}, ${UID} and ${GID} are lint's; only ${env:NAME} is the
	// caller's, as the profile names it.
	reviewer := *facts
	v := lint.ReviewerVars(nil)
	reviewer.Home, reviewer.User, reviewer.Cwd, reviewer.UID, reviewer.GID = v.Home, v.User, v.PWD, v.UID, v.GID
	var reports []*lint.Report
	bad := 0
	for _, n := range names {
		var p *spec.Profile
		if found {
			p, err = resolveProfile(c, "", &reviewer)
		} else {
			p, err = parseProfile(n, c.StringSlice("set"), &reviewer)
		}
		if err != nil {
			report(c.App.ErrWriter, err)
			bad++
			continue
		}
		reports = append(reports, lint.Profile(p, lint.ReviewerOptions()))
	}
	switch c.String("format") {
	case "json":
		err = lint.WriteJSON(c.App.Writer, reports)
	case "sarif":
		err = lint.WriteSARIF(c.App.Writer, reports)
	default:
		err = lint.Write(c.App.Writer, reports)
	}
	if err != nil {
		return err
	}
	if bad > 0 {
		return exitStatus(StatusProfile)
	}
	if fail {
		n := 0
		for _, r := range reports {
			n += len(r.AtLeast(failOn))
		}
		if n > 0 {
			return fmt.Errorf("lint: %d %s at or above %s (--fail-on %s)", n, plural(n, "finding", "findings"), failOn, failOn)
		}
	}
	return nil
}

func schemaCommand() *cli.Command {
	return &cli.Command{
		Name:  "schema",
		Usage: "print the JSON Schema of profiles",
		Action: func(c *cli.Context) error {
			s, err := spec.JSONSchema()
			if err != nil {
				return err
			}
			_, err = c.App.Writer.Write(s)
			return err
		},
	}
}

func profilesCommand() *cli.Command {
	return &cli.Command{
		Name:  "profiles",
		Usage: "list the built-in profiles with their descriptions",
		Action: func(c *cli.Context) error {
			names := profiles.Names()
			width := 0
			for _, n := range names {
				width = max(width, len(n))
			}
			for _, n := range names {
				desc, err := builtinDescription(n)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%-*s  %s\n", width, n, desc)
			}
			return nil
		},
	}
}

// builtinDescription returns the description of the built-in profile
// name, read without expanding or validating it.
func builtinDescription(name string) (string, error) {
	data, err := profiles.Get(name)
	if err != nil {
		return "", err
	}
	var p struct {
		Description string `yaml:"description"`
	}
	if err := yaml.Unmarshal(data, &p); err != nil {
		return "", fmt.Errorf("built-in profile %s: %w", name, err)
	}
	return p.Description, nil
}

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "compare two profiles: what widens, narrows or stays neutral, and the change in the plan",
		ArgsUsage: "OLD NEW | -p OLD -p NEW | --git REV FILE...",
		Description: "Each change is classified as widens (the command can reach more), narrows or\n" +
			"neutral, with the positions of the value in both files. Both profiles are also\n" +
			"compiled for the current caller, and the lines of the plan that differ follow.\n" +
			"With --git REV each FILE of the working tree is compared with its version at REV.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "profile", Aliases: []string{"p"}, Usage: "profile `FILE` or built-in name: OLD, then NEW"},
			reviewSetFlag(),
			formatFlag("text", "markdown", "json"),
			&cli.StringFlag{Name: "fail-on", Value: "none", Usage: "exit with status 1 when there is a change of `CLASS`: widen, any or none"},
			&cli.StringFlag{Name: "git", Usage: "compare each FILE with its version at the git revision `REV`"},
			&cli.BoolFlag{Name: "no-plan", Usage: "leave out the compiled plans"},
		},
		Action: diffAction,
	}
}

// profileSource is a profile's text and the name its positions use.
type profileSource struct {
	name, file string
	data       []byte
	// rev is the git revision it was read from, or "".
	rev string
}

func diffAction(c *cli.Context) error {
	failOn := c.String("fail-on")
	if !slices.Contains([]string{"widen", "any", "none"}, failOn) {
		return usageError(fmt.Sprintf("--fail-on: must be widen, any or none, not %q", failOn))
	}
	pos, _, dashed := splitArgs(c)
	if dashed {
		return usageError("diff: unexpected --: diff runs nothing")
	}
	args := profileArgs(c, pos)
	var pairs [][2]profileSource
	if rev := c.String("git"); rev != "" {
		if len(args) == 0 {
			return usageError(fmt.Sprintf("diff --git %s: name the profile files to compare", rev))
		}
		for _, f := range args {
			old, err := gitShow(rev, f)
			if err != nil {
				return err
			}
			cur, err := readSource(f)
			if err != nil {
				return err
			}
			pairs = append(pairs, [2]profileSource{old, cur})
		}
	} else {
		if len(args) != 2 {
			return usageError(fmt.Sprintf("diff: give two profiles, OLD and NEW (or --git REV FILE...), not %d", len(args)))
		}
		old, err := readSource(args[0])
		if err != nil {
			return err
		}
		cur, err := readSource(args[1])
		if err != nil {
			return err
		}
		pairs = append(pairs, [2]profileSource{old, cur})
	}
	facts, err := probe.Host()
	if err != nil {
		return err
	}
	widens, changes := 0, 0
	for _, pair := range pairs {
		var ps [2]*spec.Profile
		for i, src := range pair {
			p, err := parseSource(src, c.StringSlice("set"), facts)
			if err != nil {
				return err
			}
			ps[i] = p
		}
		r := diff.Profiles(ps[0], ps[1])
		if !c.Bool("no-plan") {
			r.Plan = planDiff(ps[0], ps[1], facts)
		}
		switch c.String("format") {
		case "markdown":
			err = diff.WriteMarkdown(c.App.Writer, r)
		case "json":
			err = diff.WriteJSON(c.App.Writer, r)
		default:
			err = diff.Write(c.App.Writer, r)
		}
		if err != nil {
			return err
		}
		widens += r.Count(diff.Widens)
		changes += len(r.Changes)
	}
	switch {
	case failOn == "widen" && widens > 0:
		return fmt.Errorf("diff: %d %s the sandbox (--fail-on widen)", widens, plural(widens, "change widens", "changes widen"))
	case failOn == "any" && changes > 0:
		return fmt.Errorf("diff: %d %s (--fail-on any)", changes, plural(changes, "change", "changes"))
	}
	return nil
}

// readSource reads a profile file or built-in.
func readSource(name string) (profileSource, error) {
	src, err := launcher.Open(name)
	if err != nil {
		return profileSource{}, err
	}
	return profileSource{name: name, file: src.File, data: src.Data}, nil
}

// gitShow reads file as it was at the git revision rev; its positions are
// reported as "REV:file".
func gitShow(rev, file string) (profileSource, error) {
	rel := file
	if !filepath.IsAbs(file) {
		rel = "./" + filepath.ToSlash(file)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command("git", "show", rev+":"+rel)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return profileSource{}, fmt.Errorf("git show %s:%s: %v: %s", rev, rel, err, strings.TrimSpace(errb.String()))
	}
	return profileSource{name: file, file: rev + ":" + filepath.ToSlash(filepath.Clean(file)), data: out.Bytes(), rev: rev}, nil
}

// parseSource validates a profile read by readSource or gitShow; the
// parents of a profile read from git are read from the same revision.
func parseSource(src profileSource, sets []string, facts *host.Facts) (*spec.Profile, error) {
	return launcher.Parse(launcher.Source{
		File: src.file, Data: src.data, Bundle: launcher.IsOCIConfig(src.file, src.data),
		Load: func(name, from string) (string, []byte, error) {
			if src.rev == "" || isBuiltin(name) {
				return launcher.LoadParent(name, from)
			}
			rel := filepath.Join(filepath.Dir(strings.TrimPrefix(from, src.rev+":")), name)
			ps, err := gitShow(src.rev, rel)
			return ps.file, ps.data, err
		},
	}, sets, facts)
}

func showCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print the resolved profile (after extends, variables, --set and defaults) as YAML",
		ArgsUsage: "[PROFILE]",
		Flags: []cli.Flag{
			reviewProfileFlag(), reviewSetFlag(),
			&cli.BoolFlag{Name: "origins", Usage: "end each value with the file:line:col it came from"},
		},
		Action: func(c *cli.Context) error {
			name, err := reviewedProfile(c)
			if err != nil {
				return err
			}
			facts, err := probe.Host()
			if err != nil {
				return err
			}
			p, err := resolveProfile(c, name, facts)
			if err != nil {
				return err
			}
			out, err := p.YAML(c.Bool("origins"))
			if err != nil {
				return err
			}
			_, err = c.App.Writer.Write(out)
			return err
		},
	}
}

// hostEnforcement compiles p for this host and says what of its landlock
// rules the host's kernel enforces, or why the profile cannot run here.
func hostEnforcement(p *spec.Profile, facts *host.Facts) string {
	inv := compile.Invocation{Args: []string{"COMMAND"}}
	if err := launcher.Probe(p, facts); err != nil {
		return "cell cannot compile it here: " + err.Error()
	}
	if p.NeedsCgroup(facts.NestedUserNS) || p.Network.Mode == spec.NetBridge {
		inv.Name = p.Name + "-1"
	}
	pl, err := compile.Profile(p, facts, inv)
	if err != nil {
		return "cell refuses to run it here: " + err.Error()
	}
	for _, s := range pl.Steps {
		if a, ok := s.Do.(*plan.Landlock); ok {
			return "landlock " + a.Effective
		}
	}
	return ""
}

// planLines compiles p for the caller of facts and returns the plan's
// steps without their numbers and positions, which differ between any two
// files; a profile without process.args runs "COMMAND", one with limits
// or a bridge is named NAME-1, and the host is probed as for cell run.
func planLines(p *spec.Profile, facts *host.Facts) ([]string, error) {
	inv := compile.Invocation{}
	if len(p.Process.Args) == 0 {
		inv.Args = []string{"COMMAND"}
	}
	if err := launcher.Probe(p, facts); err != nil {
		return nil, err
	}
	if p.NeedsCgroup(facts.NestedUserNS) || p.Network.Mode == spec.NetBridge {
		inv.Name = p.Name + "-1"
	}
	pl, err := compile.Profile(p, facts, inv)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, steps := range []struct {
		prefix string
		steps  []plan.Step
	}{{"", pl.Steps}, {"cleanup ", pl.Cleanup}} {
		for i := range steps.steps {
			s := &steps.steps[i]
			lines = append(lines, fmt.Sprintf("%s%-7s %s", steps.prefix, s.Side, s.Call()))
		}
	}
	return lines, nil
}

// planDiff is the line diff of the plans of old and new; a plan that does
// not compile is shown as its error.
func planDiff(old, new *spec.Profile, facts *host.Facts) []diff.Line {
	var sides [2][]string
	for i, p := range []*spec.Profile{old, new} {
		lines, err := planLines(p, facts)
		if err != nil {
			lines = []string{"does not compile: " + err.Error()}
		}
		sides[i] = lines
	}
	return diff.Lines(sides[0], sides[1])
}

// reviewProfileFlag is -p for the commands that review one profile.
func reviewProfileFlag() *cli.StringFlag {
	return &cli.StringFlag{
		Name:    "profile",
		Aliases: []string{"p"},
		Usage:   "profile `FILE`, or the name of a built-in profile (default: ./.cell.yaml or above, else default)",
	}
}

func explainCommand() *cli.Command {
	return &cli.Command{
		Name:      "explain",
		Usage:     "describe a profile in plain words for a reviewer",
		ArgsUsage: "[PROFILE]",
		Flags:     []cli.Flag{reviewProfileFlag(), reviewSetFlag(), formatFlag("text", "markdown", "json")},
		Action: func(c *cli.Context) error {
			name, err := reviewedProfile(c)
			if err != nil {
				return err
			}
			facts, err := probe.Host()
			if err != nil {
				return err
			}
			p, err := resolveProfile(c, name, facts)
			if err != nil {
				return err
			}
			opts := prose.Options{UID: facts.UID, GID: facts.GID, User: facts.User, Home: facts.Home, PWD: facts.Cwd}
			opts.Host = hostEnforcement(p, facts)
			e := prose.Profile(p, opts)
			switch c.String("format") {
			case "markdown":
				return prose.WriteMarkdown(c.App.Writer, e)
			case "json":
				return prose.WriteJSON(c.App.Writer, e)
			}
			return prose.Write(c.App.Writer, e)
		},
	}
}

// reviewedProfile is the one profile show or explain describes.
func reviewedProfile(c *cli.Context) (string, error) {
	pos, _, dashed := splitArgs(c)
	if dashed {
		return "", usageError(c.Command.Name + ": unexpected --: it runs nothing")
	}
	return oneProfile(c, pos)
}
