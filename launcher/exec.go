package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/term"
	"github.com/cellsandbox/cell/launcher/pool"
)

// Exec hands req to the server of cl (a pool's, or a running sandbox's
// exec socket) with Options.Stdin, Stdout and Stderr (nil is /dev/null)
// and supervises the command until it has ended: with req.TTY it gets a
// terminal, made in the sandbox's devpts when it has one, that Exec
// relays; otherwise each of the three that is a terminal reaches the
// command through a pipe that is closed when the command ends, so that
// nothing it leaves behind keeps the caller's terminal. Options.Forward,
// Timeout and KillAfter are as for Run (the timeout's SIGKILL ends the
// command, not a sandbox that outlives it); Store and Trace do not
// apply. A command that could not be executed is a *CommandError.
func Exec(ctx context.Context, cl *pool.Client, req pool.Request, o Options) (Status, error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	req.Stdin, req.Stdout, req.Stderr = o.Stdin, o.Stdout, o.Stderr
	var pty *term.PTY
	var relay *term.Relayed
	if !req.TTY {
		in, out, errf := o.Stdin, o.Stdout, o.Stderr
		var err error
		if relay, err = term.Relay([3]**os.File{&in, &out, &errf}); err != nil {
			return Status{}, err
		}
		req.Stdin, req.Stdout, req.Stderr = in, out, errf
	} else {
		var err error
		if pty, err = term.Open(); err != nil {
			return Status{}, err
		}
		// The sandbox's own devpts makes the terminal (the console);
		// this one is for a server that cannot.
		req.Stdin, req.Stdout, req.Stderr, req.Console = pty.Slave, pty.Slave, pty.Slave, true
	}
	var sigs chan os.Signal
	if o.Forward {
		sigs = make(chan os.Signal, 8)
		signal.Notify(sigs, forwarded...)
		defer signal.Stop(sigs)
	}
	ctx, kill := context.WithCancel(ctx)
	defer kill()
	p, err := cl.Start(ctx, req)
	if relay != nil {
		relay.HandedOver()
		defer relay.Close()
	}
	if pty != nil {
		// Only the sandbox holds the slave now: its end closes the master.
		pty.Slave.Close()
		if err != nil {
			pty.Master.Close()
			return Status{}, err
		}
		if m := p.Console(); m != nil {
			pty.Master.Close()
			pty = term.New(m)
		}
		in, out := o.Stdin, o.Stdout
		if in == nil {
			in = devNull()
		}
		if out == nil {
			out = devNull()
		}
		if err := pty.Start(in, out); err != nil {
			pty.Master.Close()
			_ = p.Signal(unix.SIGKILL)
			_, _ = p.Wait()
			return Status{}, err
		}
		defer pty.Close()
	}
	if err != nil {
		return Status{}, err
	}
	if o.Forward {
		if pty != nil && pty.Interactive() {
			pty.SetSuspend(term.Suspender(p.Signal))
		} else {
			defer term.SuspendWith(term.Suspender(p.Signal))()
		}
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case s := <-sigs:
					_ = p.Signal(s.(unix.Signal))
				case <-done:
					return
				}
			}
		}()
	}
	var timedOut atomic.Bool
	if o.Timeout > 0 {
		// As Run's timeout: SIGTERM to the command, then SIGKILL (the
		// context's end) when it is still running after the grace.
		t := time.AfterFunc(o.Timeout, func() {
			timedOut.Store(true)
			fmt.Fprintf(log, "cell: timeout: %s elapsed, sending SIGTERM\n", o.Timeout)
			_ = p.Signal(unix.SIGTERM)
			time.AfterFunc(o.KillAfter, func() {
				fmt.Fprintf(log, "cell: timeout: still running %s later, killing the command\n", o.KillAfter)
				kill()
			})
		})
		defer t.Stop()
	}
	res, err := p.Wait()
	if timedOut.Load() {
		return Status{TimedOut: true, Stats: res.Stats}, nil
	}
	var errno unix.Errno
	switch {
	case errors.As(err, &errno) && (errno == unix.ENOENT || errno == unix.ENOTDIR):
		return Status{}, &CommandError{Command: req.Args[0], NotFound: true, Err: err}
	case errors.As(err, &errno) && errno != 0:
		return Status{}, &CommandError{Command: req.Args[0], Err: err}
	case err != nil:
		return Status{}, err
	}
	st := statusOf(res.Status)
	st.Stats = res.Stats
	return st, nil
}
