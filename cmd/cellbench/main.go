package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err == nil {
		return
	}
	if errors.Is(err, flag.ErrHelp) {
		return // the flag package printed the usage
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = errors.New("interrupted by a signal")
	}
	fmt.Fprintf(os.Stderr, "cellbench: error: %v\n", err)
	var h *hinted
	if errors.As(err, &h) {
		fmt.Fprintf(os.Stderr, "cellbench: hint: %s\n", h.hint)
	}
	os.Exit(1)
}

// hinted is an error with advice on what would make it work.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

// config is what the command line asks for.
type config struct {
	cell       string
	runs       int
	warmup     int
	json       bool
	throughput bool
	variants   bool
	workers    int
	duration   time.Duration
	// memRuns is how many times memory mode launches each command; 0
	// leaves memory out.
	memRuns int
	// growth measures the growth tables instead of latency, at binds
	// more binds and with running sandboxes running.
	growth         bool
	binds, running []int
	// trace measures where the time of a launch goes instead.
	trace bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var seconds float64
	fs := flag.NewFlagSet("cellbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.cell, "cell", "./cell", "the cell `binary` to measure")
	fs.IntVar(&c.runs, "n", 200, "measured runs of each command (latency mode)")
	fs.IntVar(&c.warmup, "warmup", 10, "unmeasured warm-up runs of each command")
	fs.BoolVar(&c.json, "json", false, "print the raw results as JSON instead of a markdown table")
	fs.BoolVar(&c.throughput, "throughput", false, "measure launches per second instead of latency")
	fs.BoolVar(&c.variants, "variants", true, "also measure variants of `cell run` that each differ from the default by one feature (latency mode)")
	fs.IntVar(&c.memRuns, "mem", 5, "launches of each command whose memory is sampled while it runs (latency mode; 0: none)")
	fs.IntVar(&c.workers, "c", 2, "concurrent workers (throughput mode)")
	fs.Float64Var(&seconds, "d", 5, "`seconds` each command is launched for (throughput mode)")
	fs.BoolVar(&c.growth, "growth", false, "measure launch time against the number of binds and of running sandboxes instead of latency")
	binds := fs.String("binds", "0,1,10,100,1000", "binds added to the reference set, comma-separated `counts` (growth mode)")
	running := fs.String("running", "0,1,10,100", "sandboxes running meanwhile, comma-separated `counts` (growth mode)")
	fs.BoolVar(&c.trace, "trace", false, "cut traced launches of cell run into their phases (cell run --trace) instead of measuring latency")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if c.binds, err = parseCounts("binds", *binds); err != nil {
		return c, err
	}
	if c.running, err = parseCounts("running", *running); err != nil {
		return c, err
	}
	modes := 0
	for _, m := range []bool{c.throughput, c.growth, c.trace} {
		if m {
			modes++
		}
	}
	if modes > 1 {
		return c, errors.New("-throughput, -growth and -trace are separate modes: give one")
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case c.runs < 1:
		return c, fmt.Errorf("-n %d: must be at least 1", c.runs)
	case c.warmup < 0:
		return c, fmt.Errorf("-warmup %d: must not be negative", c.warmup)
	case c.memRuns < 0:
		return c, fmt.Errorf("-mem %d: must not be negative", c.memRuns)
	case c.workers < 1:
		return c, fmt.Errorf("-c %d: must be at least 1", c.workers)
	case !(seconds > 0):
		return c, fmt.Errorf("-d %v: must be a positive number of seconds", seconds)
	}
	c.duration = time.Duration(seconds * float64(time.Second))
	return c, nil
}

// run is main without the exit. The scratch directory it creates is
// removed before it returns, whatever happens.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	tools, err := findTools(cfg.cell)
	if err != nil {
		return err
	}
	// Some launchers return before all of their processes have exited
	// (bwrap's PID 1 in the sandbox outlives it); as a subreaper,
	// cellbench reaps those and leaves no zombie to init.
	if err := subreap(); err != nil {
		return err
	}
	defer func() {
		if n := reapAll(); n > 0 {
			fmt.Fprintf(stderr, "cellbench: reaped %d stray processes at exit\n", n)
		}
	}()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()

	scratch, err := os.MkdirTemp("/var/tmp", "cellbench-")
	if err != nil {
		return fmt.Errorf("create scratch directory: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(scratch); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove scratch directory: %w", rmErr))
		}
	}()
	// bwrap's --bind and --chdir get this path; it must be the one the
	// kernel reports as the cwd, as it is for cell's ${PWD}.
	if scratch, err = filepath.EvalSymlinks(scratch); err != nil {
		return err
	}

	r := runner{dir: scratch, stdio: devnull}
	base, err := r.planOf(ctx, tools.cell, launcher{})
	if err != nil {
		return err
	}
	crun, crunSkip, err := setupCrun(tools, scratch)
	if err != nil {
		return err
	}
	if crun != nil && crun.hide != "" {
		if r.view, err = newViewThread(crun.hide); err != nil {
			return fmt.Errorf("crun: hide %s from it: %w", crun.hide, err)
		}
		defer r.view.close()
	}
	ls, err := launchers(tools, crun, base.ns, scratch, tools.true)
	if err != nil {
		return err
	}
	env := describe(tools, scratch)
	if crun != nil {
		env.CrunHides = crun.hide
	}

	if cfg.growth || cfg.trace {
		ref, err := newReference(scratch)
		if err != nil {
			return err
		}
		var rep interface{ markdown(io.Writer) error }
		if cfg.growth {
			rep, err = growthReport(ctx, r, cfg, env, tools, ref)
		} else {
			refCell, _, lerr := ref.launchers(tools, 0, tools.true)
			if lerr != nil {
				return lerr
			}
			traced := func(l launcher) launcher {
				l.argv = append([]string{l.argv[0], "run", "--trace", "--log-format", "json"}, l.argv[2:]...)
				return l
			}
			rep, err = traceReport(ctx, r, cfg, env, []launcher{traced(ls[cellIdx]), traced(refCell)})
		}
		if err != nil {
			return err
		}
		if cfg.json {
			return writeJSON(stdout, rep)
		}
		return rep.markdown(stdout)
	}
	if cfg.throughput {
		tls := []launcher{ls[cellIdx], ls[bwrapIdx]}
		if crun != nil {
			tls = append(tls, ls[crunIdx])
		}
		rep, err := throughputReport(ctx, r, cfg, env, tls)
		if err != nil {
			return err
		}
		rep.Skipped = crunSkip
		if cfg.json {
			return writeJSON(stdout, rep)
		}
		return rep.markdown(stdout)
	}
	var setup *variantSetup
	if cfg.variants {
		setup, err = setupVariants(ctx, r, tools, base)
		// Whatever happens, remove what the variants leave behind: this
		// runs after every launch has been reaped.
		defer func() {
			_, leaves, cleanErr := setup.cleanup()
			if len(leaves) > 0 {
				fmt.Fprintf(stderr, "cellbench: removed %d cgroups that launches had left: %s\n", len(leaves), strings.Join(leaves, ", "))
			}
			if cleanErr != nil {
				err = errors.Join(err, cleanErr)
			}
		}()
		if err != nil {
			return err
		}
		r.net = setup.net
		ls = append(ls, setup.launchers...)
	}
	// Issue 16's rows: the reference set, and startup alone.
	ref, err := newReference(scratch)
	if err != nil {
		return err
	}
	refCell, refBwrap, err := ref.launchers(tools, 0, tools.true)
	if err != nil {
		return err
	}
	ls = append(ls, refCell, refBwrap)
	startup, startupSkip := startupLaunchers(ctx, tools, scratch)
	ls = append(ls, startup...)
	rep, err := latencyReport(ctx, r, cfg, env, ls)
	if err != nil {
		return err
	}
	rep.Skipped = append(crunSkip, startupSkip...)
	if cfg.memRuns > 0 {
		mls, err := launchers(tools, crun, base.ns, scratch, memoryCommand...)
		if err != nil {
			return err
		}
		// The fork+exec row has no launcher: its only process is the
		// command.
		mls = slices.Delete(mls, trueIdx, trueIdx+1)
		if rep.Memory, err = memoryReport(ctx, r, cfg.memRuns, mls); err != nil {
			return err
		}
	}
	var leftover error
	if setup != nil {
		rep.Skipped = append(rep.Skipped, setup.skipped...)
		parents, leaves, err := setup.cleanup()
		if err != nil {
			return err
		}
		if setup.cgroupParent != "" {
			rep.Cgroups = &cgroupCleanup{Parent: setup.cgroupParent, Removed: parents, Leftover: append([]string{}, leaves...)}
		}
		if len(leaves) > 0 {
			// Every launch exited 0, so cell's teardown ran: a leaf it
			// left is a bug in it, though the numbers still stand.
			leftover = fmt.Errorf("cell left %d cgroups under %s, which cellbench removed: %s",
				len(leaves), setup.cgroupParent, strings.Join(leaves, ", "))
		}
	}
	if cfg.json {
		err = writeJSON(stdout, rep)
	} else {
		err = rep.markdown(stdout)
	}
	return errors.Join(err, leftover)
}

// tools holds the absolute paths of the programs that are measured;
// crun is "" where it is not installed.
type tools struct {
	cell, unshare, bwrap, crun, true string
}

func findTools(cell string) (tools, error) {
	var t tools
	var err error
	if t.cell, err = filepath.Abs(cell); err != nil {
		return t, err
	}
	if _, err = exec.LookPath(t.cell); err != nil {
		return t, &hinted{fmt.Errorf("cell binary: %w", err), "build it first: go build -o cell ./cmd/cell (or make build)"}
	}
	if t.unshare, err = exec.LookPath("unshare"); err != nil {
		return t, &hinted{err, "install util-linux"}
	}
	if t.bwrap, err = exec.LookPath("bwrap"); err != nil {
		return t, &hinted{err, "install bubblewrap: apt-get install -y --no-install-recommends bubblewrap"}
	}
	if t.crun, err = exec.LookPath("crun"); err != nil {
		t.crun = "" // its rows are skipped, with the reason
	}
	t.true = "/bin/true"
	if _, err = exec.LookPath(t.true); err != nil {
		return t, err
	}
	return t, nil
}

// setupCrun prepares the crun rows in a directory under scratch, or
// says why this machine cannot run them.
func setupCrun(t tools, scratch string) (*crunSetup, []skippedRow, error) {
	switch {
	case t.crun == "":
		return nil, []skippedRow{{Name: "crun", Reason: "crun is not installed (apt-get install -y --no-install-recommends crun)"}}, nil
	case os.Geteuid() != 0:
		return nil, []skippedRow{{Name: "crun", Reason: "cellbench is not root, and the crun row runs crun as root (on a hybrid cgroup host crun must also start in a mount namespace that cellbench makes, which takes root)"}}, nil
	}
	hide, err := cgroupsRefused("/sys/fs/cgroup")
	if err != nil {
		return nil, nil, fmt.Errorf("crun: %w", err)
	}
	c := &crunSetup{crun: t.crun, dir: filepath.Join(scratch, "crun"), hide: hide}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("crun: %w", err)
	}
	return c, nil, nil
}
