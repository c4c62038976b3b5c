//go:build !cell_lean

package main

import (
	"github.com/urfave/cli/v2"

	"github.com/cellsandbox/cell/internal/host"
)

// notLinked is err: this build links everything, so nothing is left to
// cell-tools.
func notLinked(err error) error { return err }

// leanCommands leaves cmds as they are: this build runs every command
// itself.
func leanCommands(cmds []*cli.Command) []*cli.Command { return cmds }

// pathCheck is cell doctor's line on which binaries a launch uses.
func pathCheck() host.Check {
	return host.Check{Name: "run path", Status: host.OK,
		Detail: "full: this cell links every command (built without the cell_lean tag; make build makes a lean cell and " + toolsName + ")"}
}
