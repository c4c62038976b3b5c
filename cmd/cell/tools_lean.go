//go:build cell_lean

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/internal/network/egress/proc"
	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/internal/sibling"
	"github.com/cellsandbox/cell/launcher"
)

// toolsID is the Go build ID of the cell-tools built together with this
// cell (make build: -ldflags -X main.toolsID=ID): cell runs that program
// and no other, so that what it leaves to cell-tools is done by its own
// build (a stale cell-tools could plan or check a profile differently).
var toolsID string

// findTools returns the path of cell-tools beside this executable when
// it may be run (owner and modes as for cell-init, and exactly the build
// whose ID this cell carries), else "" and why not. Computed once.
var findTools = sync.OnceValues(func() (string, string) {
	self, err := os.Executable()
	if err != nil {
		return "", err.Error()
	}
	path := filepath.Join(filepath.Dir(self), toolsName)
	if why := sibling.Safe(self, path); why != "" {
		return "", why
	}
	if toolsID == "" {
		return "", "this cell was built without the build ID of its " + toolsName + " (make build builds both)"
	}
	id, err := sibling.BuildID(path)
	if err != nil {
		return "", err.Error()
	}
	if id != toolsID {
		return "", fmt.Sprintf("%s is from another build (Go build ID %s; this cell's is %s)", path, id, toolsID)
	}
	return path, ""
})

// runTools replaces this process with cell-tools, with this process's
// arguments and environment, for what (a command, an OCI bundle): its
// output, exit status and signals are cell-tools', as if cell had done
// it. It returns only when cell-tools cannot be run.
func runTools(what string) error {
	path, why := findTools()
	if path == "" {
		return &hinted{fmt.Errorf("%s is in %s, which this cell cannot use: %s", what, toolsName, why),
			"install " + toolsName + " from the same build beside cell (make build; make install)"}
	}
	err := unix.Exec(path, os.Args, os.Environ())
	return fmt.Errorf("%s: exec %s: %w", what, path, err)
}

// notLinked runs cell-tools for what this build refused because it does
// not link it (an OCI bundle as a profile): the command has done nothing
// yet, so cell-tools starts it over.
func notLinked(err error) error {
	if !errors.Is(err, launcher.ErrNotLinked) {
		return err
	}
	return runTools("an OCI bundle")
}

// The egress proxy is cell-tools run as network.ProxyProcess (its main's
// launcher.Init). Without a cell-tools to run, a sandbox with a proxy is
// ended, not run without it (sandbox.SpawnEgress's contract).
func init() {
	sandbox.SpawnEgress = func(_ string, p *network.Proxy, listen []network.Listen, files []*os.File, log, trace io.Writer) (sandbox.EgressProxy, error) {
		path, why := findTools()
		if path == "" {
			return nil, fmt.Errorf("the egress proxy is in %s, which this cell cannot use: %s", toolsName, why)
		}
		pr, err := proc.Spawn(path, p, listen, files, log, trace, nil)
		if err != nil {
			return nil, err
		}
		return pr, nil
	}
}

// toolCommand is a command of cell-tools, as cell --help lists it: its
// flags and arguments are cell-tools' to parse (cell plan --help too).
func toolCommand(name string) *cli.Command {
	return &cli.Command{
		Name: name, Usage: toolUsage[name], SkipFlagParsing: true,
		Action:       func(*cli.Context) error { return runTools("cell " + name) },
		BashComplete: func(*cli.Context) { _ = runTools("cell " + name) },
	}
}

// reviewCommands returns cmds with the review commands added as
// cell-tools' commands, in the order and with the replacement of the
// full build's reviewCommands.
func reviewCommands(cmds []*cli.Command) []*cli.Command {
	var added []*cli.Command
	for _, n := range []string{"lint", "diff", "explain", "show", "schema", "profiles"} {
		added = append(added, toolCommand(n))
	}
	out := slices.DeleteFunc(cmds, func(c *cli.Command) bool {
		return slices.ContainsFunc(added, func(a *cli.Command) bool { return a.Name == c.Name })
	})
	return append(out, added...)
}

func exportCommand() *cli.Command { return toolCommand("export") }

func checkpointCommands() []*cli.Command {
	return []*cli.Command{toolCommand("checkpoint"), toolCommand("restore")}
}

// restorePlan is cell plan --restore: a checkpoint is CRIU's.
func restorePlan(*cli.Context, string) error { return runTools("cell plan --restore") }

// leanCommands has cell-tools print the manual page and the fish
// completion, which list every command's flags, and cell-tools' own are
// only there.
func leanCommands(cmds []*cli.Command) []*cli.Command {
	for _, c := range cmds {
		if c.Name == "man" || c.Name == "completion" {
			name := c.Name
			c.Action = func(*cli.Context) error { return runTools("cell " + name) }
		}
	}
	return cmds
}

// checkpointCheck is cell-tools' doctor's line on checkpoints.
func checkpointCheck() host.Check {
	path, why := findTools()
	if path == "" {
		return host.Check{Name: "checkpoint", Status: host.Warn, Detail: "cell checkpoint and restore are in " + toolsName + ", which this cell cannot use: " + why,
			Fix: "install " + toolsName + " from the same build beside cell (make build; make install)"}
	}
	out, _ := exec.Command(path, "doctor", "--json").Output() // status 1 when a check fails
	var checks []host.Check
	if err := json.Unmarshal(out, &checks); err != nil {
		return host.Check{Name: "checkpoint", Status: host.Warn, Detail: fmt.Sprintf("%s doctor --json: %v", path, err)}
	}
	for _, ch := range checks {
		if ch.Name == "checkpoint" {
			return ch
		}
	}
	return host.Check{Name: "checkpoint", Status: host.Warn, Detail: path + " doctor did not check checkpoints"}
}

// pathCheck is cell doctor's line on which binaries a launch uses.
func pathCheck() host.Check {
	path, why := findTools()
	if path == "" {
		return host.Check{Name: "run path", Status: host.Warn,
			Detail: "lean (built with cell_lean): runs sandboxes; the review tools, OCI bundles, checkpoints and domain egress need " + toolsName + ", which this cell cannot use: " + why,
			Fix:    "install " + toolsName + " from the same build beside cell (make build; make install)"}
	}
	return host.Check{Name: "run path", Status: host.OK,
		Detail: "lean (built with cell_lean): runs sandboxes; the review tools, OCI bundles, checkpoints and the egress proxy run in " + path}
}

// The commands that the run binary leaves to cell-tools, with the usage
// that cell --help lists (TestLeanBuild compares them with cell-tools' help).
var toolUsage = map[string]string{
	"export":     "write a profile as an OCI bundle (config.json and rootfs) that runc and crun run",
	"checkpoint": "write a running sandbox's processes, mounts, namespaces, limits and plan to DIR (CRIU)",
	"restore":    "rebuild a sandbox from a checkpoint's plan and resume its processes (CRIU)",
	"lint":       "report what in profiles widens the sandbox, with an exposure score",
	"diff":       "compare two profiles: what widens, narrows or stays neutral, and the change in the plan",
	"explain":    "describe a profile in plain words for a reviewer",
	"show":       "print the resolved profile (after extends, variables, --set and defaults) as YAML",
	"schema":     "print the JSON Schema of profiles",
	"profiles":   "list the built-in profiles with their descriptions",
}
