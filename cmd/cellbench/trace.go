package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// phaseMark is one phase record of cell run --trace --log-format json.
type phaseMark struct {
	Msg   string `json:"msg"`
	Phase string `json:"phase"`
	Side  string `json:"side"`
	NS    int64  `json:"ns"`
}

// segment is a piece of one launch's wall time: from the end of the
// phase before it (in either process) to the end of Name's.
type segment struct {
	Name string
	NS   int64
}

// firstSegment and lastSegment are the pieces only cellbench sees: from
// before its fork of cell to cell's runtime stamp, and from cell's last
// stamp to cell having been reaped.
const (
	firstSegment = "cell runtime"
	lastSegment  = "cell exit"
)

// segments cuts one launch, from start to end (cellbench's clock around
// exec.Cmd.Run, wall-clock ns), into pieces at every phase record in
// trace: sorted by time, each piece named by the phase that ends it. The
// kernel's start ("cell start", in 10 ms ticks) is left out: cellbench's
// own clock before the fork is finer.
func segments(trace []byte, start, end int64) ([]segment, error) {
	var marks []phaseMark
	for line := range strings.Lines(string(trace)) {
		var m phaseMark
		if json.Unmarshal([]byte(line), &m) != nil || m.Msg != "phase" {
			continue
		}
		if m.NS == 0 {
			return nil, fmt.Errorf("phase record without ns: %q", line)
		}
		if m.Side == "cell" && m.Phase == "start" {
			continue
		}
		marks = append(marks, m)
	}
	if len(marks) == 0 {
		return nil, fmt.Errorf("no phase records in the trace")
	}
	slices.SortStableFunc(marks, func(a, b phaseMark) int {
		if a.NS < b.NS {
			return -1
		}
		if a.NS > b.NS {
			return 1
		}
		return 0
	})
	if first := marks[0]; first.Side+" "+first.Phase != firstSegment {
		return nil, fmt.Errorf("the trace starts with %s %s, want %s", first.Side, first.Phase, firstSegment)
	}
	out := make([]segment, 0, len(marks)+1)
	prev := start
	for _, m := range marks {
		out = append(out, segment{Name: m.Side + " " + m.Phase, NS: m.NS - prev})
		prev = m.NS
	}
	return append(out, segment{Name: lastSegment, NS: end - prev}), nil
}

// phaseRow is one row of the cost table.
type phaseRow struct {
	Name string `json:"phase"`
	// MedianMS is the median of the piece over the launches.
	MedianMS float64 `json:"median_ms"`
	// Share is MedianMS over the median of the whole launch.
	Share float64 `json:"share"`
	// MeanMS is the mean of the piece over the launches, and MeanShare
	// it over the mean of the whole launch: means add up, so the shares
	// of every row make 100%, where medians' need not.
	MeanMS    float64 `json:"mean_ms"`
	MeanShare float64 `json:"mean_share"`
	// at orders the rows: the median end of the piece since the launch.
	at float64
}

// costTable is the cost of one launcher's phases.
type costTable struct {
	Name    string   `json:"name"`
	Argv    []string `json:"argv"`
	TotalMS float64  `json:"total_ms"`
	// MeanTotalMS is the mean of the whole launch.
	MeanTotalMS float64    `json:"mean_total_ms"`
	Rows        []phaseRow `json:"rows"`
}

// costOf aggregates the segments of many launches of one command.
func costOf(name string, argv []string, runs [][]segment) costTable {
	pieces := map[string][]float64{}
	ends := map[string][]float64{}
	var totals []float64
	for _, segs := range runs {
		var t int64
		for _, s := range segs {
			t += s.NS
			pieces[s.Name] = append(pieces[s.Name], float64(s.NS)/1e6)
			ends[s.Name] = append(ends[s.Name], float64(t)/1e6)
		}
		totals = append(totals, float64(t)/1e6)
	}
	c := costTable{Name: name, Argv: argv, TotalMS: summarize(totals).Median, MeanTotalMS: mean(totals, len(runs))}
	for n, v := range pieces {
		m, avg := summarize(v).Median, mean(v, len(runs))
		c.Rows = append(c.Rows, phaseRow{Name: n, MedianMS: m, Share: m / c.TotalMS, MeanMS: avg, MeanShare: avg / c.MeanTotalMS, at: summarize(ends[n]).Median})
	}
	slices.SortFunc(c.Rows, func(a, b phaseRow) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return c
}

// mean is the sum of xs over n: a phase missing from a run counts as 0.
func mean(xs []float64, n int) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(n)
}

// phaseDescriptions say what ends at each phase, for the table.
var phaseDescriptions = map[string]string{
	"cell runtime":      "fork and exec of cell, the Go runtime's start, up to its first package initialiser",
	"cell main":         "cell's package initialisers",
	"cell flags":        "the command line (urfave/cli)",
	"cell probe":        "host probe",
	"cell parse":        "profile read, YAML decoded",
	"cell validate":     "profile validated",
	"cell compile":      "compiled into a plan",
	"cell record":       "state record written",
	"cell parent-steps": "parent's steps before the clone (cgroups, network)",
	"cell clone":        "clone of init into its namespaces",
	"cell started":      "ID maps written, plan sent",
	"init runtime":      "init's exec and Go runtime start",
	"init main":         "init's package initialisers",
	"init plan":         "plan received and checked",
	"init steps":        "init's steps (mounts and the rest)",
	"init exec":         "fork and exec of the command",
	"cell wait":         "the command's run, init's exit, cell's wait",
	"cell teardown":     "teardown: cleanup, record removed",
	"cell exit":         "cell's exit, until cellbench has reaped it",
}

// traceReport runs each of ls (cell run with --trace --log-format json)
// cfg.warmup + cfg.runs times, round-robin, and cuts each measured
// launch into its phases.
func traceReport(ctx context.Context, r runner, cfg config, env environment, ls []launcher) (*traced, error) {
	rep := &traced{Env: env, Runs: cfg.runs, Warmup: cfg.warmup}
	runs := make([][][]segment, len(ls))
	for round := range cfg.warmup + cfg.runs {
		for k := range ls {
			i := (round + k) % len(ls)
			segs, err := r.traceOnce(ctx, ls[i])
			if err != nil {
				return nil, err
			}
			if round >= cfg.warmup {
				runs[i] = append(runs[i], segs)
			}
		}
	}
	for i, l := range ls {
		rep.Tables = append(rep.Tables, costOf(l.name, l.argv, runs[i]))
	}
	return rep, nil
}

// traceOnce runs l once with its stderr (the trace) captured.
func (r runner) traceOnce(ctx context.Context, l launcher) ([]segment, error) {
	var trace bytes.Buffer
	cmd := r.command(ctx, l)
	cmd.Stderr = &trace
	start := time.Now().UnixNano()
	err := cmd.Run()
	end := time.Now().UnixNano()
	if cmd.Process != nil {
		if _, _, _, rerr := reapGroup(ctx, cmd.Process.Pid); rerr != nil && err == nil {
			err = rerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w: %s", l, err, lastLines(trace.String(), 5))
	}
	segs, err := segments(trace.Bytes(), start, end)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", l, err)
	}
	return segs, nil
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// traced is the result of trace mode.
type traced struct {
	Env    environment `json:"environment"`
	Runs   int         `json:"runs"`
	Warmup int         `json:"warmup"`
	Tables []costTable `json:"tables"`
}

// markdown prints one cost table per command.
func (rep *traced) markdown(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Where a launch's time goes: %d traced runs of each command (`cell run --trace --log-format json`), interleaved, after %d warm-up runs. "+
		"Each run is cut at every phase end that cell and its init report (wall-clock stamps both share), sorted by time; a row is the time from the phase end before it, in either process, to its own: "+
		"the first from cellbench's clock before it forks cell, the last to cellbench having reaped cell. Medians and means over the runs, in ms, each with its share of the whole launch's median or mean: the means' shares add up to 100%%, the medians' need not "+
		"(where they fall far short, the runs had long stalls in varying phases: a busy machine). "+
		"Tracing itself costs a little: the records are written to a pipe.\n\n", rep.Runs, rep.Warmup)
	for _, t := range rep.Tables {
		fmt.Fprintf(&b, "%s (`%s`): %s ms in all (median; mean %s).\n\n| phase | what ends there | median | share | mean | share |\n|---|---|--:|--:|--:|--:|\n",
			t.Name, launcher{argv: t.Argv}, ms(t.TotalMS), ms(t.MeanTotalMS))
		for _, row := range t.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %.1f%% | %s | %.1f%% |\n", row.Name, phaseDescriptions[row.Name], ms(row.MedianMS), 100*row.Share, ms(row.MeanMS), 100*row.MeanShare)
		}
		b.WriteString("\n")
	}
	rep.Env.markdown(&b)
	_, err := w.Write(b.Bytes())
	return err
}
