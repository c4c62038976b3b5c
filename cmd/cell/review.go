package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/cellsandbox/cell/launcher/host"
	"github.com/cellsandbox/cell/profiles"
	"github.com/cellsandbox/cell/spec"
	"github.com/cellsandbox/cell/spec/lint"
)

// localProfile is the file that names a directory's profile: cell run,
// plan and the review commands use the nearest one in the working
// directory or above when no -p is given.
const localProfile = ".cell.yaml"

// reviewCommands returns cmds with the commands for reviewing profiles
// added; a command of cmds with the name of one of them is replaced.
func reviewCommands(cmds []*cli.Command) []*cli.Command {
	added := []*cli.Command{
		lintCommand(),
		schemaCommand(),
		profilesCommand(),
	}
	out := slices.DeleteFunc(cmds, func(c *cli.Command) bool {
		return slices.ContainsFunc(added, func(a *cli.Command) bool { return a.Name == c.Name })
	})
	return append(out, added...)
}

// profileName returns the profile a run, plan or review uses: the -p
// flag's value when given, else the nearest .cell.yaml in the working
// directory or above, else the default built-in.
func profileName(c *cli.Context) string {
	if c.IsSet("profile") {
		return c.String("profile")
	}
	dir, err := os.Getwd()
	if err != nil {
		return profiles.Default
	}
	for {
		f := filepath.Join(dir, localProfile)
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			return f
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return profiles.Default
		}
		dir = parent
	}
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
				return fmt.Errorf("--format: must be one of %s, not %q", strings.Join(choices, ", "), v)
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
			return fmt.Errorf("--fail-on: %w", err)
		}
		failOn, fail = s, true
	}
	names := append(c.StringSlice("profile"), c.Args().Slice()...)
	if len(names) == 0 {
		names = []string{profileName(c)}
	}
	facts, err := host.Probe()
	if err != nil {
		return err
	}
	var reports []*lint.Report
	bad := 0
	for _, n := range names {
		p, err := parseProfile(n, c.StringSlice("set"), facts)
		if err != nil {
			report(c.App.ErrWriter, err)
			bad++
			continue
		}
		reports = append(reports, lint.Profile(p, lint.Options{Home: facts.Home}))
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
		return exitStatus(1)
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

// plural returns one or many by n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
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
