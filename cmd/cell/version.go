package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/cellsandbox/cell/launcher"
)

// writeVersion prints what a bug report needs: cell's module version and
// revision, the Go that built it, and the init its sandboxes run.
func writeVersion(w io.Writer) error {
	module, rev, modified := "(unknown)", "(unknown)", ""
	goVersion := runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		module = bi.Main.Path + " " + bi.Main.Version
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision":
				rev = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				modified = " (modified tree)"
			}
		}
	}
	init := "cell re-executed (/proc/self/exe)"
	path, why := launcher.FindInit()
	if path != "" {
		init = path
	} else if why != "" {
		init += ": " + why
	}
	_, err := fmt.Fprintf(w, "cell %s\nrevision: %s%s\ngo: %s %s/%s\ninit: %s\n",
		module, rev, modified, goVersion, runtime.GOOS, runtime.GOARCH, init)
	return err
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print cell's version, revision, Go version and the init its sandboxes run",
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			return writeVersion(c.App.Writer)
		},
	}
}
