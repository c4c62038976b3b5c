package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/cellsandbox/cell/internal/host/probe"
	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/launcher/pool"
)

func poolCommand() *cli.Command {
	return &cli.Command{
		Name:  "pool",
		Usage: "keep sandboxes built ahead of time, each used once, for cell run --pool",
		Subcommands: []*cli.Command{{
			Name:      "start",
			ArgsUsage: "[PROFILE]",
			Usage:     "build --size sandboxes of a profile and hand one to each cell run --pool NAME (runs until SIGTERM or SIGINT)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "profile", Aliases: []string{"p"}, Value: "default", Usage: "profile `FILE` or built-in name"},
				&cli.StringSliceFlag{Name: "set", Usage: "override a profile field: `KEY=VALUE`"},
				&cli.StringFlag{Name: "name", Usage: "the pool's name (default: the profile's)"},
				&cli.IntFlag{Name: "size", Value: 2, Usage: "sandboxes kept ready"},
			},
			Action: poolStart,
		}, {
			Name:      "stop",
			Usage:     "stop a pool: commands it handed over run to their end, the sandboxes still waiting are killed",
			ArgsUsage: "NAME",
			Action:    poolStop,
		}},
	}
}

// poolStop is cell pool stop (pool.Stop).
func poolStop(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("pool stop: NAME")
	}
	store, err := openStore()
	if err != nil {
		return err
	}
	return pool.Stop(store, c.Args().First())
}

// poolStart is cell pool start: the pool daemon of launcher/pool
// (pool.Serve), serving until SIGTERM (cell pool stop) or SIGINT.
func poolStart(c *cli.Context) error {
	// A daemon: the collector's defaults, not a launch's (shortLived).
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
	}
	size := c.Int("size")
	if size < 1 || size > 64 {
		return usageError("pool start: --size is 1 to 64")
	}
	facts, err := probe.Host()
	if err != nil {
		return err
	}
	pos, _, dashed := splitArgs(c)
	if dashed {
		return usageError("pool start: unexpected --: a pool's commands come from cell run --pool NAME -- CMD")
	}
	profile, err := oneProfile(c, pos)
	if err != nil {
		return err
	}
	src, err := commandSource(c, profile)
	if err != nil {
		return err
	}
	p, err := launcher.Parse(src, c.StringSlice("set"), facts)
	if err != nil {
		return err
	}
	name := c.String("name")
	if name == "" {
		name = p.Name
	}
	store, err := openStore()
	if err != nil {
		return err
	}
	return pool.Serve(context.Background(), pool.Config{
		Name: name, Profile: p.Name, Size: size, Store: store, StopSignals: true,
		// Each sandbox is compiled with a name of its own.
		Plan: func() (*plan.Plan, error) {
			n, err := state.Name("", name)
			if err != nil {
				return nil, err
			}
			pl, _, err := launcher.Compile(p, facts, launcher.Invocation{Name: n, Args: []string{"true"}, Pooled: true})
			return pl, err
		},
		Listening: func(path string) {
			fmt.Fprintf(c.App.Writer, "pool %s: %d sandboxes of %s on %s\n", name, size, p.Name, path)
		},
	})
}

// runPooled is cell run --pool: the command runs in a sandbox the pool
// built ahead of time.
func runPooled(c *cli.Context, name string, tty bool) error {
	dir, err := stateDir()
	if err != nil {
		return err
	}
	cl, err := pool.Dial(dir, name)
	if err != nil {
		return err
	}
	_, args, _ := splitArgs(c)
	if len(args) == 0 {
		return usageError("run --pool: give the command after --")
	}
	return execVia(cl, pool.Request{Args: args, Env: os.Environ(), Dir: c.String("cwd")}, tty, c.String("stats"),
		runOptions{timeout: duration(c, "timeout"), killAfter: duration(c, "kill-after")})
}
