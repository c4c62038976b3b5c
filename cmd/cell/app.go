package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/internal/host/probe"
	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/internal/stamp"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/profiles"
	"github.com/cellsandbox/cell/spec"
)

func newApp(stdout, stderr io.Writer) *cli.App {
	profileFlag := &cli.StringFlag{
		Name:    "profile",
		Aliases: []string{"p"},
		Usage:   "profile `FILE`, or the name of a built-in profile (a name has no slash and no .yaml)",
		Value:   profiles.Default,
	}
	setFlag := &cli.StringSliceFlag{
		Name:  "set",
		Usage: "override a profile field: `KEY=VALUE`, e.g. namespaces.net=host or process.args=[sh, -c, 'id']",
	}
	nameFlag := &cli.StringFlag{
		Name:  "name",
		Usage: "name the sandbox (for update, freeze, thaw); default: the profile's name and a random suffix",
	}
	app := &cli.App{
		Name:                      "cell",
		Usage:                     "run a command in a sandbox described by a YAML profile",
		Writer:                    stdout,
		ErrWriter:                 stderr,
		HideHelpCommand:           true,
		EnableBashCompletion:      true,
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {},
		OnUsageError:              func(_ *cli.Context, err error, _ bool) error { return usageError(err.Error()) },
		Flags:                     []cli.Flag{&cli.BoolFlag{Name: "version", Usage: "print the version and exit (as cell version)"}},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				return writeVersion(c.App.Writer)
			}
			if c.NArg() > 0 {
				return usageError(fmt.Sprintf("unknown command %q", c.Args().First()))
			}
			return cli.ShowAppHelp(c)
		},
		Commands: reviewCommands(append([]*cli.Command{
			{
				Name:        "run",
				Usage:       "run a command in the sandbox",
				ArgsUsage:   "[PROFILE] [-- CMD [ARGS...]]",
				Description: profileAndCommand,
				Flags: []cli.Flag{profileFlag, setFlag, nameFlag,
					&cli.StringFlag{Name: "stats", Usage: "write statistics as JSON to `FILE` (- for stderr) when the command ends"},
					&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a new terminal (the default when stdin is one)"},
					&cli.BoolFlag{Name: "no-tty", Aliases: []string{"T"}, Usage: "never give the command a terminal of its own"},
					&cli.StringFlag{Name: "pool", Usage: "run in a sandbox that the pool `NAME` built ahead of time (cell pool start)"},
					&cli.StringFlag{Name: "cwd", Usage: "with --pool: the working `DIR` inside the sandbox (default: the profile's process.cwd)"},
					&cli.StringFlag{Name: "keep-upper", Usage: "keep the overlay mounts' upper layers (what the command wrote) in `DIR`/N/upper instead of a tmpfs that goes with the sandbox"},
					&cli.BoolFlag{Name: "trace", Usage: "print each plan step to stderr as it runs, with its duration"},
					&cli.StringFlag{Name: "log-format", Value: "text", Usage: "format of --trace: text or json"},
					durationFlag("timeout", 0, "send SIGTERM to the command after `DURATION` (seconds, as 5 or 1.5, or with a unit: 500ms, 2m, 1h); cell then exits 124"),
					durationFlag("kill-after", 5*time.Second, "after --timeout, end the whole sandbox (SIGKILL) when it is still running after `DURATION`"),
				},
				Action: func(c *cli.Context) error {
					if c.IsSet("cwd") && c.String("pool") == "" {
						return usageError("--cwd is for --pool: a sandbox of cell run works in its profile's process.cwd")
					}
					if pool := c.String("pool"); pool != "" {
						// The pool's profile was compiled when it started;
						// a flag that would change the sandbox is refused,
						// not ignored.
						for _, f := range []string{"profile", "set", "name", "keep-upper", "trace"} {
							if c.IsSet(f) {
								return usageError(fmt.Sprintf("--%s cannot be used with --pool: the pool's sandboxes were built from its own profile (give it to cell pool start)", f))
							}
						}
						if pos, _, _ := splitArgs(c); len(pos) > 0 {
							return usageError(fmt.Sprintf("run --pool: unexpected argument %q: the pool's sandboxes were built from its own profile, and the command goes after --", pos[0]))
						}
						return runPooled(c, pool, wantTTY(c))
					}
					pp, err := load(c)
					if err != nil {
						return err
					}
					if c.String("log-format") != "text" && c.String("log-format") != "json" {
						return usageError(fmt.Sprintf("--log-format %q: use text or json", c.String("log-format")))
					}
					var trace func(sandbox.Trace)
					if c.Bool("trace") {
						trace = tracer(pp.Plan, os.Stderr, c.String("log-format") == "json")
					}
					return runPlan(pp, runOptions{
						stats: c.String("stats"), named: c.IsSet("name"), trace: trace,
						timeout: duration(c, "timeout"), killAfter: duration(c, "kill-after"),
					})
				},
			},
			{
				Name:        "plan",
				Usage:       "print the plan of syscalls that run would execute",
				ArgsUsage:   "[PROFILE] [-- CMD [ARGS...]]",
				Description: profileAndCommand,
				Flags: []cli.Flag{profileFlag, setFlag, nameFlag,
					&cli.BoolFlag{Name: "json", Usage: "print the plan as JSON"},
					&cli.BoolFlag{Name: "seccomp", Usage: "print the whole seccomp filter after the plan, one rule a line"},
					&cli.BoolFlag{Name: "rootless", Usage: "show the plan for an unprivileged caller ($SUDO_UID, or uid 1000) even when run as root"},
					&cli.BoolFlag{Name: "root", Usage: "show the plan for root even when run as an unprivileged user"},
					&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "show the plan of a run with a terminal of its own"},
					&cli.BoolFlag{Name: "pool", Usage: "show the plan of a pool's sandbox (cell pool start), with the point where it waits for a request"},
					&cli.StringFlag{Name: "restore", Usage: "show what cell restore `DIR` would do with that checkpoint"},
				},
				Action: func(c *cli.Context) error {
					if dir := c.String("restore"); dir != "" {
						return restorePlan(c, dir)
					}
					pp, err := load(c)
					if err != nil {
						return err
					}
					pl := pp.Plan
					if c.Bool("json") {
						enc := json.NewEncoder(c.App.Writer)
						enc.SetIndent("", "  ")
						return enc.Encode(pl)
					}
					if _, err := io.WriteString(c.App.Writer, pl.String()); err != nil {
						return err
					}
					if c.Bool("seccomp") {
						for _, s := range pl.Steps {
							if a, ok := s.Do.(*plan.Seccomp); ok {
								fmt.Fprintf(c.App.Writer, "\nseccomp filter (%d instructions):\n%s", len(a.Filter), a.Policy)
							}
						}
					}
					return nil
				},
			},
			{
				Name:      "validate",
				Usage:     "check profiles without running anything",
				ArgsUsage: "[PROFILE...]",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "profile", Aliases: []string{"p"}, Usage: "profile `FILE` or built-in name (repeatable)"},
					setFlag,
				},
				Action: validate,
			},
			{
				Name:  "profiles",
				Usage: "list the built-in profiles",
				Action: func(c *cli.Context) error {
					for _, n := range profiles.Names() {
						fmt.Fprintln(c.App.Writer, n)
					}
					return nil
				},
			},
		}, append(append(append(append(controlCommands(), lifeCommands()...), docCommands()...), poolCommand(), trustCommand(), versionCommand(), exportCommand()), checkpointCommands()...)...)),
	}
	app.Commands = leanCommands(app.Commands)
	strictArgs(app.Commands)
	return app
}

// profileAndCommand is how run and plan tell the profile from the command.
const profileAndCommand = "The profile is -p PROFILE or the one argument before --; the words after --\n" +
	"are the command. cell plan FILE -- CMD is FILE running CMD; cell plan -- CMD is\n" +
	"the default (or .cell.yaml) profile running CMD. Without --, the profile's\n" +
	"process.args run. Flags may follow the profile, never the --."

// isBuiltin tells a built-in profile's name from a file name.
func isBuiltin(name string) bool { return launcher.IsBuiltin(name) }

// parseProfile parses the profile that name names (launcher.Open) as
// it is written, without a command's policies.
func parseProfile(name string, sets []string, facts *host.Facts) (*spec.Profile, error) {
	src, err := launcher.Open(name)
	if err != nil {
		return nil, err
	}
	return launcher.Parse(src, sets, facts)
}

// load prepares the launch of a run or plan: the profile that the
// command names or finds, through the policies of commandSource,
// compiled once by launcher.Prepare.
func load(c *cli.Context) (*launcher.Prepared, error) {
	stamp.Mark("flags")
	if c.Bool("rootless") && c.Bool("root") {
		return nil, usageError("plan: --rootless and --root contradict each other")
	}
	var facts *host.Facts // nil: Prepare probes this host
	if c.Bool("rootless") || c.Bool("root") {
		var err error
		if facts, err = probe.Host(); err != nil {
			return nil, err
		}
		if c.Bool("rootless") && !facts.Rootless() {
			previewAs(facts, envUint(facts, "SUDO_UID", 1000), envUint(facts, "SUDO_GID", 1000), "SUDO_USER", "user")
		}
		if c.Bool("root") && facts.Rootless() {
			previewAs(facts, 0, 0, "", "root")
		}
	}
	pos, args, _ := splitArgs(c)
	profile, err := oneProfile(c, pos)
	if err != nil {
		return nil, err
	}
	if len(pos) == 1 && isBuiltin(pos[0]) && !slices.Contains(profiles.Names(), pos[0]) {
		// cell run sh: a command taken for a profile.
		return nil, usageError(fmt.Sprintf("%s: no built-in profile %q; the command goes after --: cell %s [PROFILE] -- %s",
			c.Command.Name, pos[0], c.Command.Name, strings.Join(pos, " ")))
	}
	src, err := commandSource(c, profile)
	if err != nil {
		return nil, err
	}
	keep := c.String("keep-upper")
	if keep != "" {
		if keep, err = keepDir(keep); err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "cell: the overlays' upper layers are kept in %s\n", keep)
	}
	pp, err := launcher.Prepare(src, c.StringSlice("set"), launcher.Invocation{
		Args: args, Name: c.String("name"), TTY: c.Bool("tty") || c.Command.Name == "run" && wantTTY(c),
		KeepUpper: keep, Pooled: c.Command.Name == "plan" && c.Bool("pool"), Facts: facts, Cache: planCache(),
	})
	if err == nil && c.Command.Name == "plan" {
		note := ""
		if pp.CacheNote != "" {
			note = ": " + pp.CacheNote
		}
		fmt.Fprintf(c.App.ErrWriter, "cell: plan cache: %s%s\n", pp.Cache, note)
	}
	return pp, err
}

// planCache is the directory of the caller's plan cache, "" when
// CELL_PLAN_CACHE=off (or the state directory cannot be had).
func planCache() string {
	if os.Getenv("CELL_PLAN_CACHE") == "off" {
		return ""
	}
	dir, err := launcher.CacheDir(os.Geteuid(), os.Getenv("XDG_RUNTIME_DIR"))
	if err != nil {
		return ""
	}
	return dir
}

func validate(c *cli.Context) error {
	pos, _, dashed := splitArgs(c)
	if dashed {
		return usageError("validate: unexpected --: validate runs nothing")
	}
	names := profileArgs(c, pos)
	if len(names) == 0 {
		return usageError("validate: name at least one profile (-p FILE or a built-in name)")
	}
	for _, n := range names {
		// A build that leaves bundles to cell-tools hands it the
		// whole command before printing anything.
		if _, err := launcher.Open(n); errors.Is(err, launcher.ErrNotLinked) {
			return err
		}
	}
	facts, err := probe.Host()
	if err != nil {
		return err
	}
	bad := 0
	for _, n := range names {
		if _, err := parseProfile(n, c.StringSlice("set"), facts); err != nil {
			report(c.App.ErrWriter, err)
			bad++
			continue
		}
		fmt.Fprintf(c.App.Writer, "%s: ok\n", n)
	}
	if bad > 0 {
		return exitStatus(StatusProfile)
	}
	return nil
}

// runOptions are cell run's flags beyond the plan.
type runOptions struct {
	stats              string
	named              bool
	timeout, killAfter time.Duration
	// trace receives what --trace prints: nil without --trace.
	trace func(sandbox.Trace)
}

// runPlan launches a prepared sandbox under launcher.Run and returns
// the command's exit status as cell's. The sandbox is recorded in the
// state directory while it runs (for ps, kill, wait, update, freeze,
// thaw and gc); an unnamed sandbox without limits runs unrecorded when
// the state directory cannot be had.
func runPlan(pp *launcher.Prepared, o runOptions) error {
	store, err := openStore()
	if err != nil && (pp.Plan.Cgroup != nil || o.named) {
		return err
	}
	st, err := launcher.Run(context.Background(), pp, launcher.Options{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Forward: true,
		Timeout: o.timeout, KillAfter: o.killAfter, Trace: o.trace,
		Store: store, RequireRecord: o.named, Log: os.Stderr,
	})
	if err != nil {
		return explain(err)
	}
	return ended(st, pp.Profile, o.stats)
}

// ended is cell's exit status for a command that ended with st, after
// the statistics are explained and written to statsPath (when not "").
func ended(st launcher.Status, p *spec.Profile, statsPath string) error {
	if st.Stats != nil {
		explainLimits(os.Stderr, p, st.Stats)
		if statsPath != "" {
			if err := writeStats(statsPath, st.Stats); err != nil {
				return err
			}
		}
	}
	if st.TimedOut {
		return exitStatus(StatusTimeout)
	}
	return exitStatus(st.Code)
}

// explain adds what would help to the failures people meet most.
func explain(err error) error {
	var se *sandbox.StepError
	if errors.As(err, &se) && se.Step.Op() == plan.OpClone && (se.Errno == unix.EPERM || se.Errno == unix.ENOSPC) {
		return &hinted{err, "the kernel refused to create the namespaces; check that unprivileged user namespaces are allowed (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces, and on Ubuntu kernel.apparmor_restrict_unprivileged_userns)"}
	}
	if errors.As(err, &se) && se.Step.Op() == plan.OpConsole && se.Errno == unix.ENOENT {
		return &hinted{err, "the command's terminal is made in the sandbox's devpts, and it has none: add {type: dev, target: /dev} to filesystem.mounts, or run with -T (no terminal of its own)"}
	}
	if errors.As(err, &se) && se.Step.Op() == plan.OpBind && se.Errno == unix.ENOENT {
		return &hinted{err, fmt.Sprintf("create %s, or mark the mount optional: true", filepath.Clean(se.Step.Do.(*plan.Bind).Source))}
	}
	return err
}

// codedErr is an error that ends cell with a given status.
type codedErr struct {
	err  error
	code int
}

func (e *codedErr) Error() string { return e.err.Error() }
func (e *codedErr) Unwrap() error { return e.err }

// ExitCode is the status cell ends with.
func (e *codedErr) ExitCode() int { return e.code }

// previewAs makes facts those of another caller, for `cell plan --rootless`
// and `--root`: the plan is computed, nothing runs.
func previewAs(f *host.Facts, uid, gid uint32, userVar, user string) {
	f.UID, f.GID, f.EUID = uid, gid, uid
	if v, ok := f.LookupEnv(userVar); ok && userVar != "" {
		user = v
	}
	f.User = user
	f.Home = "/home/" + user
	if uid == 0 {
		f.Home = "/root"
	}
	f.SubIDs = nil
	if uid != 0 {
		_ = probe.SubIDs(f)
	}
}

func envUint(f *host.Facts, name string, def uint32) uint32 {
	v, ok := f.LookupEnv(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return def
	}
	return uint32(n)
}
