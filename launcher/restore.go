// Checkpoint and restore drive CRIU through its RPC (go-criu and
// protobuf): a program built with the cell_lean tag (cell's run binary)
// leaves them out, and cell runs its full build for them.

//go:build !cell_lean

package launcher

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/checkpoint"
	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/internal/term"
	"github.com/cellsandbox/cell/launcher/pool"
)

// The checkpoint's types, under names a program outside this module can
// write (see types.go).
type (
	// CRIU is the checkpoint tool that Restore drives.
	CRIU = checkpoint.CRIU
	// RestorePlan is the plan of a restore (LoadRestore).
	RestorePlan = checkpoint.RestorePlan
)

// LoadRestore reads the checkpoint in dir and makes the plan that restores
// it, as sandbox name ("" keeps the checkpoint's): the plan that `cell plan
// --restore` prints and Restore runs.
func LoadRestore(dir, name string) (*RestorePlan, error) { return checkpoint.Load(dir, name) }

// RestoreOptions are how Restore brings a checkpoint back and supervises
// the restored sandbox.
type RestoreOptions struct {
	// Stdin, Stdout and Stderr replace the restored init's standard
	// descriptors (nil is /dev/null); with a terminal, Restore copies
	// between the new pty master and Stdin and Stdout, as Run does.
	Stdin, Stdout, Stderr *os.File
	// Forward is as Options.Forward.
	Forward bool
	// Store records the restored sandbox (required: a restored sandbox
	// always has a record, and its origin for the next checkpoint).
	Store *Store
	// CRIU is the criu to restore with; Init is cell's init executable,
	// which the checkpointed init ran (its hash is checked).
	CRIU *CRIU
	Init string
	// Restored, when not nil, is called once the processes run, with
	// the restored init's pid and CRIU's restore time; an error from it
	// ends the sandbox.
	Restored func(pid int, criuMicros int64) error
	// CRIUFailed, when not nil, explains an error of CRIU's restore
	// (whether checkpoints work here at all); its answer is returned.
	CRIUFailed func(error) error
}

// Restore runs the restore plan rp, which checkpoint.Load made (and cell
// plan --restore prints): the plan's cgroup steps again, CRIU's restore
// into that cgroup, then the restored init adopted as a sandbox and
// supervised until it ends, as Run supervises a launched one (record,
// Exec requests, terminal, signals, teardown by the plan's cleanup).
// When ctx ends first the sandbox is killed.
func Restore(ctx context.Context, rp *RestorePlan, o RestoreOptions) (Status, error) {
	pl := rp.Plan
	if o.Store == nil || o.CRIU == nil || o.Init == "" {
		return Status{}, errors.New("restore: a state store, criu and cell's init are needed")
	}
	rec := state.NewRecord(pl.Name, pl.Profile, pl.Cgroup)
	if err := o.Store.Create(rec); err != nil {
		return Status{}, err
	}
	defer o.Store.Delete(rec.Name)
	pj, err := pl.Encode()
	if err != nil {
		return Status{}, err
	}
	if err := o.Store.WriteOrigin(rec.Name, state.Origin{Profile: rp.Manifest.Profile, Plan: pj}); err != nil {
		return Status{}, err
	}

	// The restored processes are this thread's children (CRIU's
	// rst_sibling): init's parent-death signal is bound to it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var sigs chan os.Signal
	if o.Forward {
		sigs = make(chan os.Signal, 8)
		signal.Notify(sigs, forwarded...)
		defer signal.Stop(sigs)
	}

	// A bridged sandbox leases the address it had again: its sockets
	// are bound to it.
	var addr netip.Addr
	if n := rp.Manifest.Network; n != nil {
		if addr, err = n.Addr(); err != nil {
			return Status{}, err
		}
		rec.Address = n.Address
		if err := checkpoint.AwaitRelease(&rp.Manifest, 5*time.Second); err != nil {
			return Status{}, err
		}
	}
	r, err := sandbox.PrepareRestore(pl, addr)
	if err != nil {
		return Status{}, startError(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Status{}, errors.Join(os.NewSyscallError("socketpair", err), r.Abort())
	}
	conn := os.NewFile(uintptr(fds[0]), "cell-init")
	initEnd := os.NewFile(uintptr(fds[1]), "cell-init")
	root, err := os.MkdirTemp("", "cell-restore-root-")
	if err != nil {
		conn.Close()
		initEnd.Close()
		return Status{}, errors.Join(err, r.Abort())
	}
	defer os.Remove(root)
	cgfd := -1
	if r.CgroupDir != nil {
		cgfd = int(r.CgroupDir.Fd())
	}
	rs := &checkpoint.Restore{Dir: rp.Dir, Manifest: &rp.Manifest, Plan: pl, InitConn: initEnd, Stdio: [3]*os.File{o.Stdin, o.Stdout, o.Stderr},
		Init: o.Init, CgroupFD: cgfd, Root: root, CRIU: o.CRIU}
	got, err := rs.Run()
	initEnd.Close()
	if err != nil {
		conn.Close()
		if o.CRIUFailed != nil {
			err = o.CRIUFailed(err)
		}
		return Status{}, errors.Join(err, r.Abort())
	}
	sb, err := r.Adopt(got.Pid, conn, got.Console)
	if err != nil {
		_ = unix.Kill(got.Pid, unix.SIGKILL)
		return Status{}, errors.Join(err, r.Abort())
	}
	// kill ends the sandbox and waits for its teardown.
	kill := func(err error) (Status, error) {
		_ = sb.Kill()
		_, _ = sb.Wait()
		return Status{}, err
	}
	rec.Pid = got.Pid
	rec.PidStart, _ = state.StartTime(got.Pid)
	_ = o.Store.Update(rec)
	if stop, err := pool.ServeExec(sb, rec.Name, o.Store.Socket(rec.Name)); err == nil {
		defer stop()
	}
	if o.Restored != nil {
		if err := o.Restored(got.Pid, got.Micros); err != nil {
			return kill(err)
		}
	}
	if got.Console != nil {
		pty := term.New(got.Console)
		pty.SetSuspend(term.Suspender(sb.Signal))
		in, out := o.Stdin, o.Stdout
		if in == nil {
			in = devNull()
		}
		if out == nil {
			out = devNull()
		}
		if err := pty.Start(in, out); err != nil {
			return kill(err)
		}
		defer pty.Close()
	}
	done := make(chan struct{})
	defer close(done)
	if o.Forward {
		go func() {
			for {
				select {
				case s := <-sigs:
					if got.Console != nil && s == unix.SIGWINCH {
						continue // the pty's resize does
					}
					_ = sb.Signal(s.(syscall.Signal))
				case <-done:
					return
				}
			}
		}()
	}
	var canceled atomic.Bool
	go func() {
		select {
		case <-ctx.Done():
			canceled.Store(true)
			_ = sb.Kill()
		case <-done:
		}
	}()
	st, err := sb.Wait()
	if canceled.Load() {
		return Status{Code: 128 + int(unix.SIGKILL), Signal: unix.SIGKILL}, ctx.Err()
	}
	if err != nil {
		return Status{}, startError(err)
	}
	s := statusOf(st)
	s.Stats = sb.Stats(st)
	return s, nil
}
