package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/stamp"
	"github.com/cellsandbox/cell/launcher/compile"
	"github.com/cellsandbox/cell/launcher/host"
	"github.com/cellsandbox/cell/launcher/host/probe"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/launcher/pool"
	"github.com/cellsandbox/cell/launcher/sandbox"
	"github.com/cellsandbox/cell/launcher/state"
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
					pl, p, err := load(c)
					if err != nil {
						return err
					}
					if c.String("log-format") != "text" && c.String("log-format") != "json" {
						return usageError(fmt.Sprintf("--log-format %q: use text or json", c.String("log-format")))
					}
					pl.Trace = c.Bool("trace")
					return runPlan(pl, p, runOptions{
						stats: c.String("stats"), named: c.IsSet("name"), trace: tracer(pl, os.Stderr, c.String("log-format") == "json"),
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
					pl, _, err := load(c)
					if err != nil {
						return err
					}
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
							if s.Op == plan.OpSeccomp {
								fmt.Fprintf(c.App.Writer, "\nseccomp filter (%d instructions):\n%s", len(s.Filter), s.Seccomp)
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
	strictArgs(app.Commands)
	return app
}

// profileAndCommand is how run and plan tell the profile from the command.
const profileAndCommand = "The profile is -p PROFILE or the one argument before --; the words after --\n" +
	"are the command. cell plan FILE -- CMD is FILE running CMD; cell plan -- CMD is\n" +
	"the default (or .cell.yaml) profile running CMD. Without --, the profile's\n" +
	"process.args run. Flags may follow the profile, never the --."

// isBuiltin tells a built-in profile's name from a file name.
func isBuiltin(name string) bool {
	return !strings.Contains(name, "/") && !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml")
}

// readProfile returns the YAML of a profile and the name its positions
// are reported under.
func readProfile(name string) ([]byte, string, error) {
	// A profile that cannot be had is the caller's mistake, as an invalid
	// one is: status 2.
	if c, ok := bundleConfig(name); ok {
		name = c
	} else if isBuiltin(name) {
		b, err := profiles.Get(name)
		if err != nil {
			return nil, "", &codedErr{err, StatusProfile}
		}
		return b, "builtin:" + name, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, "", &codedErr{fmt.Errorf("read profile: %w", err), StatusProfile}
	}
	return b, name, nil
}

func parseProfile(name string, sets []string, facts *host.Facts) (*spec.Profile, error) {
	data, file, err := readProfile(name)
	if err != nil {
		return nil, err
	}
	if _, ok := bundleConfig(file); ok {
		return parseBundle(file, data, sets)
	}
	return spec.Parse(file, data, spec.Options{Vars: varsOf(facts), Sets: sets, Load: loadParent})
}

// varsOf is what a profile's ${UID}, ${HOME}, ${PWD}... expand to.
func varsOf(facts *host.Facts) spec.Vars {
	return spec.Vars{
		Home: facts.Home, User: facts.User, PWD: facts.Cwd,
		UID: facts.UID, GID: facts.GID, LookupEnv: facts.LookupEnv,
	}
}

// probeFor fills the facts that compiling p needs and that are not
// probed for every profile: cgroups, Landlock, the network's helpers,
// the caller's subordinate IDs and the pool that outside: pick leases
// from. Every command that compiles a profile
// (run, plan, pool start, the review tools) probes through it, so that
// none compiles against facts another would have known.
func probeFor(p *spec.Profile, facts *host.Facts) error {
	if p.Resources.Any() && facts.Cgroup == nil {
		if err := probe.Cgroup(facts); err != nil {
			return err
		}
	}
	if p.Security.Landlock.Mode != spec.LandlockOff {
		probe.Landlock(facts)
	}
	if m := p.Network.Mode; m == spec.NetBridge || m == spec.NetUser {
		probe.Network(facts)
	}
	if facts.Rootless() && (len(p.IDs.UIDMap) > 0 || len(p.IDs.GIDMap) > 0) && facts.SubIDs == nil {
		if err := probe.SubIDs(facts); err != nil {
			return err
		}
	}
	if !facts.Rootless() && p.IDs.Picks() && facts.IDPool == nil {
		if err := probe.IDPool(facts); err != nil {
			return err
		}
	}
	return nil
}

// load validates the profile of a run or plan and compiles it.
func load(c *cli.Context) (*plan.Plan, *spec.Profile, error) {
	stamp.Mark("flags")
	facts, err := probe.Host()
	if err != nil {
		return nil, nil, err
	}
	stamp.Mark("probe")
	if c.Bool("rootless") && c.Bool("root") {
		return nil, nil, usageError("plan: --rootless and --root contradict each other")
	}
	if c.Bool("rootless") && !facts.Rootless() {
		previewAs(facts, envUint(facts, "SUDO_UID", 1000), envUint(facts, "SUDO_GID", 1000), "SUDO_USER", "user")
	}
	if c.Bool("root") && facts.Rootless() {
		previewAs(facts, 0, 0, "", "root")
	}
	pos, args, _ := splitArgs(c)
	profile, err := oneProfile(c, pos)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) == 1 && isBuiltin(pos[0]) && !slices.Contains(profiles.Names(), pos[0]) {
		// cell run sh: a command taken for a profile.
		return nil, nil, usageError(fmt.Sprintf("%s: no built-in profile %q; the command goes after --: cell %s [PROFILE] -- %s",
			c.Command.Name, pos[0], c.Command.Name, strings.Join(pos, " ")))
	}
	p, err := resolveProfile(c, profile, facts)
	if err != nil {
		return nil, nil, err
	}
	if err := probeFor(p, facts); err != nil {
		return nil, nil, err
	}
	name, err := sandboxName(c.String("name"), p.Name)
	if err != nil {
		return nil, nil, err
	}
	tty := c.Bool("tty") || c.Command.Name == "run" && wantTTY(c)
	keep := c.String("keep-upper")
	if keep != "" {
		if keep, err = keepDir(keep); err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(os.Stderr, "cell: the overlays' upper layers are kept in %s\n", keep)
	}
	pooled := c.Command.Name == "plan" && c.Bool("pool")
	self, _ := initBinary()
	pl, err := compile.Profile(p, facts, compile.Invocation{Args: args, Name: name, TTY: tty, KeepUpper: keep, Pooled: pooled, Self: self})
	if err != nil {
		return nil, nil, err
	}
	stamp.Mark("compile")
	return pl, p, nil
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

// ttySignals are the signals a terminal sends to its whole foreground
// process group, which includes the sandbox: relaying them too would
// deliver them twice.
var ttySignals = map[os.Signal]bool{unix.SIGINT: true, unix.SIGQUIT: true, unix.SIGWINCH: true}

var relayed = []os.Signal{
	unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
}

// foreground reports whether cell is in the foreground process group of
// the terminal on stdin.
func foreground() bool { return foregroundOf(0) }

// runOptions are cell run's flags beyond the plan.
type runOptions struct {
	stats              string
	named              bool
	timeout, killAfter time.Duration
	// trace receives what --trace prints: nil without --trace.
	trace func(sandbox.Trace)
}

// runPlan executes a plan and returns the command's exit status. The
// sandbox is recorded in the state directory while it runs (for ps, kill,
// wait, update, freeze, thaw and gc); an unnamed sandbox without limits
// runs unrecorded when the state directory cannot be had.
func runPlan(pl *plan.Plan, p *spec.Profile, o runOptions) error {
	if !pl.Trace {
		o.trace = nil
	}
	if o.trace != nil {
		// Deferred first, so it runs last: teardown ends once the
		// record is deleted too.
		defer func() { stamp.Mark("teardown"); o.trace(sandbox.Trace{Phases: stamp.Take("cell")}) }()
	}
	store, rec, err := record(pl)
	stamp.Mark("record")
	if err != nil && (pl.Cgroup != nil || o.named) {
		return err
	}
	if err != nil {
		return runRecorded(pl, p, o, nil)
	}
	defer store.Delete(rec.Name)
	_ = saveOrigin(store, rec.Name, pl, p)
	return runRecorded(pl, p, o, func(sb *sandbox.Sandbox) func() {
		rec.Pid = sb.Pid()
		rec.PidStart, _ = state.StartTime(rec.Pid)
		rec.Address = sb.Address()
		_ = store.Update(rec)
		stop, err := pool.ServeExec(sb, rec.Name, store.Socket(rec.Name))
		if err != nil {
			return func() {}
		}
		return stop
	})
}

// runRecorded runs the plan; started, when set, is called once the
// sandbox runs and returns what to undo when it has ended.
func runRecorded(pl *plan.Plan, p *spec.Profile, o runOptions, started func(*sandbox.Sandbox) func()) error {
	// The sandbox's parent-death signal is bound to the thread that
	// cloned it; keep that thread until the sandbox has ended.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, relayed...)
	defer signal.Stop(sigs)

	var inherit []int
	ownSession, tty := false, false
	for _, s := range pl.Steps {
		switch s.Op {
		case plan.OpCloseFDs:
			for _, fd := range s.IDs {
				inherit = append(inherit, int(fd))
			}
		case plan.OpSetsid:
			ownSession = true
		case plan.OpConsole:
			tty = true
		}
	}
	stdio := sandbox.Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	if tty {
		// The command's stdio is the console that init makes; init
		// itself keeps only stderr, for what it cannot tell cell.
		stdio = sandbox.Stdio{Stderr: os.Stderr}
	}
	sb, err := sandbox.Start(pl, stdio, inherit, o.trace)
	if o.trace != nil {
		stamp.Mark("started")
		o.trace(sandbox.Trace{Phases: stamp.Take("cell")})
	}
	if err != nil {
		return explain(err)
	}
	var term *pty
	if tty {
		m, err := sb.Console()
		if err != nil {
			if _, werr := sb.Wait(); werr != nil {
				err = werr
			}
			return explain(err)
		}
		term = newPTY(m)
		term.suspend = suspender(sb.Signal)
		if err := term.start(os.Stdin, os.Stdout); err != nil {
			_ = sb.Kill()
			_, _ = sb.Wait()
			return err
		}
		defer term.close()
	}
	if started != nil {
		defer started(sb)()
	}
	timedOut := false
	if o.timeout > 0 {
		// As timeout(1): SIGTERM to the command, then the whole sandbox
		// if it is still there after the grace.
		t := time.AfterFunc(o.timeout, func() {
			timedOut = true
			fmt.Fprintf(os.Stderr, "cell: timeout: %s elapsed, sending SIGTERM\n", o.timeout)
			_ = sb.Signal(syscall.SIGTERM)
			time.AfterFunc(o.killAfter, func() {
				fmt.Fprintf(os.Stderr, "cell: timeout: still running %s later, killing the sandbox\n", o.killAfter)
				_ = sb.Kill()
			})
		})
		defer t.Stop()
	}
	// A command in the caller's session gets the terminal's signals from
	// the kernel; one in a session of its own only through cell.
	fg := foreground() && !ownSession
	if !tty && ownSession || term != nil && term.in < 0 {
		defer suspendWithCell(suspender(sb.Signal))()
	}
	go func() {
		for s := range sigs {
			if fg && ttySignals[s] || tty && s == unix.SIGWINCH {
				continue // the kernel delivers them, or the pty's resize does
			}
			_ = sb.Signal(s.(syscall.Signal))
		}
	}()
	st, err := sb.Wait()
	stamp.Mark("wait")
	if err != nil {
		if timedOut {
			return exitStatus(StatusTimeout)
		}
		return explain(err)
	}
	stats := sb.Stats(st)
	explainLimits(os.Stderr, p, stats)
	if o.stats != "" {
		if err := writeStats(o.stats, stats); err != nil {
			return err
		}
	}
	if timedOut {
		return exitStatus(StatusTimeout)
	}
	return exitStatus(st.ExitCode())
}

// hostPaths is a step's error with the paths the sandbox's init saw under
// its staging directories (/oldroot is the host's root, /newroot the
// sandbox's) written as the host and the sandbox know them.
type hostPaths struct{ err error }

var stagingPrefix = regexp.MustCompile(`(^|[^\w/.-])/(?:oldroot|newroot)(/|[^\w.-]|$)`)

func (h *hostPaths) Error() string {
	return stagingPrefix.ReplaceAllStringFunc(h.err.Error(), func(m string) string {
		g := stagingPrefix.FindStringSubmatch(m)
		if g[2] == "/" {
			return g[1] + "/"
		}
		return g[1] + "/" + g[2]
	})
}

func (h *hostPaths) Unwrap() error { return h.err }

// explain adds what would help to the failures people meet most.
func explain(err error) error {
	var step *sandbox.StepError
	if errors.As(err, &step) {
		err = &hostPaths{err}
	}
	var ee *sandbox.ExecError
	if errors.As(err, &ee) {
		if ee.ExitCode() == 127 {
			return &codedErr{fmt.Errorf("%s: %s: command not found", ee.Pos, ee.Step.Path), 127}
		}
		return &codedErr{err, ee.ExitCode()}
	}
	var se *sandbox.StepError
	if errors.As(err, &se) && se.Step.Op == plan.OpClone && (se.Errno == unix.EPERM || se.Errno == unix.ENOSPC) {
		return &hinted{err, "the kernel refused to create the namespaces; check that unprivileged user namespaces are allowed (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces, and on Ubuntu kernel.apparmor_restrict_unprivileged_userns)"}
	}
	if errors.As(err, &se) && se.Step.Op == plan.OpConsole && se.Errno == unix.ENOENT {
		return &hinted{err, "the command's terminal is made in the sandbox's devpts, and it has none: add {type: dev, target: /dev} to filesystem.mounts, or run with -T (no terminal of its own)"}
	}
	if errors.As(err, &se) && se.Step.Op == plan.OpBind && se.Errno == unix.ENOENT {
		return &hinted{err, fmt.Sprintf("create %s, or mark the mount optional: true", filepath.Clean(se.Step.Source))}
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
