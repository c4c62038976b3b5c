package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/cellsandbox/cell/launcher/host"
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
			facts, err := host.Probe()
			if err != nil {
				return err
			}
			checks := host.Diagnose(facts)
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
			for _, ch := range checks {
				if ch.Status == host.Fail {
					return exitStatus(1)
				}
			}
			return nil
		},
	}
}
