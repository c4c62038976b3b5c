package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/compile"
	"github.com/cellsandbox/cell/launcher/host/probe"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/launcher/pool"
	"github.com/cellsandbox/cell/launcher/sandbox"
	"github.com/cellsandbox/cell/launcher/state"
)

func poolCommand() *cli.Command {
	return &cli.Command{
		Name:  "pool",
		Usage: "keep sandboxes built ahead of time, each used once, for cell run --pool",
		Subcommands: []*cli.Command{{
			Name:      "start",
			ArgsUsage: "[PROFILE]",
			Usage:     "build --size sandboxes of a profile and hand one to each cell run --pool NAME (runs until SIGTERM or SIGINT)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "profile", Aliases: []string{"p"}, Value: "default", Usage: "profile `FILE` or built-in name"},
				&cli.StringSliceFlag{Name: "set", Usage: "override a profile field: `KEY=VALUE`"},
				&cli.StringFlag{Name: "name", Usage: "the pool's name (default: the profile's)"},
				&cli.IntFlag{Name: "size", Value: 2, Usage: "sandboxes kept ready"},
			},
			Action: poolStart,
		}, {
			Name:      "stop",
			Usage:     "stop a pool: commands it handed over run to their end, the sandboxes still waiting are killed",
			ArgsUsage: "NAME",
			Action:    poolStop,
		}},
	}
}

// poolStop signals the pool's daemon and waits until it is gone.
func poolStop(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("pool stop: NAME")
	}
	store, err := openStore()
	if err != nil {
		return err
	}
	r, err := store.Get(pool.RecordName(c.Args().First()))
	if err != nil {
		return err
	}
	if !r.Alive() {
		_ = store.Delete(r.Name)
		return fmt.Errorf("pool %s is not running", c.Args().First())
	}
	if err := unix.Kill(r.Pid, unix.SIGTERM); err != nil {
		return fmt.Errorf("pool stop: %w", err)
	}
	for r.Alive() {
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// poolStart is the pool daemon. Every sandbox is started from one
// goroutine locked to its thread for the daemon's life: the sandboxes'
// parent-death signal is bound to that thread.
func poolStart(c *cli.Context) error {
	size := c.Int("size")
	if size < 1 || size > 64 {
		return usageError("pool start: --size is 1 to 64")
	}
	facts, err := probe.Host()
	if err != nil {
		return err
	}
	pos, _, dashed := splitArgs(c)
	if dashed {
		return usageError("pool start: unexpected --: a pool's commands come from cell run --pool NAME -- CMD")
	}
	profile, err := oneProfile(c, pos)
	if err != nil {
		return err
	}
	p, err := resolveProfile(c, profile, facts)
	if err != nil {
		return err
	}
	if err := probeFor(p, facts); err != nil {
		return err
	}
	name := c.String("name")
	if name == "" {
		name = p.Name
	}
	store, err := openStore()
	if err != nil {
		return err
	}
	compilePlan := func() (*plan.Plan, error) {
		n, err := sandboxName("", name)
		if err != nil {
			return nil, err
		}
		self, _ := initBinary()
		return compile.Profile(p, facts, compile.Invocation{Name: n, Args: []string{"true"}, Pooled: true, Self: self})
	}
	if _, err := compilePlan(); err != nil {
		return err
	}
	// The pool's own record names its socket and lets cell pool stop
	// find the daemon; one pool of a name runs at a time.
	self := &state.Record{Name: pool.RecordName(name), Profile: p.Name, Started: time.Now().UTC(), Pid: os.Getpid(), CellPid: os.Getpid()}
	self.PidStart, _ = state.StartTime(self.Pid)
	self.CellStart = self.PidStart
	if err := store.Create(self); err != nil {
		return fmt.Errorf("pool %s: %w", name, err)
	}
	defer store.Delete(self.Name)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, unix.SIGTERM, unix.SIGINT)
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()

	// Each sandbox is recorded in the state directory like a cell run's,
	// so that cell ps lists it and cell gc removes its cgroups should the
	// pool be killed.
	ready := make(chan pooled, size)
	want := make(chan struct{}, size)
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
			x, err := startPooled(store, compilePlan, devnull)
			if err != nil {
				failure = err
				close(broken)
				continue
			}
			ready <- x
		}
	}()
	for range size {
		want <- struct{}{}
	}
	path := store.Socket(pool.RecordName(name))
	_ = os.Remove(path) // a dead pool's; the record above is ours alone
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("pool socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	defer os.Remove(path)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(c.App.Writer, "pool %s: %d sandboxes of %s on %s\n", name, size, p.Name, path)
	go func() {
		// A pool that cannot make sandboxes stops too, with the reason.
		select {
		case <-stop:
		case <-broken:
		}
		ln.Close()
	}()
	// serve gives a client's request a ready sandbox, once the request
	// has been read (a malformed one, or one of another protocol version,
	// takes none), and asks for a replacement.
	serve := func(conn *net.UnixConn) {
		req, err := pool.Accept(conn)
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
	for {
		select {
		case x := <-ready:
			_ = x.sb.Kill()
			_, _ = x.sb.Wait()
			_ = store.Delete(x.rec.Name)
		default:
			select {
			case <-broken:
				return fmt.Errorf("pool: starting a sandbox: %w", failure)
			default:
				return nil
			}
		}
	}
}

// refillDelay is how long a pool waits, at most, after handing a
// sandbox over before it builds the replacement.
const refillDelay = 20 * time.Millisecond

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
	_, rec, err := record(pl)
	if err != nil {
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

// runPooled is cell run --pool: the command runs in a sandbox the pool
// built ahead of time.
func runPooled(c *cli.Context, name string, tty bool) error {
	dir, err := stateDir()
	if err != nil {
		return err
	}
	cl, err := pool.Dial(dir, name)
	if err != nil {
		return err
	}
	_, args, _ := splitArgs(c)
	if len(args) == 0 {
		return usageError("run --pool: give the command after --")
	}
	return execVia(cl, pool.Request{Args: args, Env: os.Environ(), Dir: c.String("cwd")}, tty, c.String("stats"),
		runOptions{timeout: duration(c, "timeout"), killAfter: duration(c, "kill-after")})
}
