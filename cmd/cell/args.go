package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// urfave/cli stops reading flags at the first argument that is not one,
// so `cell lint f.yaml --format json` would take --format for a profile.
// cell reads the command line as git and docker do instead: flags may
// come anywhere before "--", and what follows "--" (the command of run,
// plan and exec) is never read as cell's.

// invocation is a command line after normalising: args for urfave/cli,
// with every flag of the command before its other arguments, and the
// command it names ("" for cell itself), for the hint of a usage error.
type invocation struct {
	args    []string
	command string
}

// normalize moves the flags of the command that args name in front of
// its positional arguments and puts "--" between them, so that urfave/cli
// reads every flag and leaves the positional arguments, then "--" and the
// command's own words when the user gave "--", in c.Args(). An unknown
// command and a flag without its value are usage errors.
func normalize(app *cli.App, args []string) (invocation, error) {
	inv := invocation{args: args}
	if len(args) < 2 || args[len(args)-1] == "--generate-bash-completion" {
		return inv, nil // shell completion reads the words as typed
	}
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		i++ // cell's own flags (--help, --version) take no value
	}
	if i == len(args) || args[i] == "--" {
		return inv, nil
	}
	cmd := findCommand(app.Commands, args[i])
	if cmd == nil {
		return inv, usageError(fmt.Sprintf("unknown command %q", args[i]))
	}
	inv.command = cmd.Name
	if cmd.SkipFlagParsing {
		return inv, nil // the words are another program's (cell-tools) to read
	}
	i++
	if len(cmd.Subcommands) > 0 {
		if i == len(args) || strings.HasPrefix(args[i], "-") {
			return inv, nil // urfave/cli shows the subcommands
		}
		sub := findCommand(cmd.Subcommands, args[i])
		if sub == nil {
			return inv, usageError(fmt.Sprintf("%s: unknown command %q", cmd.Name, args[i]))
		}
		inv.command += " " + sub.Name
		cmd = sub
		i++
	}
	rest, err := reorder(cmd, args[i:])
	if err != nil {
		return inv, err
	}
	inv.args = append(slices.Clone(args[:i]), rest...)
	return inv, nil
}

// findCommand returns the command of cmds called name (or an alias).
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if slices.Contains(c.Names(), name) {
			return c
		}
	}
	return nil
}

// reorder returns a command's arguments as flags, "--", positional
// arguments, and "--" with what followed the user's "--" if there was one.
func reorder(cmd *cli.Command, args []string) ([]string, error) {
	var flags, pos, tail []string
	dashed := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			dashed, tail = true, args[i+1:]
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") || !takesValue(cmd, name) {
			continue
		}
		if i+1 == len(args) || args[i+1] == "--" {
			return nil, usageError(fmt.Sprintf("flag needs an argument: %s", a))
		}
		i++
		flags = append(flags, args[i])
	}
	out := append(append(flags, "--"), pos...)
	if dashed {
		out = append(append(out, "--"), tail...)
	}
	return out, nil
}

// takesValue reports whether the flag name of cmd reads the next word as
// its value; a flag cmd does not know is left for urfave/cli to refuse.
func takesValue(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		v, ok := f.(interface{ TakesValue() bool })
		return ok && v.TakesValue()
	}
	return false
}

// splitArgs returns a command's positional arguments and, when the user
// gave "--", the words after it (the command of run, plan and exec).
func splitArgs(c *cli.Context) (pos, cmd []string, dashed bool) {
	args := c.Args().Slice()
	if i := slices.Index(args, "--"); i >= 0 {
		return args[:i], args[i+1:], true
	}
	return args, nil, false
}

// strictArgs makes every command's flag errors plain usage errors
// (urfave/cli would print the whole help on stdout), and makes a command
// that names no arguments refuse them rather than ignore them.
func strictArgs(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError(err.Error()) }
		if c.ArgsUsage == "" && len(c.Subcommands) == 0 && c.Before == nil && !c.SkipFlagParsing {
			c.Before = noArgs
		}
		strictArgs(c.Subcommands)
	}
}

// noArgs refuses positional arguments for a command that takes none.
func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError(fmt.Sprintf("%s: unexpected argument %q", commandName(c), c.Args().First()))
	}
	return nil
}

// profileArgs returns the profiles a command was given, by -p and as
// positional arguments, in that order.
func profileArgs(c *cli.Context, pos []string) []string {
	names := slices.Clone(c.StringSlice("profile"))
	if len(names) == 0 && c.IsSet("profile") {
		names = []string{c.String("profile")}
	}
	return append(names, pos...)
}

// oneProfile returns the single profile a command reviews or runs: the
// one given by -p or as an argument, else "" (resolveProfile then finds
// .cell.yaml, or takes the default).
func oneProfile(c *cli.Context, pos []string) (string, error) {
	names := profileArgs(c, pos)
	switch len(names) {
	case 0:
		return "", nil // found or default: resolveProfile decides
	case 1:
		return names[0], nil
	}
	msg := fmt.Sprintf("%s: one profile at a time, not %s", commandName(c), strings.Join(names, " and "))
	if c.Command.Name == "run" || c.Command.Name == "plan" {
		msg += "; the command goes after --: cell " + c.Command.Name + " [PROFILE] -- CMD [ARGS...]"
	}
	return "", usageError(msg)
}

// seconds is the value of --timeout and --kill-after, read as timeout(1)
// reads its own: plain seconds (5, 1.5) or a number with a unit (500ms,
// 2m, 1h, 1d). A negative or not finite duration is refused.
type seconds struct{ d time.Duration }

// Set parses v.
func (s *seconds) Set(v string) error {
	var d time.Duration
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64/float64(time.Second) {
			return fmt.Errorf("duration %q is out of range", v)
		}
		d = time.Duration(f * float64(time.Second))
	} else if n, ok := strings.CutSuffix(v, "d"); ok {
		f, err := strconv.ParseFloat(n, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64/float64(24*time.Hour) {
			return fmt.Errorf("duration %q: use seconds (5, 1.5) or a unit (500ms, 2m, 1h, 1d)", v)
		}
		d = time.Duration(f * float64(24*time.Hour))
	} else if d, err = time.ParseDuration(v); err != nil {
		return fmt.Errorf("duration %q: use seconds (5, 1.5) or a unit (500ms, 2m, 1h, 1d)", v)
	}
	if d < 0 {
		return fmt.Errorf("duration %q is negative", v)
	}
	s.d = d
	return nil
}

// String is the duration as Go prints it.
func (s *seconds) String() string { return s.d.String() }

// durationFlag is a flag of type seconds.
func durationFlag(name string, def time.Duration, usage string) *cli.GenericFlag {
	return &cli.GenericFlag{Name: name, Value: &seconds{def}, Usage: usage}
}

// duration returns the value of a durationFlag.
func duration(c *cli.Context, name string) time.Duration {
	if s, ok := c.Generic(name).(*seconds); ok {
		return s.d
	}
	return 0
}

// commandName is the command of c as typed after "cell": "pool start".
func commandName(c *cli.Context) string {
	return strings.TrimPrefix(c.Command.HelpName, c.App.Name+" ")
}
