package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/network/egress/proc"
	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/internal/stamp"
	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/launcher/pool"
)

// tracer logs the steps init and cell report as they run (--trace),
// through log/slog: one record a step (or run of steps done together),
// as text for people or JSON for machines; and one "phase" record for
// each phase of cell's and init's lives (see lifeTrace).
func tracer(pl *plan.Plan, w io.Writer, asJSON bool) func(sandbox.Trace) {
	var h slog.Handler = slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: dropTime})
	if asJSON {
		h = slog.NewJSONHandler(w, nil)
	}
	log := slog.New(h).With("sandbox", pl.Name)
	life := &lifeTrace{log: log, withNS: asJSON}
	return func(t sandbox.Trace) {
		if len(t.Phases) > 0 {
			life.phases(t.Phases)
			return
		}
		if t.PlanSHA256 != "" {
			log.Info("plan received", "side", "init", "sha256", t.PlanSHA256)
			return
		}
		if t.First < 0 || t.Last >= len(pl.Steps) || t.First > t.Last {
			return
		}
		s := &pl.Steps[t.First]
		steps, call := fmt.Sprint(t.First+1), s.Call()
		if t.Last > t.First {
			steps = fmt.Sprintf("%d-%d", t.First+1, t.Last+1)
			call = s.Op().String() + " ... " + pl.Steps[t.Last].Op().String()
		}
		log.Info("step", "steps", steps, "side", s.Side.String(), "op", s.Op().String(), "us", t.Micros, "call", call, "pos", s.Pos.String())
	}
}

// lifeTrace logs the ends of the phases of cell's and init's lives, as
// they arrive: cell's up to the sandbox's start, init's once it has
// exec'd the command, cell's to its teardown. Each record has the phase,
// the process (side), at_us, the time since cell's runtime started
// (its first stamp), and us, the time since the latest phase end before
// it that the trace had printed: sorted by at_us, the records cut cell's
// life into consecutive pieces whose us add up to its whole. The first
// record, "start", is the kernel's start of cell's process, which it
// gives in 10 ms ticks: its at_us is that coarse. In JSON, ns is the
// stamp itself, wall-clock nanoseconds, for a tool that compares it with
// its own clock (cellbench -trace).
//
// Init's stamps arrive on the goroutine that reads init's reports, cell's
// on the one that runs the sandbox: phases may be called from both.
type lifeTrace struct {
	log    *slog.Logger
	withNS bool
	mu     sync.Mutex
	// origin is cell's first stamp; seen every stamp printed so far;
	// early holds init's stamps that came before cell's first.
	origin int64
	seen   []int64
	early  []stamp.Stamp
}

func (l *lifeTrace) phases(ss []stamp.Stamp) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.origin == 0 {
		if ss[0].Side != "cell" {
			l.early = append(l.early, ss...)
			return
		}
		l.origin = ss[0].Unix
		if start, err := stamp.ProcessStart(); err == nil && start <= l.origin {
			ss = append([]stamp.Stamp{{Name: "start", Side: ss[0].Side, Unix: start}}, ss...)
		}
		ss = append(ss, l.early...)
		l.early = nil
	}
	for _, s := range ss {
		prev := int64(0)
		for _, t := range l.seen {
			if t <= s.Unix && t > prev {
				prev = t
			}
		}
		us := int64(0)
		if prev != 0 {
			us = (s.Unix - prev) / 1000
		}
		l.seen = append(l.seen, s.Unix)
		attrs := []any{"phase", s.Name, "side", s.Side, "at_us", (s.Unix - l.origin) / 1000, "us", us}
		if l.withNS {
			attrs = append(attrs, "ns", s.Unix)
		}
		l.log.Info("phase", attrs...)
	}
}

// dropTime leaves the time out of text records: the durations say
// what a reader of a trace wants, and lines stay short.
func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func lifeCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:   "ps",
			Usage:  "list the sandboxes: running, frozen, or dead (left by a killed cell, for cell gc)",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
			Action: ps,
		},
		{
			Name:      "kill",
			Usage:     "send a signal (default TERM) to a sandbox's command",
			ArgsUsage: "NAME [SIGNAL]",
			Action: func(c *cli.Context) error {
				if c.NArg() < 1 || c.NArg() > 2 {
					return usageError("kill: NAME [SIGNAL]")
				}
				sig := unix.SIGTERM
				if c.NArg() == 2 {
					name := strings.ToUpper(c.Args().Get(1))
					if !strings.HasPrefix(name, "SIG") {
						name = "SIG" + name
					}
					if sig = unix.SignalNum(name); sig == 0 {
						return usageError(fmt.Sprintf("kill: unknown signal %q", c.Args().Get(1)))
					}
				}
				r, err := runningRecord(c.Args().First())
				if err != nil {
					return err
				}
				return r.Signal(sig)
			},
		},
		{
			Name:      "exec",
			Usage:     "run one more command in a running sandbox, with all of its defences",
			ArgsUsage: "NAME -- CMD [ARGS...]",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a new terminal (the default when stdin is one)"},
				&cli.BoolFlag{Name: "no-tty", Aliases: []string{"T"}, Usage: "never give the command a terminal of its own"},
			},
			Action: execIn,
		},
		{
			Name:      "wait",
			Usage:     "wait until a sandbox has ended",
			ArgsUsage: "NAME",
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usageError("wait: NAME")
				}
				r, err := runningRecord(c.Args().First())
				if err != nil {
					return err
				}
				return r.WaitCell()
			},
		},
	}
}

// warnForeign prints the records that the state directory does not
// believe (another user's, or writable by others) as warnings, and
// returns the rest of err.
func warnForeign(w io.Writer, err error) error {
	if err == nil {
		return nil
	}
	all := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		all = j.Unwrap()
	}
	var rest []error
	for _, e := range all {
		var fe *state.ForeignError
		if errors.As(e, &fe) {
			fmt.Fprintf(w, "cell: warning: %v\n", fe)
			continue
		}
		rest = append(rest, e)
	}
	return errors.Join(rest...)
}

// ps lists the sandboxes: running, frozen, or dead (a record that a
// killed cell left, for cell gc). A record that cannot be read is named
// in a warning and does not hide the others.
func ps(c *cli.Context) error {
	st, err := openStore()
	if err != nil {
		return err
	}
	records, listErr := st.List()
	type row struct {
		Name        string  `json:"name"`
		State       string  `json:"state"`
		Pid         int     `json:"pid"`
		Profile     string  `json:"profile"`
		UptimeSec   float64 `json:"uptimeSec"`
		MemoryPeak  *uint64 `json:"memoryPeakBytes,omitempty"`
		CPUUsec     *uint64 `json:"cpuUsec,omitempty"`
		CgroupLimit bool    `json:"cgroup"`
		Address     string  `json:"address,omitempty"`
		// EgressDenied is how many connections and name questions the
		// egress proxy denied, when the sandbox has one.
		EgressDenied *int `json:"egressDenied,omitempty"`
	}
	rows := []row{}
	dead := 0
	for _, r := range records {
		x := row{Name: r.Name, State: "running", Pid: r.Pid, Profile: r.Profile, UptimeSec: time.Since(r.Started).Seconds(), CgroupLimit: r.Cgroup != nil, Address: r.Address}
		switch {
		case !r.CellAlive():
			x.State, x.UptimeSec = "dead", 0
			dead++
		case r.Cgroup != nil:
			cg := launcher.CgroupOf(r.Cgroup, nil)
			if frozen, err := cg.Frozen(); err == nil && frozen {
				x.State = "frozen"
			}
			if s, err := cg.Stats(); err == nil {
				x.MemoryPeak, x.CPUUsec = s.MemoryPeak, s.CPUUsec
			}
		}
		if n, err := proc.CountDenied(st.EgressLog(r.Name)); err == nil {
			x.EgressDenied = &n
		}
		rows = append(rows, x)
	}
	warnDamaged(c.App.ErrWriter, warnForeign(c.App.ErrWriter, listErr))
	if dead > 0 {
		fmt.Fprintf(c.App.ErrWriter, "cell: hint: %d dead %s (the cell that ran it was killed): cell gc removes %s\n",
			dead, plural(dead, "sandbox", "sandboxes"), plural(dead, "it", "them"))
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tPID\tPROFILE\tUPTIME\tMEMORY PEAK\tCPU\tADDRESS\tDENIED")
	for _, x := range rows {
		mem, cpu, addr, up, denied := "-", "-", "-", "-", "-"
		if x.EgressDenied != nil {
			denied = fmt.Sprint(*x.EgressDenied)
		}
		if x.Address != "" {
			addr = x.Address
		}
		if x.MemoryPeak != nil {
			mem = fmt.Sprintf("%.1f MiB", float64(*x.MemoryPeak)/(1<<20))
		}
		if x.CPUUsec != nil {
			cpu = (time.Duration(*x.CPUUsec) * time.Microsecond).String()
		}
		if x.State != "dead" {
			up = time.Duration(x.UptimeSec * float64(time.Second)).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Name, x.State, x.Pid, x.Profile, up, mem, cpu, addr, denied)
	}
	return tw.Flush()
}

// warnDamaged names each record the store could not read: its cgroup, if
// it had one, is unknown, so it is left for a person to look at.
func warnDamaged(w io.Writer, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		fmt.Fprintf(w, "cell: warning: %v (a damaged record: look at it, then remove it)\n", e)
	}
}

// runningRecord finds a sandbox whose cell is alive.
func runningRecord(name string) (*state.Record, error) {
	return liveRecord(name, (*state.Record).CellAlive)
}

// liveRecord finds the record of name, which alive must accept.
func liveRecord(name string, alive func(*state.Record) bool) (*state.Record, error) {
	st, err := openStore()
	if err != nil {
		return nil, err
	}
	r, err := st.Get(name)
	if err != nil {
		return nil, err
	}
	if !alive(r) {
		return nil, fmt.Errorf("sandbox %q is not running (cell gc removes its record)", name)
	}
	return r, nil
}

// execIn is cell exec: the sandbox's init forks the command from the
// thread that forked the sandbox's own, so it has the same namespaces,
// root, cgroup, credentials, capabilities, no_new_privs, landlock and
// seccomp filter; there is no setns from outside to get wrong.
func execIn(c *cli.Context) error {
	if c.NArg() < 2 {
		return usageError("exec: NAME -- CMD [ARGS...]")
	}
	r, err := runningRecord(c.Args().First())
	if err != nil {
		return err
	}
	if r.Cgroup != nil {
		// A frozen init cannot fork the command: the request would wait
		// until the sandbox is thawed.
		if frozen, err := launcher.CgroupOf(r.Cgroup, nil).Frozen(); err == nil && frozen {
			return fmt.Errorf("exec: %s is frozen; cell thaw %s first", r.Name, r.Name)
		}
	}
	st, err := openStore()
	if err != nil {
		return err
	}
	args := c.Args().Slice()[1:]
	if args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return usageError("exec: NAME -- CMD [ARGS...]")
	}
	sock, err := st.CheckSocket(r.Name)
	if err != nil {
		return err
	}
	// The socket must lead to the cell process that runs the sandbox.
	cl := pool.DialSocket(sock).Expect(r.CellPid, r.CellStart)
	return execVia(cl, pool.Request{Args: args}, wantTTY(c), "", runOptions{})
}

// execVia hands req and this process's stdio to the server of cl (a
// running sandbox's, for cell exec, or a pool's) under launcher.Exec and
// returns the command's exit status as cell's. With statsPath, the
// sandbox's statistics are asked for and written there ("-" is stderr);
// with o.timeout, the command is ended as cell run --timeout ends it.
func execVia(cl *pool.Client, req pool.Request, tty bool, statsPath string, o runOptions) error {
	req.TTY, req.Stats = tty, statsPath != ""
	st, err := launcher.Exec(context.Background(), cl, req, launcher.Options{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Forward: true,
		Timeout: o.timeout, KillAfter: o.killAfter, Log: os.Stderr,
	})
	if err != nil {
		return err
	}
	return ended(st, nil, statsPath)
}
