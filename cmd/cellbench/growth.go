package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// growthPoint is the reference rows measured at one size: N more binds,
// or N sandboxes of the same launcher already running.
type growthPoint struct {
	N     int           `json:"n"`
	Cell  latencyResult `json:"cell"`
	Bwrap latencyResult `json:"bwrap"`
}

// growth is the result of growth mode.
type growth struct {
	Env    environment `json:"environment"`
	Runs   int         `json:"runs"`
	Warmup int         `json:"warmup"`
	// Binds is launch time against the number of binds added to the
	// reference set.
	Binds []growthPoint `json:"binds"`
	// Running is launch time of the reference set against the number of
	// sandboxes of the same launcher running (sleeping) meanwhile.
	Running []growthPoint `json:"running"`
}

// parseCounts reads a comma-separated list of counts, each ≥ 0.
func parseCounts(flag, s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("-%s %q: want counts ≥ 0 separated by commas", flag, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// growthReport measures the reference rows of cell and bwrap, each pair
// interleaved as in latency mode: with each count of cfg.binds more
// binds, then with each count of cfg.running sandboxes of the launcher
// being measured started beforehand and sleeping until the point is done.
func growthReport(ctx context.Context, r runner, cfg config, env environment, t tools, ref *reference) (*growth, error) {
	rep := &growth{Env: env, Runs: cfg.runs, Warmup: cfg.warmup}
	for _, n := range cfg.binds {
		c, b, err := ref.launchers(t, n, t.true)
		if err != nil {
			return nil, err
		}
		lat, err := latencyReport(ctx, r, cfg, env, []launcher{c, b})
		if err != nil {
			return nil, err
		}
		rep.Binds = append(rep.Binds, growthPoint{N: n, Cell: lat.Results[0], Bwrap: lat.Results[1]})
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return nil, err
	}
	sleepFile, err := fileID(sleep)
	if err != nil {
		return nil, err
	}
	c, b, err := ref.launchers(t, 0, t.true)
	if err != nil {
		return nil, err
	}
	cs, bs, err := ref.launchers(t, 0, sleep, "3600")
	if err != nil {
		return nil, err
	}
	for _, n := range cfg.running {
		p := growthPoint{N: n}
		for _, x := range []struct {
			sleeper, l launcher
			res        *latencyResult
		}{{cs, c, &p.Cell}, {bs, b, &p.Bwrap}} {
			err := r.withRunning(ctx, x.sleeper, n, sleepFile, func() error {
				lat, err := latencyReport(ctx, r, cfg, env, []launcher{x.l})
				if err == nil {
					*x.res = lat.Results[0]
				}
				return err
			})
			if err != nil {
				return nil, err
			}
		}
		rep.Running = append(rep.Running, p)
	}
	return rep, nil
}

// withRunning starts n launches of l, whose command sleeps, waits until
// each runs its command (cmdFile), calls fn, then ends them all with
// SIGTERM to their process groups (cell relays it to the command and
// tears its sandbox down as on any end) and reaps them.
func (r runner) withRunning(ctx context.Context, l launcher, n int, cmdFile fileKey, fn func() error) (err error) {
	var groups []int
	defer func() {
		for _, pg := range groups {
			_ = unix.Kill(-pg, unix.SIGTERM)
		}
		for _, pg := range groups {
			if _, _, _, rerr := reapGroup(ctx, pg); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	for range n {
		cmd := r.command(ctx, l)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", l, err)
		}
		groups = append(groups, cmd.Process.Pid)
		if err := waitForCommand(ctx, cmd.Process.Pid, cmdFile); err != nil {
			return fmt.Errorf("%s: %w", l, err)
		}
	}
	return fn()
}

// markdown prints the two growth tables.
func (rep *growth) markdown(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Cost of growth: the reference rows (see latency mode), %d runs of each point after %d warm-up runs; medians, ms. "+
		"\"per step\" is the change of the median from the row above, divided by the change of N: flat or falling per step means no worse than linear.\n\n",
		rep.Runs, rep.Warmup)
	table := func(title, unit string, pts []growthPoint) {
		if len(pts) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s\n\n| %s | cell run | per step | CPU | bwrap | per step | CPU | cell/bwrap |\n|--:|--:|--:|--:|--:|--:|--:|--:|\n", title, unit)
		for i, p := range pts {
			cs, bs := "", ""
			if i > 0 && p.N != pts[i-1].N {
				dn := float64(p.N - pts[i-1].N)
				cs = signedMS((p.Cell.WallMS.Median - pts[i-1].Cell.WallMS.Median) / dn)
				bs = signedMS((p.Bwrap.WallMS.Median - pts[i-1].Bwrap.WallMS.Median) / dn)
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", p.N,
				ms(p.Cell.WallMS.Median), cs, ms(p.Cell.CPUMS.Median),
				ms(p.Bwrap.WallMS.Median), bs, ms(p.Bwrap.CPUMS.Median),
				ratio(p.Cell.WallMS.Median, p.Bwrap.WallMS.Median))
		}
		b.WriteString("\n")
	}
	table("Launch time against the number of read-only binds (of one directory, at /m/0, /m/1 ...) added to the reference set:", "binds", rep.Binds)
	table("Launch time of the reference set against the number of sandboxes of the same launcher running meanwhile (each sleeping; started before the point, ended after it):", "running", rep.Running)
	rep.Env.markdown(&b)
	if len(rep.Binds) > 0 {
		last := rep.Binds[len(rep.Binds)-1]
		fmt.Fprintf(&b, "\nCommand lines at %d binds: `%s` and `%s`.\n", last.N, launcher{argv: last.Cell.Argv}, shortArgs(last.Bwrap.Argv, 40))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// shortArgs is argv as a command line, its middle elided past max words.
func shortArgs(argv []string, max int) string {
	if len(argv) <= max {
		return launcher{argv: argv}.String()
	}
	head, tail := launcher{argv: argv[:max-4]}.String(), launcher{argv: argv[len(argv)-4:]}.String()
	return fmt.Sprintf("%s ... (%d more) ... %s", head, len(argv)-max, tail)
}
