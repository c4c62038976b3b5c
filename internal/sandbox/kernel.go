package sandbox

import (
	"fmt"
	"os"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/landlock"
	"github.com/cellsandbox/cell/internal/landlock/lsm"
	"github.com/cellsandbox/cell/internal/mounts"
	"github.com/cellsandbox/cell/internal/network/link"
	"github.com/cellsandbox/cell/internal/network/nft"
	"github.com/cellsandbox/cell/internal/rlimit"
	"github.com/cellsandbox/cell/internal/rlimit/prlimit"
	"github.com/cellsandbox/cell/internal/seccomp/filter"
	"github.com/cellsandbox/cell/internal/sysctl/procsys"
	"github.com/cellsandbox/cell/launcher/plan"
)

// kernel is every call that init's steps make to change the process or
// the sandbox: (*initExec).step decides, from a step, what to call with
// what; a kernel does it. Init runs with hostKernel, the real calls;
// tests run whole plans against a recording fake, which checks that the
// calls come in the printed order and that a failed call becomes its
// step's error.
//
// A method returns a bare unix.Errno, or an error that names its call
// already (a *syserr.Error, or a richer one); step names a bare errno's
// call itself (wrap). Descriptors a kernel returns are closed with its
// Close.
type kernel interface {
	Mount(source, target, fstype string, flags uintptr, data string) error
	Unmount(target string, flags int) error
	PivotRoot(newRoot, putOld string) error
	// BindRootfs binds a sandbox's root directory onto itself, private,
	// in the host's mount namespace (mounts.BindRootfs).
	BindRootfs(dir string) error
	Chroot(dir string) error
	Mkdir(path string, mode uint32) error
	Setattr(target string, attr uint64) error
	Chdir(dir string) error
	// OpenRoot opens dir as a root for openat2's RESOLVE_IN_ROOT.
	OpenRoot(dir string) (root, error)
	Close(fd int)
	Sethostname(name string) error
	Setdomainname(name string) error
	// Prctl is prctl(option, arg2, 0, 0, 0).
	Prctl(option int, arg2 uintptr) error
	JoinSessionKeyring() error
	Umask(mask int)
	OOMScoreAdj(score int) error
	// Sysctl writes value to name's file under /proc/sys.
	Sysctl(name, value string) error
	// Propagate changes the propagation of the mount at target.
	Propagate(target string, flags uint64) error
	Setrlimit(l rlimit.Limit) error
	Landlock(r *landlock.Rules) error
	Seccomp(prog []unix.SockFilter) error
	DropBoundingSet(keep []uint32) error
	SetInheritable(caps []uint32) error
	CloseFDs(keep []uint32) error
	OpenPTY(ptmx string, ids []uint32) (master int, slave *os.File, name string, err error)
	Listen(l plan.ProxyListen) (int, error)
	ProxyReady(addr string, timeout time.Duration) error
	LinkUp(iface string) error
	AddrAdd(iface, addr string) error
	DefaultRoute(iface, gw string) error
	Nft(r *plan.NftRule) error
}

// root is a directory that paths are resolved in, never out of
// (mounts.Root: openat2 with RESOLVE_IN_ROOT).
type root interface {
	Mkdir(path string, mode uint32) (int, error)
	MountFS(fstype string, options []string, attr uint64, target string, t mounts.Target) error
	Bind(src root, source, target string, attr uint64, recursive, noSymlinks bool, t mounts.Target) error
	Attach(tree int, target string) error
	WriteFile(target string, mode uint32, data string) error
	Symlink(linkTo, target string) error
	Mknod(target string, mode uint32, dev uint64, uid, gid uint32) error
	PinLowers(opts []string, procDir string) ([]string, []int, error)
	Close() error
}

// hostKernel makes the calls. It has no state: a value in an interface
// costs no allocation, and each call is one indirect call before the
// syscall.
type hostKernel struct{}

func (hostKernel) Mount(source, target, fstype string, flags uintptr, data string) error {
	return mounts.Mount(source, target, fstype, flags, data)
}
func (hostKernel) Unmount(target string, flags int) error   { return mounts.Unmount(target, flags) }
func (hostKernel) PivotRoot(newRoot, putOld string) error   { return mounts.PivotRoot(newRoot, putOld) }
func (hostKernel) BindRootfs(dir string) error              { return mounts.BindRootfs(dir) }
func (hostKernel) Chroot(dir string) error                  { return mounts.Chroot(dir) }
func (hostKernel) Mkdir(path string, mode uint32) error     { return mounts.Mkdir(path, mode) }
func (hostKernel) Setattr(target string, attr uint64) error { return mounts.Setattr(target, attr) }
func (hostKernel) Chdir(dir string) error                   { return os.Chdir(dir) }
func (hostKernel) OpenRoot(dir string) (root, error) {
	r, err := mounts.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return hostRoot{r}, nil
}
func (hostKernel) Close(fd int)                         { unix.Close(fd) }
func (hostKernel) Sethostname(name string) error        { return unix.Sethostname([]byte(name)) }
func (hostKernel) Setdomainname(name string) error      { return unix.Setdomainname([]byte(name)) }
func (hostKernel) Prctl(option int, arg2 uintptr) error { return unix.Prctl(option, arg2, 0, 0, 0) }
func (hostKernel) JoinSessionKeyring() error {
	// NULL: a new anonymous keyring, never one of the same name that
	// another sandbox joined.
	_, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
func (hostKernel) Umask(mask int)                  { unix.Umask(mask) }
func (hostKernel) OOMScoreAdj(score int) error     { return prlimit.OOMScoreAdj(score) }
func (hostKernel) Sysctl(name, value string) error { return procsys.Write(name, value) }
func (hostKernel) Propagate(target string, flags uint64) error {
	return mounts.Propagate(target, flags)
}
func (hostKernel) Setrlimit(l rlimit.Limit) error   { return prlimit.Apply([]rlimit.Limit{l}) }
func (hostKernel) Landlock(r *landlock.Rules) error { return lsm.Restrict(r) }
func (hostKernel) Seccomp(prog []unix.SockFilter) error {
	return filter.Install(prog)
}
func (hostKernel) DropBoundingSet(keep []uint32) error { return dropBoundingSet(keep) }
func (hostKernel) SetInheritable(caps []uint32) error  { return setInheritable(caps) }
func (hostKernel) CloseFDs(keep []uint32) error        { return closeFDs(keep) }
func (hostKernel) OpenPTY(ptmx string, ids []uint32) (int, *os.File, string, error) {
	return makePTY(ptmx, ids)
}
func (hostKernel) Listen(l plan.ProxyListen) (int, error) { return listenSocket(l) }
func (hostKernel) ProxyReady(addr string, timeout time.Duration) error {
	return proxyReady(addr, timeout)
}
func (hostKernel) LinkUp(iface string) error           { return link.Up(iface) }
func (hostKernel) AddrAdd(iface, addr string) error    { return link.AddrAdd(iface, addr) }
func (hostKernel) DefaultRoute(iface, gw string) error { return link.DefaultRoute(iface, gw) }
func (hostKernel) Nft(r *plan.NftRule) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	return nft.Apply(c, r)
}

// hostRoot is a mounts.Root as a root.
type hostRoot struct{ *mounts.Root }

func (r hostRoot) Bind(src root, source, target string, attr uint64, recursive, noSymlinks bool, t mounts.Target) error {
	return r.Root.Bind(src.(hostRoot).Root, source, target, attr, recursive, noSymlinks, t)
}
