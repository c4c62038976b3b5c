package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/checkpoint"
	"github.com/cellsandbox/cell/launcher/host"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/launcher/pool"
	"github.com/cellsandbox/cell/launcher/sandbox"
	"github.com/cellsandbox/cell/launcher/state"
	"github.com/cellsandbox/cell/spec"
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

// originFile is where cell run keeps what a sandbox was built from,
// beside its record (state.Store.Delete removes it with the record).
func originFile(st *state.Store, name string) string {
	return filepath.Join(filepath.Dir(st.Socket(name)), name+".origin.json")
}

// saveOrigin keeps the plan and profile of a running sandbox for cell
// checkpoint. Without it a checkpoint of the sandbox is refused, never
// made from a plan compiled again (the host or the files may have
// changed since).
func saveOrigin(st *state.Store, name string, pl *plan.Plan, p *spec.Profile) error {
	pj, err := json.Marshal(pl)
	if err != nil {
		return err
	}
	var prof []byte
	if p != nil {
		if prof, err = json.Marshal(p); err != nil {
			return err
		}
	}
	return writeOrigin(st, name, checkpoint.Origin{Profile: prof, Plan: pj})
}

func writeOrigin(st *state.Store, name string, o checkpoint.Origin) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	path := originFile(st, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// readOrigin reads the origin of name: a regular file of the caller's
// that nobody else may write, as the record itself.
func readOrigin(st *state.Store, name string) (*checkpoint.Origin, error) {
	path := originFile(st, name)
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("sandbox %s has no plan kept beside its record (%s): it was started by a cell without checkpoints", name, path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var s unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &s); err != nil {
		return nil, err
	}
	if s.Mode&unix.S_IFMT != unix.S_IFREG || int(s.Uid) != os.Geteuid() || s.Mode&0o022 != 0 {
		return nil, &state.ForeignError{Path: path, UID: int(s.Uid), EUID: os.Geteuid(), Mode: s.Mode & 0o7777}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	var o checkpoint.Origin
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &o, nil
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
	o, err := readOrigin(st, name)
	if err != nil {
		return err
	}
	var pl plan.Plan
	if err := json.Unmarshal(o.Plan, &pl); err != nil {
		return err
	}
	// What the sandbox is made of is refused first: that answer does
	// not depend on the host.
	if bl := checkpoint.Blockers(&pl); len(bl) > 0 {
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
	m, pl, err := checkpoint.Read(dir)
	if err != nil {
		return err
	}
	name := m.Name
	if c.IsSet("name") {
		name = c.String("name")
	}
	if err := state.ValidName(name); err != nil {
		return usageError(err.Error())
	}
	pl = checkpoint.Rename(pl, name)
	// criu check costs a restore as much as the restore itself (a second
	// run of criu, probing every kernel feature): it runs only when the
	// restore failed, to say whether checkpoints work here at all.
	path, err := findCRIU()
	if err != nil {
		return unsupported("restore "+dir, err)
	}
	criu := &checkpoint.CRIU{Path: path}
	if os.Geteuid() != 0 {
		_, _, err := criuSupport()
		return unsupported("restore "+dir, err)
	}
	readMicros := time.Since(t0).Microseconds()
	initPath, _ := initBinary()
	if initPath == "" {
		if initPath, err = os.Executable(); err != nil {
			return err
		}
	}
	st, err := openStore()
	if err != nil {
		return err
	}
	rec := &state.Record{Name: name, Profile: pl.Profile, Started: time.Now().UTC(), Cgroup: pl.Cgroup, CellPid: os.Getpid()}
	rec.CellStart, _ = state.StartTime(os.Getpid())
	if err := st.Create(rec); err != nil {
		return err
	}
	defer st.Delete(name)
	pj, err := json.Marshal(pl)
	if err != nil {
		return err
	}
	if err := writeOrigin(st, name, checkpoint.Origin{Profile: m.Profile, Plan: pj}); err != nil {
		return err
	}

	// As for cell run: init's parent-death signal is this thread's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, relayed...)
	defer signal.Stop(sigs)

	r, err := sandbox.PrepareRestore(pl)
	if err != nil {
		return explain(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return errors.Join(os.NewSyscallError("socketpair", err), r.Abort())
	}
	conn := os.NewFile(uintptr(fds[0]), "cell-init")
	initEnd := os.NewFile(uintptr(fds[1]), "cell-init")
	root, err := os.MkdirTemp("", "cell-restore-root-")
	if err != nil {
		conn.Close()
		initEnd.Close()
		return errors.Join(err, r.Abort())
	}
	defer os.Remove(root)
	cgfd := -1
	if r.CgroupDir != nil {
		cgfd = int(r.CgroupDir.Fd())
	}
	rs := &checkpoint.Restore{Dir: dir, Manifest: m, Plan: pl, InitConn: initEnd, Stdio: [3]*os.File{os.Stdin, os.Stdout, os.Stderr},
		Init: initPath, CgroupFD: cgfd, Root: root, CRIU: criu}
	got, err := rs.Run()
	initEnd.Close()
	if err != nil {
		conn.Close()
		if _, _, serr := criuSupport(); serr != nil {
			err = unsupported("restore "+dir, serr)
		}
		return errors.Join(err, r.Abort())
	}
	sb, err := r.Adopt(got.Pid, conn, got.Console)
	if err != nil {
		_ = unix.Kill(got.Pid, unix.SIGKILL)
		return errors.Join(err, r.Abort())
	}
	rec.Pid = got.Pid
	rec.PidStart, _ = state.StartTime(got.Pid)
	_ = st.Update(rec)
	if stop, err := pool.ServeExec(sb, name, st.Socket(name)); err == nil {
		defer stop()
	}
	if c.String("report") != "" {
		b, _ := json.Marshal(restoreReport{Name: name, Pid: got.Pid, ReadMicros: readMicros, RestoreMicros: got.Micros, TotalMicros: time.Since(t0).Microseconds()})
		if err := os.WriteFile(c.String("report"), append(b, '\n'), 0o600); err != nil {
			_ = sb.Kill()
			_, _ = sb.Wait()
			return err
		}
	}
	if got.Console != nil {
		term := newPTY(got.Console)
		term.suspend = suspender(sb.Signal)
		if err := term.start(os.Stdin, os.Stdout); err != nil {
			_ = sb.Kill()
			_, _ = sb.Wait()
			return err
		}
		defer term.close()
	}
	go func() {
		for s := range sigs {
			_ = sb.Signal(s.(syscall.Signal))
		}
	}()
	status, err := sb.Wait()
	if err != nil {
		return explain(err)
	}
	if f := c.String("stats"); f != "" {
		if err := writeStats(f, sb.Stats(status)); err != nil {
			return err
		}
	}
	return exitStatus(status.ExitCode())
}

// restorePlan prints what cell restore DIR would do (cell plan --restore).
func restorePlan(c *cli.Context, dir string) error {
	m, pl, err := checkpoint.Read(dir)
	if err != nil {
		return err
	}
	if c.IsSet("name") {
		if err := state.ValidName(c.String("name")); err != nil {
			return usageError(err.Error())
		}
		pl = checkpoint.Rename(pl, c.String("name"))
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(checkpoint.RestorePlanOf(m, pl, dir))
	}
	_, err = io.WriteString(c.App.Writer, checkpoint.RestorePlanOf(m, pl, dir).String())
	return err
}
