package main

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latencyResult is every measured launch of one command.
type latencyResult struct {
	Name string   `json:"name"`
	Argv []string `json:"argv"`
	// WallNS is each run's wall time in nanoseconds, in run order.
	WallNS []int64 `json:"wall_ns"`
	// TreeNS is each run's time until every process it started had
	// exited, in nanoseconds, in run order.
	TreeNS []int64 `json:"tree_ns"`
	// Orphans is each run's count of processes that were still there
	// when the launched process had been reaped, in run order.
	Orphans []int `json:"orphans"`
	// MaxRSSKiB is each run's largest ru_maxrss in KiB, in run order.
	MaxRSSKiB []int64 `json:"max_rss_kib"`
	// CPUNS is each run's user+system time of its whole process tree
	// (wait4's rusage of the launched process and its orphans), in
	// nanoseconds, in run order.
	CPUNS []int64 `json:"cpu_ns"`
	// CPUMS summarizes CPUNS in milliseconds.
	CPUMS summary `json:"cpu_ms"`
	// WallMS summarizes WallNS in milliseconds.
	WallMS summary `json:"wall_ms"`
	// TreeMS summarizes TreeNS in milliseconds.
	TreeMS summary `json:"tree_ms"`
	// RunsWithOrphans counts the runs with orphans.
	RunsWithOrphans int `json:"runs_with_orphans"`
	// MedianMaxRSSKiB is the median of MaxRSSKiB.
	MedianMaxRSSKiB float64 `json:"median_max_rss_kib"`
	// User, Dir and Env say how the command ran where that was not as
	// cellbench's user, in its scratch directory, with its environment.
	User string   `json:"user,omitempty"`
	Dir  string   `json:"dir,omitempty"`
	Env  []string `json:"env,omitempty"`
	// VsDefault compares a variant of `cell run` with the default row.
	VsDefault *vsDefault `json:"vs_default,omitempty"`
}

// vsDefault is what a variant of `cell run` costs against the default
// `cell run` row, which differs from it by one feature.
type vsDefault struct {
	Feature string `json:"feature"`
	// Removes is true when the variant leaves the feature out of the
	// default profile, false when it adds it.
	Removes bool `json:"removes"`
	// DiffMS is this row's median minus the default row's, in ms.
	DiffMS float64 `json:"diff_ms"`
	// CostMS is the feature's cost per launch: DiffMS, or −DiffMS for a
	// variant that leaves the feature out.
	CostMS float64 `json:"cost_ms"`
	// PairedCostMS is the median of the feature's cost in each round
	// (every round runs each command once), and PairedCI95MS a 95%
	// confidence interval of it, as a check on the noise in CostMS.
	PairedCostMS float64    `json:"paired_cost_ms"`
	PairedCI95MS [2]float64 `json:"paired_ci95_ms"`
}

// compare fills in VsDefault of a variant's result res, given the
// default row's result base.
func (res *latencyResult) compare(base *latencyResult, v variant) {
	vd := &vsDefault{Feature: v.feature(), Removes: v.removes()}
	vd.DiffMS = res.WallMS.Median - base.WallMS.Median
	d := pairedDiffs(millis(base.WallNS), millis(res.WallNS))
	vd.CostMS = vd.DiffMS
	if vd.Removes {
		vd.CostMS = -vd.DiffMS
		for i := range d {
			d[i] = -d[i]
		}
	}
	vd.PairedCostMS, vd.PairedCI95MS[0], vd.PairedCI95MS[1] = medianCI95(d)
	res.VsDefault = vd
}

// latency is the result of latency mode.
type latency struct {
	Env    environment `json:"environment"`
	Runs   int         `json:"runs"`
	Warmup int         `json:"warmup"`
	Order  string      `json:"order"`
	// SpawnerPeakRSSKiB is cellbench's own peak RSS at the end, the floor
	// under every max RSS it records (see spawnerPeakRSS); 0 if unknown.
	SpawnerPeakRSSKiB int64           `json:"spawner_peak_rss_kib"`
	Results           []latencyResult `json:"results"`
	// Skipped are the variants of `cell run` this machine cannot run.
	Skipped []skippedRow `json:"skipped,omitempty"`
	// Cgroups is what cellbench removed after the cgroups row, if any.
	Cgroups *cgroupCleanup `json:"cgroup_cleanup,omitempty"`
	// Memory is the memory of the launchers' processes while a command
	// runs, unless -mem 0.
	Memory *memory `json:"memory,omitempty"`
}

// cgroupCleanup is what cellbench removed after the cgroups row.
type cgroupCleanup struct {
	// Parent is the name of the cgroup parent of every launch.
	Parent string `json:"parent"`
	// Removed is the parent in each hierarchy.
	Removed []string `json:"removed"`
	// Leftover is the cgroups that were under them: a launch that ran to
	// its end leaves none.
	Leftover []string `json:"leftover"`
}

// latencyReport warms every launcher up, then runs them round-robin
// cfg.runs times each, rotating which goes first in each round so that
// every launcher is measured equally often in every position.
func latencyReport(ctx context.Context, r runner, cfg config, env environment, ls []launcher) (*latency, error) {
	rep := &latency{
		Env: env, Runs: cfg.runs, Warmup: cfg.warmup,
		Order:   "round-robin, the first command rotating each round",
		Results: make([]latencyResult, len(ls)),
	}
	for i, l := range ls {
		rep.Results[i] = latencyResult{
			Name: l.name, Argv: l.argv, Dir: l.dir, Env: l.env,
			WallNS:    make([]int64, 0, cfg.runs),
			TreeNS:    make([]int64, 0, cfg.runs),
			Orphans:   make([]int, 0, cfg.runs),
			MaxRSSKiB: make([]int64, 0, cfg.runs),
			CPUNS:     make([]int64, 0, cfg.runs),
		}
		if l.as != nil {
			rep.Results[i].User = l.as.String()
		}
	}
	for round := range cfg.warmup + cfg.runs {
		// Collect this round's garbage now, outside any timed region, so
		// that no collection runs during a launch and the heap, whose peak
		// every child is charged with (see spawnerPeakRSS), stays small.
		runtime.GC()
		for k := range ls {
			i := (round + k) % len(ls)
			s, err := r.once(ctx, ls[i])
			if err != nil {
				return nil, err
			}
			if round < cfg.warmup {
				continue
			}
			res := &rep.Results[i]
			res.WallNS = append(res.WallNS, s.wall.Nanoseconds())
			res.TreeNS = append(res.TreeNS, s.tree.Nanoseconds())
			res.Orphans = append(res.Orphans, s.orphans)
			if s.orphans > 0 {
				res.RunsWithOrphans++
			}
			res.MaxRSSKiB = append(res.MaxRSSKiB, s.maxRSS)
			res.CPUNS = append(res.CPUNS, s.cpu.Nanoseconds())
		}
	}
	for i := range rep.Results {
		res := &rep.Results[i]
		res.WallMS = summarize(millis(res.WallNS))
		res.TreeMS = summarize(millis(res.TreeNS))
		res.CPUMS = summarize(millis(res.CPUNS))
		rss := make([]float64, len(res.MaxRSSKiB))
		for j, kib := range res.MaxRSSKiB {
			rss[j] = float64(kib)
		}
		res.MedianMaxRSSKiB = summarize(rss).Median
	}
	for i, l := range ls {
		if l.cost != nil {
			rep.Results[i].compare(&rep.Results[cellIdx], *l.cost)
		}
	}
	rep.SpawnerPeakRSSKiB = spawnerPeakRSS()
	return rep, nil
}

// spawnerPeakRSS is this process's peak RSS in KiB (VmHWM), or 0 if it
// cannot be read. It is a floor under the ru_maxrss of every child:
// os/exec starts children with vfork, and when a child execs, Linux
// charges it the peak RSS of the memory it leaves, which is this
// process's. A child's own peak shows only where it is above the floor.
func spawnerPeakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kib
		}
	}
	return 0
}

// millis converts nanoseconds to milliseconds.
func millis(ns []int64) []float64 {
	ms := make([]float64, len(ns))
	for i, v := range ns {
		ms[i] = float64(v) / 1e6
	}
	return ms
}

// throughputResult is how many launches of one command completed.
type throughputResult struct {
	Name     string   `json:"name"`
	Argv     []string `json:"argv"`
	Launches int64    `json:"launches"`
	// Seconds is the wall time from the start of the first launch to the
	// end of the last.
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
}

// throughput is the result of throughput mode.
type throughput struct {
	Env     environment `json:"environment"`
	Workers int         `json:"workers"`
	Seconds float64     `json:"seconds"`
	Warmup  int         `json:"warmup"`
	// Results are cell's, then bwrap's, then crun's where it runs.
	Results []throughputResult `json:"results"`
	// Skipped are the launchers this machine cannot run.
	Skipped []skippedRow `json:"skipped,omitempty"`
}

// throughputReport measures each of ls (cell's, then bwrap's, then any
// other) one after the other, with cfg.workers concurrent workers for
// cfg.duration each, after cfg.warmup sequential runs.
func throughputReport(ctx context.Context, r runner, cfg config, env environment, ls []launcher) (*throughput, error) {
	rep := &throughput{Env: env, Workers: cfg.workers, Seconds: cfg.duration.Seconds(), Warmup: cfg.warmup}
	for _, l := range ls {
		for range cfg.warmup {
			if _, err := r.once(ctx, l); err != nil {
				return nil, err
			}
		}
		n, elapsed, err := flood(ctx, r, l, cfg.workers, cfg.duration)
		if err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, throughputResult{
			Name: l.name, Argv: l.argv, Launches: n,
			Seconds: elapsed.Seconds(), PerSecond: float64(n) / elapsed.Seconds(),
		})
	}
	return rep, nil
}

// flood launches l back to back from workers goroutines until d has
// passed, and returns how many launches completed and how long that took.
// What a launch leaves behind is reaped in the background, as it would
// be by init, and all of it before flood returns. The first failed
// launch stops every worker. A launcher that must not see a cgroup2
// mount gets a view thread per worker, so that no worker waits for
// another's start.
func flood(ctx context.Context, r runner, l launcher, workers int, d time.Duration) (int64, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		launches atomic.Int64
		wg       sync.WaitGroup
		reapers  sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	threads := make([]*viewThread, workers)
	if l.hideCgroup2 != "" {
		defer func() {
			for _, th := range threads {
				if th != nil {
					th.close()
				}
			}
		}()
		for i := range threads {
			th, err := newViewThread(l.hideCgroup2)
			if err != nil {
				return 0, 0, err
			}
			threads[i] = th
		}
	}
	start := time.Now()
	deadline := start.Add(d)
	loop := func() {
		for ctx.Err() == nil && time.Now().Before(deadline) {
			_, pgid, err := r.launch(ctx, l)
			if pgid != 0 {
				reapers.Go(func() {
					if _, _, _, err := reapGroup(ctx, pgid); err != nil {
						fail(err)
					}
				})
			}
			if err != nil {
				fail(err)
				return
			}
			launches.Add(1)
		}
	}
	for _, th := range threads {
		wg.Go(func() {
			if th == nil {
				loop()
				return
			}
			th.run(loop)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	reapers.Wait()
	return launches.Load(), elapsed, firstErr
}
