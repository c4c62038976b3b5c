package main

import (
	"github.com/urfave/cli/v2"

	"github.com/cellsandbox/cell/internal/term"
)

// wantTTY says whether the command gets a pty of its own: with -t always;
// by default when stdin and stdout are both the caller's terminal and cell
// is in its foreground, as for ssh. Otherwise descriptors 0, 1 and 2 are
// passed through untouched, so that output to a file or a pipe keeps its
// bytes, stderr stays apart, and `cell run -- cmd &` is not stopped for
// touching the terminal.
func wantTTY(c *cli.Context) bool {
	if c.Bool("tty") {
		return true
	}
	return !c.Bool("no-tty") && term.IsTerminal(0) && term.IsTerminal(1) && term.Foreground(0)
}
