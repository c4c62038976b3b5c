package cgroupfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/internal/syserr"
)

// Create makes the cgroups of s: the directories, then the writes, in
// order. A parent directory may exist already; a leaf (a directory of
// s.Group) must not, so that two sandboxes never share a cgroup. On
// failure it removes the directories it made, except
// cgroup.SupervisorName (the caller may be in it), and returns the error
// of the failed step joined with any error of that undoing.
//
// Create runs in the process that will start the sandbox: a rootless
// setup moves that very process (a write of "0" to cgroup.procs).
func Create(s *cgroup.Setup) error {
	leaves := s.Group.Dirs()
	var made []string
	undo := func(err error) error {
		var errs []error
		for _, d := range slices.Backward(made) {
			if path.Base(d) == cgroup.SupervisorName {
				continue
			}
			if e := unix.Rmdir(d); e != nil {
				errs = append(errs, fail("rmdir", d, "", e))
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w (undoing it: %w)", err, errors.Join(errs...))
		}
		return err
	}
	for _, d := range s.Dirs {
		err := unix.Mkdir(d, 0o755)
		if errors.Is(err, unix.EEXIST) && !slices.Contains(leaves, d) {
			continue
		}
		if err != nil {
			return undo(fail("mkdir", d, "", err))
		}
		made = append(made, d)
	}
	for _, w := range s.Writes {
		if err := write(w.Dir, w.File, w.Value); err != nil {
			return undo(err)
		}
	}
	return nil
}

// OpenDir opens the cgroup directory dir as an O_PATH|O_DIRECTORY
// descriptor, close-on-exec, for syscall.SysProcAttr's UseCgroupFD and
// CgroupFD (clone3 with CLONE_INTO_CGROUP: the child starts in the cgroup,
// no window outside it). The caller closes it after the clone.
func OpenDir(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fail("open", dir, "", err)
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// Join moves the process pid (all its threads) into the cgroup dir by
// writing cgroup.procs; the v1 way into a cgroup, and the v2 one for a
// process that already runs.
func Join(dir string, pid int) error {
	return write(dir, "cgroup.procs", strconv.Itoa(pid))
}

// Update applies writes to a running sandbox's cgroups in order, as
// cgroup.Limit returns them, and stops at the first that fails.
func Update(ws []cgroup.Write) error {
	for _, w := range ws {
		if err := write(w.Dir, w.File, w.Value); err != nil {
			return err
		}
	}
	return nil
}

// write writes value to dir/file in one write(2), as cgroup files want.
func write(dir, file, value string) error {
	p := path.Join(dir, file)
	f, err := os.OpenFile(p, os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("write", p, value, err)
	}
	_, err = f.Write([]byte(value))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail("write", p, value, err)
	}
	return nil
}

// read returns the contents of dir/file.
func read(dir, file string) ([]byte, error) {
	p := path.Join(dir, file)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fail("read", p, "", err)
	}
	return b, nil
}

// Procs returns the pids in the group's cgroups (the union over its
// directories), sorted.
func Procs(g *cgroup.Group) ([]int, error) {
	var pids []int
	for _, d := range g.Dirs() {
		ps, err := procs(d)
		if err != nil {
			return nil, err
		}
		pids = append(pids, ps...)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

func procs(dir string) ([]int, error) {
	b, err := read(dir, "cgroup.procs")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: bad pid %q", path.Join(dir, "cgroup.procs"), f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// Kill ends every process of the group and waits until they are gone (or
// ctx ends). With a unified leaf it writes cgroup.kill (Linux 5.14), which
// the kernel applies to forks in flight too, and waits for "populated 0"
// in cgroup.events. Without one (cgroup v1) it freezes the group if the
// freezer is there, so nothing forks meanwhile, sends SIGKILL to every
// pid in cgroup.procs, thaws it (frozen tasks die only once thawed) and
// repeats until cgroup.procs is empty. A process that has exited counts
// no more, even as a zombie. A directory of the group that does not exist
// holds nothing: Kill of a group made in part, or removed, succeeds, also
// when its owner removes it while Kill waits (a sandbox's supervisor
// tears it down as soon as it is empty).
func Kill(ctx context.Context, g *cgroup.Group) error {
	freezeG := func(ctx context.Context) error { return unlessRemoved(Freeze(ctx, g)) }
	thawG := func(ctx context.Context) error { return unlessRemoved(Thaw(ctx, g)) }
	if g.Unified != "" && exists(g.Unified) {
		err := write(g.Unified, "cgroup.kill", "1")
		if errors.Is(err, unix.ENOENT) {
			// Before 5.14: signal loop, under cgroup.freeze (5.2).
			err = killLoop(ctx, []string{g.Unified}, freezeG, thawG)
		} else if err == nil {
			err = unlessRemoved(waitEvent(ctx, g.Unified, "populated", "0"))
		}
		if err != nil {
			return err
		}
	}
	var v1 []string
	for _, d := range g.Dirs() {
		if d != g.Unified {
			v1 = append(v1, d)
		}
	}
	if len(v1) == 0 {
		return nil
	}
	freeze, thaw := func(context.Context) error { return nil }, func(context.Context) error { return nil }
	if g.Unified == "" && g.V1["freezer"] != "" {
		freeze, thaw = freezeG, thawG
	}
	return killLoop(ctx, v1, freeze, thaw)
}

// unlessRemoved is err, or nil when err is an operation on a cgroup file
// that failed because its directory was removed meanwhile: a removed
// cgroup holds nothing. The kernel answers ENODEV for a file of a cgroup
// being removed (its directory may still be seen for a moment), ENOENT
// once it is gone (which a file the kernel lacks also answers: then the
// directory is still there).
func unlessRemoved(err error) error {
	var ce *cgroup.Error
	if !errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) && !exists(path.Dir(ce.Path)) {
		return nil
	}
	return err
}

// killLoop sends SIGKILL to the processes in dirs, between freeze and
// thaw, until dirs hold none.
func killLoop(ctx context.Context, dirs []string, freeze, thaw func(context.Context) error) error {
	list := func() ([]int, error) {
		var all []int
		for _, d := range dirs {
			ps, err := procs(d)
			if errors.Is(err, unix.ENOENT) || err != nil && unlessRemoved(err) == nil {
				continue // never made, or removed: nothing in it
			}
			if err != nil {
				return nil, err
			}
			all = append(all, ps...)
		}
		return all, nil
	}
	return retry(ctx, "kill the processes of "+strings.Join(dirs, ", "), func() (bool, error) {
		pids, err := list()
		if err != nil || len(pids) == 0 {
			return true, err
		}
		if err := freeze(ctx); err != nil {
			return true, err
		}
		pids, err = list()
		for _, pid := range pids {
			if e := unix.Kill(pid, unix.SIGKILL); e != nil && !errors.Is(e, unix.ESRCH) {
				err = errors.Join(err, fmt.Errorf("kill %d: %s", pid, syserr.Text(e)))
			}
		}
		if e := thaw(ctx); e != nil {
			err = errors.Join(err, e)
		}
		return false, err
	})
}

// retry calls try until it reports done, backing off from 1 ms to 100 ms
// between calls, until ctx ends (then the error names what). Without a
// deadline in ctx it gives up after 10 s.
func retry(ctx context.Context, what string, try func() (done bool, err error)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	wait := time.Millisecond
	for {
		done, err := try()
		if done || err != nil {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// waitEvent waits until cgroup.events of dir says key is want, polling
// the file for the kernel's notification (it signals POLLPRI on change).
func waitEvent(ctx context.Context, dir, key, want string) error {
	p := path.Join(dir, "cgroup.events")
	f, err := os.Open(p)
	if err != nil {
		return fail("read", p, "", err)
	}
	defer f.Close()
	buf := make([]byte, 256)
	for {
		n, err := f.ReadAt(buf, 0)
		if err != nil && err != io.EOF {
			return fail("read", p, "", err)
		}
		if v, ok := field(buf[:n], key); !ok {
			return fmt.Errorf("read %s: no %q in %q", p, key, buf[:n])
		} else if v == want {
			return nil
		}
		timeout := time.Second
		if dl, ok := ctx.Deadline(); ok {
			timeout = min(timeout, time.Until(dl))
		}
		if err := ctx.Err(); err != nil || timeout <= 0 {
			if err == nil {
				err = context.DeadlineExceeded
			}
			return fmt.Errorf("wait for %q in %s: %w", key+" "+want, p, err)
		}
		fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLPRI}}
		if _, err := unix.Poll(fds, int(timeout.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll %s: %s", p, syserr.Text(err))
		}
	}
}

// field returns the value of key in a flat-keyed file ("key value" lines).
func field(b []byte, key string) (string, bool) {
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte(" "))
		if ok && string(k) == key {
			return string(bytes.TrimSpace(v)), true
		}
	}
	return "", false
}

// Freeze stops every process of the group and waits until they are
// stopped: cgroup.freeze and "frozen 1" in cgroup.events with a unified
// leaf (Linux 5.2), freezer.state FROZEN on v1. Frozen processes still
// die of SIGKILL on v2, not on v1 until thawed.
func Freeze(ctx context.Context, g *cgroup.Group) error { return freeze(ctx, g, true) }

// Thaw lets the processes of a frozen group run again and waits until
// the kernel says so.
func Thaw(ctx context.Context, g *cgroup.Group) error { return freeze(ctx, g, false) }

// Frozen reports whether the group is frozen, or being frozen: its
// processes cannot run until it is thawed.
func Frozen(g *cgroup.Group) (bool, error) {
	if g.Unified != "" {
		b, err := read(g.Unified, "cgroup.freeze")
		if err == nil {
			return strings.TrimSpace(string(b)) == "1", nil
		}
		if !errors.Is(err, unix.ENOENT) || g.V1["freezer"] == "" {
			return false, err
		}
	}
	d := g.V1["freezer"]
	if d == "" {
		return false, nil // no freezer: it cannot be frozen
	}
	b, err := read(d, "freezer.state")
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(b)) != "THAWED", nil
}

func freeze(ctx context.Context, g *cgroup.Group, on bool) error {
	v2, v1 := "0", "THAWED"
	if on {
		v2, v1 = "1", "FROZEN"
	}
	if g.Unified != "" {
		err := write(g.Unified, "cgroup.freeze", v2)
		if err == nil {
			return waitEvent(ctx, g.Unified, "frozen", v2)
		}
		if !errors.Is(err, unix.ENOENT) || g.V1["freezer"] == "" {
			return err
		}
	}
	d := g.V1["freezer"]
	if d == "" {
		return fmt.Errorf("freeze %s: no freezer: no cgroup.freeze (Linux 5.2) and no v1 freezer hierarchy", strings.Join(g.Dirs(), ", "))
	}
	if err := write(d, "freezer.state", v1); err != nil {
		return err
	}
	// v1 has no notification: read until the state settles (FREEZING
	// becomes FROZEN once every task has stopped).
	return retry(ctx, "wait for "+path.Join(d, "freezer.state")+" "+v1, func() (bool, error) {
		b, err := read(d, "freezer.state")
		return strings.TrimSpace(string(b)) == v1, err
	})
}

// Remove removes the group's directories (not the parents, which other
// sandboxes may share). While the processes of a killed group finish
// exiting, rmdir fails with EBUSY: Remove retries with backoff until ctx
// ends (10 s without a deadline). A directory already gone is no error.
func Remove(ctx context.Context, g *cgroup.Group) error {
	var errs []error
	for _, d := range g.Dirs() {
		var last error
		err := retry(ctx, "rmdir "+d, func() (bool, error) {
			err := unix.Rmdir(d)
			switch {
			case err == nil || errors.Is(err, unix.ENOENT):
				return true, nil
			case errors.Is(err, unix.EBUSY):
				last = fail("rmdir", d, "", err)
				return false, nil
			}
			return true, fail("rmdir", d, "", err)
		})
		if last != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
			err = fmt.Errorf("%w (gave up waiting: %w)", last, errors.Unwrap(err))
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fail makes the *Error of op on path, keeping only the errno of a
// *fs.PathError (the path is already in the message).
func fail(op, path, value string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &cgroup.Error{Op: op, Path: path, Value: value, Err: err}
}
