package ociruntime

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/spec/oci"
)

// Runtime is the OCI runtime over one state directory.
type Runtime struct {
	// Root is the state directory (runc's --root): ROOT/ID per container.
	Root string
	// Warn receives what the runtime reports without failing (a
	// poststop hook that failed).
	Warn io.Writer
}

// CreateOptions are create's flags.
type CreateOptions struct {
	Bundle        string
	PidFile       string
	ConsoleSocket string
	// Stdio is the container process's stdin, stdout and stderr.
	Stdio [3]*os.File
}

// sandboxName is the name of the sandbox of container id (its cgroup's
// name): the ID when cell takes it as a name, else a digest of it.
func sandboxName(id string) string {
	if state.ValidName(id) == nil {
		return id
	}
	h := sha256.Sum256([]byte(id))
	return "oci-" + hex.EncodeToString(h[:12])
}

// readConfig reads what the runtime itself needs of config.json, beside
// the profile: hooks, annotations, the process and its terminal.
func readConfig(bundle string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(bundle, oci.ConfigName))
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(bundle, oci.ConfigName), err)
	}
	if s.Process == nil {
		return nil, fmt.Errorf("%s: process: is required: it is what start runs", filepath.Join(bundle, oci.ConfigName))
	}
	return &s, nil
}

// compilePlan reads the bundle as a profile and compiles it through the
// launcher into the plan of a detached sandbox (Invocation.Detached): it
// outlives create, init waits for start's command, and delete tears it
// down from its record. name is the engine's (its cgroup's). Init is
// this executable re-executed (its main calls launcher.Init): the
// monitor that holds the sandbox is this executable too, so both are of
// one build.
func compilePlan(bundle, name string, warn io.Writer) (*launcher.Prepared, error) {
	p, warnings, err := oci.LoadRuntime(bundle)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		fmt.Fprintf(warn, "cell-oci: warning: %s\n", w)
	}
	facts, err := launcher.HostFacts()
	if err != nil {
		return nil, err
	}
	pl, _, err := launcher.Compile(p, facts, launcher.Invocation{EngineName: name, Detached: true, Init: "/proc/self/exe"})
	if err != nil {
		return nil, err
	}
	return &launcher.Prepared{Plan: pl, Profile: p, Facts: facts}, nil
}

// Create makes container id from the bundle: everything but the
// process, which start runs. It returns once init waits for start; init
// is left to the caller.
func (r *Runtime) Create(id string, o CreateOptions) (err error) {
	if err := checkID(id); err != nil {
		return err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.Root, 0o711); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	dir := r.dir(id)
	if err := os.Mkdir(dir, 0o700); errors.Is(err, os.ErrExist) {
		return fmt.Errorf("container with id %q already exists", id)
	} else if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	var rec *record
	var sb *launcher.Sandbox
	defer func() {
		if err == nil {
			return
		}
		if sb != nil {
			_ = sb.Kill()
			_, _ = sb.Wait()
		}
		if rec != nil && rec.Plan.Cgroup != nil {
			_ = removeCgroup(rec)
		}
		os.RemoveAll(dir)
	}()
	cfg, err := readConfig(bundle)
	if err != nil {
		return err
	}
	if cfg.Process.Terminal && o.ConsoleSocket == "" {
		return errors.New("process.terminal is true: --console-socket is required")
	}
	name := sandboxName(id)
	if cfg.Linux != nil && cfg.Linux.CgroupsPath != "" {
		// Its last element names the cgroup (engines' names are
		// longer than cell's sandbox names may be).
		name = oci.CgroupName(cfg.Linux.CgroupsPath)
	}
	prep, err := compilePlan(bundle, name, r.Warn)
	if err != nil {
		return err
	}
	rec = &record{ID: id, Bundle: bundle, Created: time.Now().UTC(), Annotations: cfg.Annotations,
		OCIVersion: cfg.Version, Hooks: cfg.Hooks, Process: cfg.Process, Plan: prep.Plan}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	// Init keeps no copy of the container's stdio: the monitor holds it
	// until start.
	sb, err = launcher.Start(prep, launcher.Stdio{Stdin: devnull, Stdout: devnull, Stderr: devnull}, nil)
	if err != nil {
		return err
	}
	if err := sb.Ready(); err != nil {
		sb = nil // Ready waited for it
		return err
	}
	rec.Sent = sb.SentPlan()
	rec.Pid = sb.Pid()
	if rec.PidStart, err = state.StartTime(rec.Pid); err != nil {
		return err
	}
	stdio := o.Stdio
	var tty bool
	if cfg.Process.Terminal {
		slave, err := sendConsole(rec, o.ConsoleSocket)
		if err != nil {
			return err
		}
		defer slave.Close()
		stdio, tty = [3]*os.File{slave, slave, slave}, true
	}
	if err := r.save(rec); err != nil {
		return err
	}
	conn, err := sb.Detach()
	if err != nil {
		return err
	}
	if err := startMonitor(dir, conn, stdio, tty); err != nil {
		return err
	}
	st := r.stateOf(rec, StatusCreated)
	for _, h := range [][]specs.Hook{hooksOf(rec, "createRuntime"), hooksOf(rec, "createContainer")} {
		if err := runHooks(h, st); err != nil {
			return err
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, rec.Pid); err != nil {
			return err
		}
	}
	return nil
}

// writePidFile writes pid to path atomically, as callers poll for it.
func writePidFile(path string, pid int) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// startMonitor leaves the container's monitor behind: it holds init's
// socket and the stdio that start hands to the container process, and
// serves start, exec and kill on DIR/monitor.sock. It runs in a session
// of its own with /dev/null as stdio, so that it holds none of the
// caller's pipes but the container's own.
func startMonitor(dir string, conn *os.File, stdio [3]*os.File, tty bool) error {
	sock, done, err := socketAddr(dir)
	if err != nil {
		return fmt.Errorf("monitor socket: %w", err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	done()
	if err != nil {
		return fmt.Errorf("monitor socket: %w", err)
	}
	l.SetUnlinkOnClose(false)
	lf, err := l.File()
	l.Close()
	if err != nil {
		return err
	}
	defer lf.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	files := []*os.File{conn, lf}
	for _, f := range stdio {
		if f == nil {
			f = devnull
		}
		files = append(files, f)
	}
	ttyArg := "0"
	if tty {
		ttyArg = "1"
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{MonitorArg0, dir, ttyArg},
		Stdin:       devnull,
		Stdout:      devnull,
		Stderr:      devnull,
		ExtraFiles:  files,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the monitor: %w", err)
	}
	// The monitor is left to the caller, as init is.
	return cmd.Process.Release()
}

// removeCgroup kills what is left in the container's cgroups and
// removes them: the plan's printed cleanup steps.
func removeCgroup(rec *record) error {
	return launcher.Teardown(rec.Plan)
}
