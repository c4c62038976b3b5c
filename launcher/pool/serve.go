package pool

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/launcher/plan"
)

// Config is a pool for Serve.
type Config struct {
	// Name is the pool's name: its record is RecordName(Name) and its
	// socket that record's in Store. One pool of a name runs at a time.
	Name string
	// Profile is the name of the profile its sandboxes are built from,
	// for its record.
	Profile string
	// Size is how many sandboxes are kept ready, 1 to 64.
	Size int
	// Store is the state directory that records the pool and each of
	// its sandboxes (so that cell ps lists them and cell gc removes
	// their cgroups should the pool be killed).
	Store *state.Store
	// Plan compiles the plan of one more sandbox, pooled
	// (compile.Invocation.Pooled) and with a name of its own.
	Plan func() (*plan.Plan, error)
	// Listening, when not nil, is called with the socket's path once
	// the pool takes requests.
	Listening func(socket string)
	// StopSignals, when set, makes SIGTERM and SIGINT stop the pool, as
	// `cell pool stop` does by sending SIGTERM to the daemon.
	StopSignals bool
}

// Stop stops the pool name that Serve runs with StopSignals: it sends
// the daemon SIGTERM and waits until it is gone. Commands it handed over
// run to their end first. The record of a pool found dead is removed.
func Stop(store *state.Store, name string) error {
	r, err := store.Get(RecordName(name))
	if err != nil {
		return err
	}
	if !r.Alive() {
		_ = store.Delete(r.Name)
		return fmt.Errorf("pool %s is not running", name)
	}
	if err := unix.Kill(r.Pid, unix.SIGTERM); err != nil {
		return fmt.Errorf("pool stop: %w", err)
	}
	for r.Alive() {
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// refillDelay is how long a pool waits, at most, after handing a
// sandbox over before it builds the replacement.
const refillDelay = 20 * time.Millisecond

// Serve runs the pool daemon until ctx ends (or a stop signal arrives,
// with StopSignals): it builds Size sandboxes ahead of time, hands each
// to one request on its socket, and builds a replacement. When it stops,
// commands already handed over run to their end and the sandboxes still
// waiting are killed. A sandbox that cannot be started stops the pool:
// requests are then refused with the reason, which Serve returns.
//
// Every sandbox is started from one goroutine locked to its thread for
// the daemon's life: the sandboxes' parent-death signal is bound to that
// thread.
func Serve(ctx context.Context, cfg Config) error {
	if cfg.Size < 1 || cfg.Size > 64 {
		return fmt.Errorf("pool %s: size %d: a pool keeps 1 to 64 sandboxes", cfg.Name, cfg.Size)
	}
	if _, err := cfg.Plan(); err != nil {
		return err
	}
	store, name := cfg.Store, cfg.Name
	// The pool's own record names its socket and lets cell pool stop
	// find the daemon; one pool of a name runs at a time.
	self := &state.Record{Name: RecordName(name), Profile: cfg.Profile, Started: time.Now().UTC(), Pid: os.Getpid(), CellPid: os.Getpid()}
	self.PidStart, _ = state.StartTime(self.Pid)
	self.CellStart = self.PidStart
	if err := store.Create(self); err != nil {
		return fmt.Errorf("pool %s: %w", name, err)
	}
	defer store.Delete(self.Name)
	if cfg.StopSignals {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, unix.SIGTERM, unix.SIGINT)
		defer stop()
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()

	ready := make(chan pooled, cfg.Size)
	want := make(chan struct{}, cfg.Size)
	// broken is closed when a sandbox could not be started; failure says
	// why. The pool then refuses requests and stops.
	broken := make(chan struct{})
	var failure error
	// stopping ends the building; built is closed when the builder has
	// returned, so that no sandbox is made after the last is killed.
	stopping, built := make(chan struct{}), make(chan struct{})
	go func() {
		// Locked for good: the sandboxes die with this thread, so it
		// returns only when the pool stops, never on a failure.
		runtime.LockOSThread()
		defer close(built)
		for range want {
			select {
			case <-stopping:
				continue
			case <-broken:
				continue
			default:
			}
			x, err := startPooled(store, cfg.Plan, devnull)
			if err != nil {
				failure = err
				close(broken)
				continue
			}
			ready <- x
		}
	}()
	for range cfg.Size {
		want <- struct{}{}
	}
	path := store.Socket(RecordName(name))
	_ = os.Remove(path) // a dead pool's; the record above is ours alone
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		close(stopping)
		close(want)
		<-built
		killReady(store, ready)
		return fmt.Errorf("pool socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	defer os.Remove(path)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		close(stopping)
		close(want)
		<-built
		killReady(store, ready)
		return err
	}
	if cfg.Listening != nil {
		cfg.Listening(path)
	}
	go func() {
		// A pool that cannot make sandboxes stops too, with the reason.
		select {
		case <-ctx.Done():
		case <-broken:
		}
		ln.Close()
	}()
	// serve gives a client's request a ready sandbox, once the request
	// has been read (a malformed one, or one of another protocol version,
	// takes none), and asks for a replacement.
	serve := func(conn *net.UnixConn) {
		req, err := Accept(conn)
		if err != nil {
			return
		}
		var x pooled
		select {
		case x = <-ready:
		case <-broken:
			req.Refuse(fmt.Errorf("pool %s: starting a sandbox failed: %w", name, failure))
			ln.Close()
			return
		}
		// The replacement is built once this command has ended, or
		// after refillDelay: building one takes the CPUs for ~20 ms,
		// which a short command would otherwise wait for.
		ended, asked := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(asked)
			t := time.NewTimer(refillDelay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ended:
			}
			want <- struct{}{}
		}()
		_, _ = req.RunPooled(x.sb, x.rec.Name)
		close(ended)
		<-asked // before the pool may stop and close want
		_ = store.Delete(x.rec.Name)
	}
	var inFlight sync.WaitGroup
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			break
		}
		inFlight.Go(func() { serve(conn) })
	}
	// Commands already handed over run to their end; sandboxes still
	// waiting for one end with the pool.
	inFlight.Wait()
	close(stopping)
	close(want)
	<-built
	killReady(store, ready)
	select {
	case <-broken:
		return fmt.Errorf("pool: starting a sandbox: %w", failure)
	default:
		return nil
	}
}

// killReady ends the sandboxes still waiting for a command.
func killReady(store *state.Store, ready chan pooled) {
	for {
		select {
		case x := <-ready:
			_ = x.sb.Kill()
			_, _ = x.sb.Wait()
			_ = store.Delete(x.rec.Name)
		default:
			return
		}
	}
}

// pooled is a sandbox of the pool and its record.
type pooled struct {
	sb  *sandbox.Sandbox
	rec *state.Record
}

// startPooled records and starts one sandbox of the pool.
func startPooled(store *state.Store, compilePlan func() (*plan.Plan, error), devnull *os.File) (x pooled, err error) {
	pl, err := compilePlan()
	if err != nil {
		return x, err
	}
	rec := state.NewRecord(pl.Name, pl.Profile, pl.Cgroup)
	if err := store.Create(rec); err != nil {
		return x, err
	}
	sb, err := sandbox.Start(pl, sandbox.Stdio{Stdin: devnull, Stdout: devnull, Stderr: devnull}, nil, nil)
	if err != nil {
		_ = store.Delete(rec.Name)
		return x, err
	}
	rec.Pid = sb.Pid()
	rec.PidStart, _ = state.StartTime(rec.Pid)
	rec.Address = sb.Address()
	_ = store.Update(rec)
	x.sb, x.rec = sb, rec
	return x, nil
}
