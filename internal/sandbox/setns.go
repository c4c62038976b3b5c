package sandbox

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/plan"
)

// nsFlags are the clone flags of the kinds a Setns step joins, and the
// names of the calling thread's own namespaces under /proc/thread-self/ns.
var nsFlags = map[string]struct {
	flag int
	self string
}{
	"mount": {unix.CLONE_NEWNS, "mnt"}, "pid": {unix.CLONE_NEWPID, "pid_for_children"},
	"net": {unix.CLONE_NEWNET, "net"}, "uts": {unix.CLONE_NEWUTS, "uts"},
	"ipc": {unix.CLONE_NEWIPC, "ipc"}, "cgroup": {unix.CLONE_NEWCGROUP, "cgroup"},
}

// joinNamespaces enters the namespaces of steps on the calling thread,
// which it locks, and returns the function that returns the thread to its
// own namespaces (and working directory) and unlocks it; start init
// between the two, from the same goroutine. A thread that cannot return
// stays locked, so that the runtime ends it with its goroutine instead of
// giving another goroutine a thread in a foreign namespace.
func joinNamespaces(steps []*plan.Setns) (restore func() error, err error) {
	runtime.LockOSThread()
	var own []int // the thread's namespaces, in the order of steps
	closeAll := func(fds []int) {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	cwd, err := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, &os.PathError{Op: "open", Path: ".", Err: err}
	}
	back := func(n int) error {
		// Undo the first n joins, in reverse order.
		var errs []error
		for i := n - 1; i >= 0; i-- {
			if err := unix.Setns(own[i], nsFlags[steps[i].Kind].flag); err != nil {
				errs = append(errs, os.NewSyscallError("setns back to the thread's own "+steps[i].Kind+" namespace", err))
			}
		}
		if err := unix.Fchdir(cwd); err != nil {
			errs = append(errs, os.NewSyscallError("fchdir back", err))
		}
		closeAll(own)
		unix.Close(cwd)
		if len(errs) == 0 {
			runtime.UnlockOSThread()
		}
		return errors.Join(errs...)
	}
	for _, s := range steps {
		k, ok := nsFlags[s.Kind]
		if !ok {
			closeAll(own)
			unix.Close(cwd)
			runtime.UnlockOSThread()
			return nil, fmt.Errorf("setns: unknown namespace kind %q", s.Kind)
		}
		fd, err := unix.Open("/proc/thread-self/ns/"+k.self, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(own)
			unix.Close(cwd)
			runtime.UnlockOSThread()
			return nil, &os.PathError{Op: "open", Path: "/proc/thread-self/ns/" + k.self, Err: err}
		}
		own = append(own, fd)
	}
	for i, s := range steps {
		if err := join(s); err != nil {
			if berr := back(i); berr != nil {
				return nil, errors.Join(err, berr)
			}
			return nil, err
		}
	}
	return func() error { return back(len(steps)) }, nil
}

// join enters the namespace of one step on the calling thread.
func join(s *plan.Setns) error {
	k := nsFlags[s.Kind]
	fd, err := unix.Open(s.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: s.Path, Err: err}
	}
	defer unix.Close(fd)
	if err := notOwn(fd, s, k.self); err != nil {
		return err
	}
	if s.Kind == "mount" {
		// setns refuses a mount namespace to a thread that shares its
		// root and working directory with others, as Go's threads do.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return os.NewSyscallError("unshare CLONE_FS", err)
		}
	}
	if err := unix.Setns(fd, k.flag); err != nil {
		return os.NewSyscallError(fmt.Sprintf("setns %s (%s namespace)", s.Path, s.Kind), err)
	}
	return nil
}

// notOwn refuses a namespace that is cell's own or pid 1's: the
// sandbox's setup would be made there, in the host's namespace (a
// pivot_root that moves every process of the host's mount namespace, a
// host name, kernel parameters or firewall rules of the host's). A
// profile that shares a namespace with the host says so with
// namespaces.KIND: host, which compile checks against such setup.
func notOwn(fd int, s *plan.Setns, self string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return os.NewSyscallError("fstat "+s.Path, err)
	}
	for _, own := range []string{"/proc/thread-self/ns/" + self, "/proc/1/ns/" + self} {
		var o unix.Stat_t
		if err := unix.Stat(own, &o); err != nil {
			continue // pid 1's may be out of view; cell's own is not
		}
		if o.Dev == st.Dev && o.Ino == st.Ino {
			return fmt.Errorf("%s is the host's own %s namespace (%s): cell would make the sandbox's setup in it; to share the host's, set namespaces.%s: host: %w",
				s.Path, s.Kind, own, s.Kind, unix.EPERM)
		}
	}
	return nil
}
