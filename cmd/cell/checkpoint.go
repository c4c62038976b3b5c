//go:build !cell_lean

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/checkpoint"
	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/launcher/plan"
)

// checkpointCommands are cell checkpoint and cell restore (CRIU).
func checkpointCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "checkpoint",
			Usage:     "write a running sandbox's processes, mounts, namespaces, limits and plan to DIR (CRIU)",
			ArgsUsage: "NAME DIR",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "leave-running", Usage: "keep the sandbox running after the dump (else it ends once its images are written)"},
				&cli.BoolFlag{Name: "pre-dump", Usage: "write only memory, into DIR/pre/N, and keep running: a later checkpoint to DIR writes only what changed since"},
			},
			Action: checkpointAction,
		},
		{
			Name:      "restore",
			Usage:     "rebuild a sandbox from a checkpoint's plan and resume its processes (CRIU)",
			ArgsUsage: "DIR",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "name", Usage: "name the restored sandbox (default: the checkpointed one's)"},
				&cli.StringFlag{Name: "report", Usage: "write how long the restore took, as JSON, to `FILE` once the processes run"},
				&cli.StringFlag{Name: "stats", Usage: "write statistics as JSON to `FILE` (- for stderr) when the command ends, as cell run --stats"},
			},
			Action: restoreAction,
		},
	}
}

// findCRIU returns criu's path: on PATH, else where Debian installs it
// (/usr/sbin is not on an ordinary user's PATH).
func findCRIU() (string, error) {
	if p, err := exec.LookPath("criu"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/criu", "/sbin/criu", "/usr/local/sbin/criu"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errors.New("criu is not installed")
}

// criuSupport says whether checkpoints work here: criu is there, answers
// its RPC, and its check of the kernel passes; and the caller is root.
// The error says why not, with CRIU's own words.
func criuSupport() (*checkpoint.CRIU, string, error) {
	path, err := findCRIU()
	if err != nil {
		return nil, "", err
	}
	c := &checkpoint.CRIU{Path: path}
	v, err := c.Version()
	if err != nil {
		return nil, "", fmt.Errorf("%s does not answer its RPC: %w", path, err)
	}
	if os.Geteuid() != 0 {
		return nil, v, fmt.Errorf("criu %s: cell checkpoints only as root (CRIU's unprivileged mode, CAP_CHECKPOINT_RESTORE on criu, cannot restore a sandbox's user and mount namespaces)", v)
	}
	if err := c.Check(); err != nil {
		return nil, v, fmt.Errorf("criu %s check fails on kernel %s: %v", v, kernelRelease(), err)
	}
	return c, v, nil
}

func kernelRelease() string {
	var u unix.Utsname
	_ = unix.Uname(&u)
	return unix.ByteSliceToString(u.Release[:])
}

// unsupported is the refusal of a command that needs CRIU where it does
// not work: status 1, as any failure of cell's own.
func unsupported(what string, err error) error {
	return fmt.Errorf("%s: checkpointing does not work here: %w", what, err)
}

// checkpointCheck is cell doctor's line on checkpoints.
func checkpointCheck() host.Check {
	_, v, err := criuSupport()
	switch {
	case err == nil:
		return host.Check{Name: "checkpoint", Status: host.OK, Detail: "criu " + v + ": criu check passes; cell checkpoint and restore work"}
	case v == "":
		return host.Check{Name: "checkpoint", Status: host.Warn, Detail: "cell checkpoint and restore are refused: " + err.Error(), Fix: "apt-get install criu"}
	case os.Geteuid() != 0:
		return host.Check{Name: "checkpoint", Status: host.Warn, Detail: "cell checkpoint and restore are refused: " + err.Error(), Fix: "run them as root"}
	}
	return host.Check{Name: "checkpoint", Status: host.Warn, Detail: "cell checkpoint and restore are refused: " + err.Error(),
		Fix: "a CRIU that supports kernel " + kernelRelease() + ", or a kernel this CRIU supports"}
}

func checkpointAction(c *cli.Context) error {
	if c.NArg() != 2 {
		return usageError("checkpoint: NAME DIR")
	}
	name, dir := c.Args().Get(0), c.Args().Get(1)
	if c.Bool("pre-dump") && c.Bool("leave-running") {
		return usageError("checkpoint: --pre-dump always leaves the sandbox running; give one of them")
	}
	rec, err := runningRecord(name)
	if err != nil {
		return err
	}
	st, err := openStore()
	if err != nil {
		return err
	}
	// A sandbox's cell keeps its origin while the command already
	// runs (off the launch's path): one started a moment ago may not
	// have it yet.
	o, err := st.ReadOrigin(name)
	for deadline := time.Now().Add(2 * time.Second); errors.Is(err, os.ErrNotExist) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		o, err = st.ReadOrigin(name)
	}
	if err != nil {
		return err
	}
	pl, err := plan.Decode(o.Plan)
	if err != nil {
		return err
	}
	// What the sandbox is made of is refused first: that answer does
	// not depend on the host.
	if bl := checkpoint.Blockers(pl); len(bl) > 0 {
		return &checkpoint.BlockedError{Name: name, Reasons: bl}
	}
	criu, _, err := criuSupport()
	if err != nil {
		return unsupported("checkpoint "+name, err)
	}
	d := &checkpoint.Dump{Name: name, InitPid: rec.Pid, Origin: *o, Dir: dir, LeaveRunning: c.Bool("leave-running"), PreDump: c.Bool("pre-dump"), CRIU: criu}
	m, err := d.Run()
	if err != nil {
		return err
	}
	what := "checkpointed"
	if d.PreDump {
		what = "pre-dumped"
	}
	fmt.Fprintf(c.App.ErrWriter, "cell: %s %s to %s: %d pages written (%d unchanged since the pre-dump), frozen %.1f ms, %.1f ms in all\n",
		what, name, filepath.Join(dir, m.Images), m.Dump.PagesWritten, m.Dump.PagesSkipped, float64(m.Dump.FrozenMicros)/1000, float64(m.Dump.Micros)/1000)
	return nil
}

// restoreReport is what restore --report writes.
type restoreReport struct {
	Name string `json:"name"`
	Pid  int    `json:"pid"`
	// RestoreMicros is CRIU's restore, from the request to resumed
	// processes; TotalMicros cell's whole way there, from its start
	// (reading and checking the checkpoint, the cgroup, the record).
	RestoreMicros int64 `json:"restoreMicros"`
	// ReadMicros is the reading and checking of the checkpoint
	// (manifest, hashes, plan).
	ReadMicros  int64 `json:"readMicros"`
	TotalMicros int64 `json:"totalMicros"`
}

func restoreAction(c *cli.Context) error {
	t0 := time.Now()
	if c.NArg() != 1 {
		return usageError("restore: DIR")
	}
	dir := c.Args().First()
	name := c.String("name")
	if name != "" {
		if err := state.ValidName(name); err != nil {
			return usageError(err.Error())
		}
	}
	rp, err := checkpoint.Load(dir, name)
	if err != nil {
		return err
	}
	// criu check costs a restore as much as the restore itself (a second
	// run of criu, probing every kernel feature): it runs only when the
	// restore failed, to say whether checkpoints work here at all.
	path, err := findCRIU()
	if err != nil {
		return unsupported("restore "+dir, err)
	}
	if os.Geteuid() != 0 {
		_, _, err := criuSupport()
		return unsupported("restore "+dir, err)
	}
	readMicros := time.Since(t0).Microseconds()
	initPath, _ := launcher.FindInit()
	if initPath == "" {
		if initPath, err = os.Executable(); err != nil {
			return err
		}
	}
	st, err := openStore()
	if err != nil {
		return err
	}
	status, err := launcher.Restore(context.Background(), rp, launcher.RestoreOptions{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Forward: true,
		Store: st, CRIU: &checkpoint.CRIU{Path: path}, Init: initPath,
		Restored: func(pid int, criuMicros int64) error {
			if c.String("report") == "" {
				return nil
			}
			b, _ := json.Marshal(restoreReport{Name: rp.Name, Pid: pid, ReadMicros: readMicros, RestoreMicros: criuMicros, TotalMicros: time.Since(t0).Microseconds()})
			return os.WriteFile(c.String("report"), append(b, '\n'), 0o600)
		},
		CRIUFailed: func(err error) error {
			if _, _, serr := criuSupport(); serr != nil {
				return unsupported("restore "+dir, serr)
			}
			return err
		},
	})
	if err != nil {
		return explain(err)
	}
	if f := c.String("stats"); f != "" && status.Stats != nil {
		if err := writeStats(f, status.Stats); err != nil {
			return err
		}
	}
	return exitStatus(status.Code)
}

// restorePlan prints what cell restore DIR [--name NAME] would do (cell
// plan --restore): the plan that restore runs, from the same Load.
func restorePlan(c *cli.Context, dir string) error {
	name := c.String("name")
	if name != "" {
		if err := state.ValidName(name); err != nil {
			return usageError(err.Error())
		}
	}
	rp, err := checkpoint.Load(dir, name)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(rp)
	}
	_, err = io.WriteString(c.App.Writer, rp.String())
	return err
}
