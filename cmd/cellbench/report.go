package main

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// environment is what the numbers were measured on and with.
type environment struct {
	Kernel string `json:"kernel"`
	CPU    string `json:"cpu"`
	CPUs   int    `json:"cpus"`
	Cell   string `json:"cell"`
	Bwrap  string `json:"bwrap"`
	Crun   string `json:"crun,omitempty"`
	// CrunHides is the cgroup2 mount that was hidden from crun (see
	// cgroupsRefused), "" if none.
	CrunHides string `json:"crun_hides,omitempty"`
	Unshare   string `json:"unshare"`
	True      string `json:"true"`
	Go        string `json:"cellbench_go"`
	Dir       string `json:"dir"`
	Time      string `json:"time"`
}

// describe gathers the versions of the tools and facts about the host.
func describe(t tools, dir string) environment {
	return environment{
		Kernel:  kernel(),
		CPU:     cpuModel(),
		CPUs:    runtime.NumCPU(),
		Cell:    cellVersion(t.cell),
		Bwrap:   toolVersion(t.bwrap),
		Crun:    crunVersion(t.crun),
		Unshare: toolVersion(t.unshare),
		True:    toolVersion(t.true),
		Go:      runtime.Version(),
		Dir:     dir,
		Time:    time.Now().UTC().Format(time.RFC3339),
	}
}

func kernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// cellVersion reads the commit cell was built from out of its build info
// or, when it was built without VCS stamping (-buildvcs=false), from the
// git checkout the binary sits in, and says which.
func cellVersion(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "cell of unknown version (" + err.Error() + ")"
	}
	rev, dirty := "", ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = " with uncommitted changes"
			}
		}
	}
	if rev != "" {
		return fmt.Sprintf("cell %.12s%s, built with %s", rev, dirty, bi.GoVersion)
	}
	dir := filepath.Dir(path)
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return fmt.Sprintf("cell of unknown commit, built with %s", bi.GoVersion)
	}
	rev = strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output(); err != nil || len(st) > 0 {
		dirty = " with uncommitted changes"
	}
	return fmt.Sprintf("cell built with %s, not VCS-stamped; its checkout is at %s%s", bi.GoVersion, rev, dirty)
}

// toolVersion is the first line of `path --version`.
func toolVersion(path string) string {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// crunNote says how crun ran, for the notes of a table with a crun row.
func (e environment) crunNote(b *bytes.Buffer) {
	fmt.Fprintf(b, "crun ran with its cgroup manager disabled (--cgroup-manager=disabled: it makes no cgroup, as neither cell's default profile nor bwrap does), "+
		"its state (--root) in the scratch directory, a bundle there whose config.json cellbench wrote (bwrap's namespaces and mounts, plus a time namespace), "+
		"and a container ID with -N, a count, appended per launch.")
	if e.CrunHides != "" {
		fmt.Fprintf(b, " crun refuses a hybrid cgroup layout whose cgroup2 hierarchy has controllers (%s/cgroup.controllers, which a free controller joins whenever a v1 hierarchy that held it goes), "+
			"even with its cgroup manager disabled; cellbench changes no cgroup, but starts crun from a thread with a mount namespace of its own, "+
			"where %s is covered by an empty read-only tmpfs, so that crun sees cgroup v1 only. That namespace receives the host's mounts and sends none back.",
			e.CrunHides, e.CrunHides)
	}
	b.WriteString("\n\n")
}

// crunVersion is the first line of `crun --version`, "" without crun.
func crunVersion(path string) string {
	if path == "" {
		return ""
	}
	return toolVersion(path)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ms formats milliseconds with two decimals.
func ms(v float64) string { return fmt.Sprintf("%.2f", v) }

// ratio formats a/b as a multiple.
func ratio(a, b float64) string { return fmt.Sprintf("%.2f×", a/b) }

// mib formats KiB as MiB with one decimal.
func mib(kib float64) string { return fmt.Sprintf("%.1f MiB", kib/1024) }

func (e environment) markdown(b *bytes.Buffer) {
	versions := []string{e.Cell, e.Bwrap}
	if e.Crun != "" {
		versions = append(versions, e.Crun)
	}
	versions = append(versions, e.Unshare, e.True)
	fmt.Fprintf(b, "Host: %s, %s, %d CPUs. Versions: %s; cellbench %s.\n",
		e.Kernel, e.CPU, e.CPUs, strings.Join(versions, "; "), e.Go)
}

// commandLine is one row's exact command and how it ran.
type commandLine struct {
	name string
	argv []string
	// user, dir and env are set where the command did not run as
	// cellbench's user, in the scratch directory, with its environment.
	user, dir string
	env       []string
}

// commands lists the exact command lines and where they ran.
func commands(b *bytes.Buffer, dir string, cls []commandLine) {
	fmt.Fprintf(b, "Command lines (run in %s unless noted, stdin, stdout and stderr on /dev/null):\n\n", dir)
	for _, c := range cls {
		fmt.Fprintf(b, "- %s: `%s`", c.name, launcher{argv: c.argv})
		var how []string
		if c.user != "" {
			how = append(how, "as "+c.user)
		}
		if c.dir != "" {
			how = append(how, "in "+c.dir)
		}
		if c.env != nil {
			how = append(how, "with only `"+strings.Join(c.env, " ")+"` in its environment")
		}
		if len(how) > 0 {
			fmt.Fprintf(b, ", %s", strings.Join(how, ", "))
		}
		b.WriteString("\n")
	}
}

// signedMS formats a difference of milliseconds with its sign.
func signedMS(v float64) string {
	abs := fmt.Sprintf("%.2f", math.Abs(v))
	switch {
	case abs == "0.00" || math.IsNaN(v):
		return abs + " ms"
	case v < 0:
		return "−" + abs + " ms"
	}
	return "+" + abs + " ms"
}

// rowOrder is the order of the table's rows: the default `cell run`, its
// variants, then every other command, each group in the order of results,
// but the plain fork+exec last.
func rowOrder(results []latencyResult) []int {
	order := []int{cellIdx}
	for i, r := range results {
		if i != cellIdx && r.VsDefault != nil {
			order = append(order, i)
		}
	}
	for i, r := range results {
		if i != cellIdx && i != trueIdx && r.VsDefault == nil {
			order = append(order, i)
		}
	}
	return append(order, trueIdx)
}

// rss formats a median max RSS, marking one that is not above the floor
// that cellbench's own memory puts under it.
func (rep *latency) rss(kib float64) string {
	if kib <= float64(rep.SpawnerPeakRSSKiB) {
		return "≤ " + mib(kib)
	}
	return mib(kib)
}

// markdown prints the latency table, its notes and a one-line summary.
func (rep *latency) markdown(w io.Writer) error {
	var b bytes.Buffer
	bw := rep.Results[bwrapIdx].WallMS.Median
	bwCPU := rep.Results[bwrapIdx].CPUMS.Median
	un := rep.Results[unshareIdx].WallMS.Median
	order := rowOrder(rep.Results)
	var costs []*latencyResult
	for _, i := range order {
		if rep.Results[i].VsDefault != nil {
			costs = append(costs, &rep.Results[i])
		}
	}
	fmt.Fprintf(&b, "Launch latency of /bin/true: %d runs of each command, interleaved (%s) after %d warm-up runs each; wall time of exec.Cmd.Run in ms; "+
		"CPU is user+system time of the whole launch tree (wait4's rusage of the launched process and of any orphan it left, each covering what it reaped) in ms.\n\n",
		rep.Runs, rep.Order, rep.Warmup)
	b.WriteString("| Command | median | p90 | p99 | min | max | median CPU | median max RSS | vs bwrap | CPU vs bwrap | vs unshare |")
	if len(costs) > 0 {
		b.WriteString(" vs default |")
	}
	b.WriteString("\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	if len(costs) > 0 {
		b.WriteString("--:|")
	}
	b.WriteString("\n")
	var cls []commandLine
	for _, i := range order {
		r := rep.Results[i]
		s := r.WallMS
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |",
			r.Name, ms(s.Median), ms(s.P90), ms(s.P99), ms(s.Min), ms(s.Max), ms(r.CPUMS.Median),
			rep.rss(r.MedianMaxRSSKiB), ratio(s.Median, bw), ratio(r.CPUMS.Median, bwCPU), ratio(s.Median, un))
		if len(costs) > 0 {
			switch {
			case i == cellIdx:
				b.WriteString(" baseline |")
			case r.VsDefault != nil:
				fmt.Fprintf(&b, " %s |", signedMS(r.VsDefault.DiffMS))
			default:
				b.WriteString(" |")
			}
		}
		b.WriteString("\n")
		cls = append(cls, commandLine{name: r.Name, argv: r.Argv, user: r.User, dir: r.Dir, env: r.Env})
	}
	if len(costs) > 0 {
		fmt.Fprintf(&b, "\nEach `%s` row differs from the default `%s` row by one feature; vs default is its median minus the default's. "+
			"What each feature costs per launch, as that difference of medians, then as the median of the %d per-round differences "+
			"(each round runs every command once) with its 95%% confidence interval by order statistics:\n\n",
			"cell run", rep.Results[cellIdx].Name, rep.Runs)
		for _, r := range costs {
			vd := r.VsDefault
			how := "row − default"
			if vd.Removes {
				how = "default − row"
			}
			fmt.Fprintf(&b, "- %s (%s, %s): %s; per round %s [%s, %s]\n",
				vd.Feature, r.Name, how, signedMS(vd.CostMS), signedMS(vd.PairedCostMS),
				signedMS(vd.PairedCI95MS[0]), signedMS(vd.PairedCI95MS[1]))
		}
	}
	for _, sk := range rep.Skipped {
		fmt.Fprintf(&b, "\nNot measured: %s: %s.\n", sk.Name, sk.Reason)
	}
	if c := rep.Cgroups; c != nil {
		leftover := "found no cgroup left under it"
		if len(c.Leftover) > 0 {
			leftover = fmt.Sprintf("found and removed %d cgroups that launches had left under it: %s", len(c.Leftover), strings.Join(c.Leftover, ", "))
		}
		fmt.Fprintf(&b, "\nEvery launch of the cgroups row made its own cgroup under %s in each hierarchy and removed it at its end. "+
			"After the run cellbench removed %s (%s) and %s.\n",
			c.Parent, c.Parent, strings.Join(c.Removed, ", "), leftover)
	}
	b.WriteString("\nMax RSS is the largest ru_maxrss that wait4(2) reported for the launched process and for any process of its tree that outlived it; " +
		"each covers the descendants that process reaped itself. For cell it is the max over cell's own process tree " +
		"(cell, its re-executed init, /bin/true), not cell's process alone; for unshare and bwrap, likewise over theirs.")
	if rep.SpawnerPeakRSSKiB > 0 {
		fmt.Fprintf(&b, " Every value is at least cellbench's own peak RSS at the time (%s at the end): Go's os/exec starts children with vfork, "+
			"and when a child execs, Linux charges it the peak RSS of the memory it leaves, which is the parent's. "+
			"A value marked ≤ is at that floor, so the command's own peak is at most that.", mib(float64(rep.SpawnerPeakRSSKiB)))
	}
	b.WriteString("\n\n")
	cell := rep.Results[cellIdx]
	for _, i := range order {
		r := rep.Results[i]
		if r.RunsWithOrphans == 0 {
			continue
		}
		why := ""
		if i == bwrapIdx {
			why = " (bwrap's monitor exits as soon as its PID 1 in the sandbox reports the command's status, without waiting for that PID 1 to exit)"
		}
		fmt.Fprintf(&b, "In %d of %d runs, %s returned while %s it had started had yet to exit%s; "+
			"cellbench, a child subreaper, reaps them before the next run. Counted until its whole process tree is gone, %s's median is %s ms "+
			"(cell's, for comparison: %s ms, wall time %s ms).\n\n",
			r.RunsWithOrphans, rep.Runs, r.Name, orphanWord(r.Orphans), why, r.Name, ms(r.TreeMS.Median),
			ms(cell.TreeMS.Median), ms(cell.WallMS.Median))
	}
	if len(rep.Results) > crunIdx && rep.Results[crunIdx].Name == "crun" {
		rep.Env.crunNote(&b)
	}
	rep.targets(&b)
	if rep.Memory != nil {
		rep.Memory.markdown(&b)
	}
	rep.Env.markdown(&b)
	b.WriteString("\n")
	commands(&b, rep.Env.Dir, cls)
	if rep.Memory != nil {
		var mcls []commandLine
		for _, r := range rep.Memory.Results {
			mcls = append(mcls, commandLine{name: r.Name, argv: r.Argv})
		}
		b.WriteString("\nMemory mode's command lines (stdin a pipe):\n\n")
		for _, c := range mcls {
			fmt.Fprintf(&b, "- %s: `%s`\n", c.name, launcher{argv: c.argv})
		}
	}
	c, t := rep.Results[cellIdx].WallMS.Median, rep.Results[trueIdx].WallMS.Median
	fmt.Fprintf(&b, "\nSummary: `cell run -- /bin/true` takes %s ms (median): %s bwrap (%s ms), %s the unshare kernel floor (%s ms), %s ms over a plain fork+exec (%s ms).",
		ms(c), ratio(c, bw), ms(bw), ratio(c, un), ms(un), ms(c-t), ms(t))
	if len(rep.Results) > crunIdx && rep.Results[crunIdx].Name == "crun" {
		cr := rep.Results[crunIdx].WallMS.Median
		fmt.Fprintf(&b, " crun takes %s ms (%s bwrap).", ms(cr), ratio(cr, bw))
	}
	if len(costs) > 0 {
		parts := make([]string, len(costs))
		for i, r := range costs {
			parts[i] = fmt.Sprintf("%s %s", r.VsDefault.Feature, signedMS(r.VsDefault.CostMS))
		}
		fmt.Fprintf(&b, " Per launch: %s.", strings.Join(parts, "; "))
	}
	fmt.Fprintf(&b, "\n\nTargets of issue #9 in this run: launch latency ≤ %.2f× bwrap's median: %s (%s)", targetLatency, ratio(c, bw), metWord(c <= targetLatency*bw))
	if m := rep.Memory; m != nil {
		cell := m.Results[cellIdx]
		if i := slices.IndexFunc(m.Results, func(r memoryResult) bool { return r.Name == "crun" }); i >= 0 {
			cr := m.Results[i].MedianRSSKiB
			fmt.Fprintf(&b, "; memory of cell's processes during the run ≤ crun's RSS (%s): %s RSS, %s PSS (%s)",
				mib(cr), mib(cell.MedianRSSKiB), mib(cell.MedianPSSKiB), metWord(cell.MedianRSSKiB <= cr))
		} else {
			fmt.Fprintf(&b, "; memory of cell's processes during the run: %s RSS, %s PSS, crun's not measured", mib(cell.MedianRSSKiB), mib(cell.MedianPSSKiB))
		}
	}
	b.WriteString(". Throughput's target is in -throughput mode.\n")
	_, err := w.Write(b.Bytes())
	return err
}

// The targets of issue #9, each measured within one run.
const (
	// targetLatency is the most cell's median launch latency may be, as
	// a multiple of bwrap's.
	targetLatency = 0.9
	// targetThroughput is the least cell's launches per second may be,
	// as a multiple of bwrap's, with targetWorkers workers.
	targetThroughput = 1.2
	targetWorkers    = 2
)

// metWord says whether a target was met.
func metWord(met bool) string {
	if met {
		return "met"
	}
	return "missed"
}

// markdown prints the memory table and its notes.
func (m *memory) markdown(b *bytes.Buffer) {
	fmt.Fprintf(b, "Memory of the launchers' processes while the command runs: each launcher ran `%s`, which waits for the end of its stdin, a pipe from cellbench, "+
		"%d times in rotating rounds; in each launch, once the command had started, cellbench waited %v, then read /proc/PID/smaps_rollup of every process of the launch "+
		"but the command %d times, %s apart. RSS and PSS are the sums over those processes, median over the %d samples.\n\n",
		strings.Join(m.Command, " "), m.Runs, memorySettle, m.Samples, m.Interval, m.Runs*m.Samples)
	crun := slices.IndexFunc(m.Results, func(r memoryResult) bool { return r.Name == "crun" })
	b.WriteString("| Launcher | RSS | PSS |")
	if crun >= 0 {
		b.WriteString(" RSS vs crun's |")
	}
	b.WriteString(" processes alive while the command runs: median RSS / PSS |\n|---|--:|--:|")
	if crun >= 0 {
		b.WriteString("--:|")
	}
	b.WriteString("---|\n")
	for _, r := range m.Results {
		procs := make([]string, len(r.Processes))
		for i, p := range r.Processes {
			procs[i] = fmt.Sprintf("%s %s / %s", p.Process, mib(p.MedianRSSKiB), mib(p.MedianPSSKiB))
		}
		fmt.Fprintf(b, "| %s | %s | %s |", r.Name, mib(r.MedianRSSKiB), mib(r.MedianPSSKiB))
		if crun >= 0 {
			fmt.Fprintf(b, " %s |", ratio(r.MedianRSSKiB, m.Results[crun].MedianRSSKiB))
		}
		fmt.Fprintf(b, " %s |\n", strings.Join(procs, "; "))
	}
	b.WriteString("\nA process counts when it is the launched process or below it, and is neither the command (the process that runs its executable) nor below it; " +
		"depth is below the launched process. For cell: `cell run` and its re-executed init (named exe, after /proc/self/exe); for bwrap: its monitor and its PID 1 in the sandbox; " +
		"for unshare: unshare, waiting for the child it forked; for crun: crun itself, which stays the container's parent to report its status " +
		"(a plain `crun run` has no conmon; the container's process is the command). " +
		"PSS divides each page among the processes that map it: cell's two processes share one binary, and bwrap's, unshare's and crun's share libc with every process on the host.\n\n")
}

// orphanWord says how many processes the runs left behind at most.
func orphanWord(orphans []int) string {
	most := slices.Max(orphans)
	if most == 1 {
		return "a process"
	}
	return fmt.Sprintf("up to %d processes", most)
}

// markdown prints the throughput table and a one-line summary.
func (rep *throughput) markdown(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Launches of /bin/true per second: %d concurrent workers for %g s per command, one command after the other, after %d warm-up runs each.\n\n",
		rep.Workers, rep.Seconds, rep.Warmup)
	b.WriteString("| Command | workers | seconds | launches | launches/s | vs bwrap |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|\n")
	c, bw := rep.Results[0].PerSecond, rep.Results[1].PerSecond
	var cls []commandLine
	for _, r := range rep.Results {
		fmt.Fprintf(&b, "| %s | %d | %.2f | %d | %.1f | %s |\n",
			r.Name, rep.Workers, r.Seconds, r.Launches, r.PerSecond, ratio(r.PerSecond, bw))
		cls = append(cls, commandLine{name: r.Name, argv: r.Argv})
	}
	for _, sk := range rep.Skipped {
		fmt.Fprintf(&b, "\nNot measured: %s: %s.\n", sk.Name, sk.Reason)
	}
	b.WriteString("\n")
	if len(rep.Results) > 2 {
		rep.Env.crunNote(&b)
	}
	rep.Env.markdown(&b)
	b.WriteString("\n")
	commands(&b, rep.Env.Dir, cls)
	fmt.Fprintf(&b, "\nSummary: with %d workers, `cell run -- /bin/true` completes %.1f launches/s, %s bwrap (%.1f/s)",
		rep.Workers, c, ratio(c, bw), bw)
	for _, r := range rep.Results[2:] {
		fmt.Fprintf(&b, ", %s %.1f/s (%s bwrap)", r.Name, r.PerSecond, ratio(r.PerSecond, bw))
	}
	b.WriteString(".")
	if rep.Workers == targetWorkers {
		fmt.Fprintf(&b, " Target of issue #9 at %d workers: ≥ %.2f× bwrap's launches/s: %s (%s).",
			targetWorkers, targetThroughput, ratio(c, bw), metWord(c >= targetThroughput*bw))
	}
	b.WriteString("\n")
	_, err := w.Write(b.Bytes())
	return err
}
