package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/urfave/cli/v2"

	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/internal/host/probe"
	"github.com/cellsandbox/cell/launcher"
)

// doctorProbe is the argv[0] of the child that `cell doctor` starts in a
// new user namespace to see whether the host allows one.
const doctorProbe = "cell-doctor-probe"

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check what sandboxes need of this host, and say how to fix what is missing",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the checks as JSON"}},
		Action: func(c *cli.Context) error {
			facts, err := probe.Host()
			if err != nil {
				return err
			}
			checks := append(probe.Diagnose(facts), pathCheck(), initCheck(), cacheCheck(), checkpointCheck())
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				if err := enc.Encode(checks); err != nil {
					return err
				}
			} else {
				for _, ch := range checks {
					fmt.Fprintf(c.App.Writer, "%-4s %-16s %s\n", ch.Status, ch.Name, ch.Detail)
					if ch.Fix != "" {
						fmt.Fprintf(c.App.Writer, "     %-16s fix: %s\n", "", ch.Fix)
					}
				}
			}
			return doctorStatus(checks)
		},
	}
}

// doctorStatus is doctor's result: status 1 when a check failed.
func doctorStatus(checks []host.Check) error {
	for _, ch := range checks {
		if ch.Status == host.Fail {
			return exitStatus(1)
		}
	}
	return nil
}

// initCheck says which init sandboxes run, and why cell-init is not used
// when it is not: cell then re-executes itself, which works and costs
// ~2 ms a launch and ~5 MiB per sandbox more.
func initCheck() host.Check {
	path, why := launcher.FindInit()
	if path != "" {
		return host.Check{Name: "init", Status: host.OK, Detail: path}
	}
	return host.Check{Name: "init", Status: host.Warn, Detail: "sandboxes re-execute cell as their init: " + why,
		Fix: "install cell-init from the same build beside cell (make build; make install)"}
}

// cacheCheck says whether launches take their plans from the plan cache
// (launcher.Prepare) or compile them every time, and why.
func cacheCheck() host.Check {
	dir := planCache()
	if dir == "" {
		return host.Check{Name: "plan cache", Status: host.Warn, Detail: "off: every launch parses and compiles its profile (CELL_PLAN_CACHE=off, or no state directory)"}
	}
	n, err := launcher.CacheEntries(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return host.Check{Name: "plan cache", Status: host.OK, Detail: dir + " (made at the first launch)"}
	case err != nil:
		return host.Check{Name: "plan cache", Status: host.Warn, Detail: "not used: " + err.Error(), Fix: "remove " + dir + "; cell makes it again"}
	}
	return host.Check{Name: "plan cache", Status: host.OK, Detail: fmt.Sprintf("%s (%d %s)", dir, n, plural(n, "plan", "plans"))}
}

// plural returns one or many by n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
