package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// memoryCommand is the command whose launchers' memory is measured: it
// stays alive, doing nothing, until cellbench closes its stdin, a pipe,
// and then exits 0, so that no timing decides when it ends.
var memoryCommand = []string{"/bin/cat"}

// Sampling of memory mode: after the command has appeared, cellbench
// lets the launcher settle, then samples memorySamples times.
const (
	memorySettle   = 50 * time.Millisecond
	memoryInterval = 50 * time.Millisecond
	memorySamples  = 3
	// memoryStartTimeout is how long a launcher may take to start the
	// command.
	memoryStartTimeout = 10 * time.Second
)

// procMemory is the memory of one process in one sample.
type procMemory struct {
	// Process is the process's name (comm) and its depth below the
	// launched process: "cell", "cell (depth 1)".
	Process string `json:"process"`
	RSSKiB  int64  `json:"rss_kib"`
	PSSKiB  int64  `json:"pss_kib"`
}

// processMedian is the median memory of one process over the samples.
type processMedian struct {
	Process      string  `json:"process"`
	MedianRSSKiB float64 `json:"median_rss_kib"`
	MedianPSSKiB float64 `json:"median_pss_kib"`
}

// memoryResult is the memory of one launcher's processes while its
// command ran.
type memoryResult struct {
	Name string   `json:"name"`
	Argv []string `json:"argv"`
	// RSSKiB and PSSKiB are each sample's sum over the launcher's
	// processes, in sample order.
	RSSKiB []int64 `json:"rss_kib"`
	PSSKiB []int64 `json:"pss_kib"`
	// MedianRSSKiB and MedianPSSKiB are their medians.
	MedianRSSKiB float64 `json:"median_rss_kib"`
	MedianPSSKiB float64 `json:"median_pss_kib"`
	// Processes are the launcher's processes that were alive while the
	// command ran, in the order of the tree (parents first), each with
	// its median over the samples in which it was there.
	Processes []processMedian `json:"processes"`
}

// memory is what memory mode measured.
type memory struct {
	Command  []string       `json:"command"`
	Runs     int            `json:"runs"`
	Samples  int            `json:"samples_per_run"`
	Interval string         `json:"interval"`
	Results  []memoryResult `json:"results"`
}

// memoryReport launches each of ls, whose command must be memoryCommand,
// runs times each in rotating rounds as latencyReport does, and samples
// the memory of every process of the launcher that is alive while the
// command runs.
func memoryReport(ctx context.Context, r runner, runs int, ls []launcher) (*memory, error) {
	self, err := fileID(memoryCommand[0])
	if err != nil {
		return nil, err
	}
	rep := &memory{Command: memoryCommand, Runs: runs, Samples: memorySamples, Interval: memoryInterval.String()}
	perProc := make([]map[string][]procMemory, len(ls))
	var order [][]string
	for i, l := range ls {
		rep.Results = append(rep.Results, memoryResult{Name: l.name, Argv: l.argv})
		perProc[i] = make(map[string][]procMemory)
		order = append(order, nil)
	}
	for round := range runs {
		for k := range ls {
			i := (round + k) % len(ls)
			samples, err := r.memoryOnce(ctx, ls[i], self)
			if err != nil {
				return nil, err
			}
			res := &rep.Results[i]
			for _, procs := range samples {
				var rss, pss int64
				for _, p := range procs {
					rss += p.RSSKiB
					pss += p.PSSKiB
					if _, ok := perProc[i][p.Process]; !ok {
						order[i] = append(order[i], p.Process)
					}
					perProc[i][p.Process] = append(perProc[i][p.Process], p)
				}
				res.RSSKiB = append(res.RSSKiB, rss)
				res.PSSKiB = append(res.PSSKiB, pss)
			}
		}
	}
	for i := range rep.Results {
		res := &rep.Results[i]
		res.MedianRSSKiB = medianKiB(res.RSSKiB)
		res.MedianPSSKiB = medianKiB(res.PSSKiB)
		for _, name := range order[i] {
			var rss, pss []int64
			for _, p := range perProc[i][name] {
				rss, pss = append(rss, p.RSSKiB), append(pss, p.PSSKiB)
			}
			res.Processes = append(res.Processes, processMedian{Process: name, MedianRSSKiB: medianKiB(rss), MedianPSSKiB: medianKiB(pss)})
		}
	}
	return rep, nil
}

// medianKiB is the median of kib.
func medianKiB(kib []int64) float64 {
	f := make([]float64, len(kib))
	for i, v := range kib {
		f[i] = float64(v)
	}
	return summarize(f).Median
}

// memoryOnce starts l, whose command must be memoryCommand, with its
// stdin on a pipe; once the command (the process whose executable is
// cmdFile) runs, it samples the memory of l's other processes; then it
// closes the pipe and waits for l to exit, which it must with status 0.
func (r runner) memoryOnce(ctx context.Context, l launcher, cmdFile fileKey) (samples [][]procMemory, err error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := r.command(ctx, l)
	cmd.Stdin = pr
	var startErr error
	if err := r.onThread(l, func() { startErr = cmd.Start() }); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pr.Close()
	if startErr != nil {
		pw.Close()
		return nil, fmt.Errorf("launch %s: %w", l, startErr)
	}
	pgid := cmd.Process.Pid
	defer func() {
		// End the command (EOF on its stdin), then the launcher.
		pw.Close()
		waitErr := cmd.Wait()
		if _, _, _, rerr := reapGroup(ctx, pgid); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if waitErr != nil && ctx.Err() == nil {
			err = errors.Join(err, fmt.Errorf("launch %s: %w%s", l, waitErr, r.rerun(ctx, l)))
		}
	}()
	if err := waitForCommand(ctx, cmd.Process.Pid, cmdFile); err != nil {
		return nil, fmt.Errorf("launch %s: %w", l, err)
	}
	timer := time.NewTimer(memorySettle)
	defer timer.Stop()
	for range memorySamples {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
		procs, err := sampleLauncher(cmd.Process.Pid, cmdFile)
		if err != nil {
			return nil, fmt.Errorf("sample the memory of %s: %w", l, err)
		}
		samples = append(samples, procs)
		timer.Reset(memoryInterval)
	}
	return samples, nil
}

// waitForCommand waits until a process below root runs cmdFile.
func waitForCommand(ctx context.Context, root int, cmdFile fileKey) error {
	deadline := time.Now().Add(memoryStartTimeout)
	for {
		procs, err := readProcs()
		if err != nil {
			return err
		}
		if p, ok := procs[root]; !ok || p.state == 'Z' {
			return errors.New("it exited before its command ran")
		}
		for _, p := range processTree(procs, root) {
			if k, err := fileID(procExe(p.pid)); err == nil && k == cmdFile {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("its command did not run within %v", memoryStartTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// sampleLauncher reads the memory of root and every process below it,
// except the command (the process that runs cmdFile) and what is below
// it. The launcher's processes must not change while it reads them.
func sampleLauncher(root int, cmdFile fileKey) ([]procMemory, error) {
	procs, err := readProcs()
	if err != nil {
		return nil, err
	}
	var out []procMemory
	skipBelow := -1 // depth of the command's subtree while inside it
	sawCommand := false
	for _, p := range processTree(procs, root) {
		if skipBelow >= 0 && p.depth > skipBelow {
			continue
		}
		skipBelow = -1
		k, err := fileID(procExe(p.pid))
		if err != nil {
			return nil, fmt.Errorf("process %d (%s): %w", p.pid, p.comm, err)
		}
		if k == cmdFile {
			skipBelow, sawCommand = p.depth, true
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.pid), "smaps_rollup"))
		if err != nil {
			return nil, fmt.Errorf("process %d (%s): %w", p.pid, p.comm, err)
		}
		rss, pss, err := parseSmapsRollup(data)
		if err != nil {
			return nil, fmt.Errorf("process %d (%s): %w", p.pid, p.comm, err)
		}
		name := p.comm
		if p.depth > 0 {
			name = fmt.Sprintf("%s (depth %d)", p.comm, p.depth)
		}
		out = append(out, procMemory{Process: name, RSSKiB: rss, PSSKiB: pss})
	}
	if !sawCommand {
		return nil, errors.New("its command is no longer running")
	}
	return out, nil
}

// parseSmapsRollup reads the Rss and Pss lines, in KiB, of the contents
// of /proc/PID/smaps_rollup. An empty file is a process without memory
// of its own (a zombie, a kernel thread): 0, 0.
func parseSmapsRollup(data []byte) (rss, pss int64, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return 0, 0, nil
	}
	found := 0
	for line := range strings.Lines(string(data)) {
		key, value, ok := strings.Cut(line, ":")
		if !ok || (key != "Rss" && key != "Pss") {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, fmt.Errorf("smaps_rollup: %s line %q: want a number of kB", key, strings.TrimSpace(line))
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("smaps_rollup: %s line: %w", key, err)
		}
		if key == "Rss" {
			rss = n
			found |= 1
		} else {
			pss = n
			found |= 2
		}
	}
	if found != 3 {
		return 0, 0, errors.New("smaps_rollup: no Rss and Pss lines")
	}
	return rss, pss, nil
}

// procInfo is a process as its /proc/PID/stat shows it.
type procInfo struct {
	pid, ppid int
	comm      string
	state     byte
	// depth is, in processTree's result, the depth below the root.
	depth int
}

// parseStat reads the name, state and parent of a process out of its
// /proc/PID/stat. The name is in parentheses and may itself hold
// spaces and parentheses: it ends at the last ')'.
func parseStat(data []byte) (procInfo, error) {
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procInfo{}, fmt.Errorf("stat %q: no (name)", s)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return procInfo{}, fmt.Errorf("stat %q: pid: %w", s, err)
	}
	rest := strings.Fields(s[end+1:])
	if len(rest) < 2 || len(rest[0]) != 1 {
		return procInfo{}, fmt.Errorf("stat %q: no state and parent after the name", s)
	}
	ppid, err := strconv.Atoi(rest[1])
	if err != nil {
		return procInfo{}, fmt.Errorf("stat %q: parent: %w", s, err)
	}
	return procInfo{pid: pid, ppid: ppid, comm: s[open+1 : end], state: rest[0][0]}, nil
}

// readProcs reads every process of /proc, by pid. A process that exits
// while it is read is left out.
func readProcs() (map[int]procInfo, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	procs := make(map[int]procInfo, len(entries))
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
				continue
			}
			return nil, err
		}
		p, err := parseStat(data)
		if err != nil {
			return nil, err
		}
		procs[p.pid] = p
	}
	return procs, nil
}

// processTree is root and every process below it in procs, depth first
// (each process before its children, children by pid), with their
// depths below root; nil if root is not in procs.
func processTree(procs map[int]procInfo, root int) []procInfo {
	children := make(map[int][]int)
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	var out []procInfo
	var walk func(pid, depth int)
	walk = func(pid, depth int) {
		p, ok := procs[pid]
		if !ok {
			return
		}
		p.depth = depth
		out = append(out, p)
		kids := children[pid]
		slices.Sort(kids)
		for _, c := range kids {
			walk(c, depth+1)
		}
	}
	walk(root, 0)
	return out
}

// fileKey identifies a file: its device and inode.
type fileKey struct{ dev, ino uint64 }

// fileID identifies the file path names, following symlinks (and
// /proc/PID/exe, which names the executable of a process in any mount
// namespace).
func fileID(path string) (fileKey, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileKey{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return fileKey{dev: st.Dev, ino: st.Ino}, nil
}

// procExe is the path of the executable of process pid.
func procExe(pid int) string { return filepath.Join("/proc", strconv.Itoa(pid), "exe") }
