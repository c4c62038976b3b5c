package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// crunNamespaces maps each namespace bit to its OCI name.
var crunNamespaces = []struct {
	bit int
	typ specs.LinuxNamespaceType
}{
	{unix.CLONE_NEWUSER, specs.UserNamespace}, {unix.CLONE_NEWNS, specs.MountNamespace},
	{unix.CLONE_NEWPID, specs.PIDNamespace}, {unix.CLONE_NEWNET, specs.NetworkNamespace},
	{unix.CLONE_NEWUTS, specs.UTSNamespace}, {unix.CLONE_NEWIPC, specs.IPCNamespace},
	{unix.CLONE_NEWCGROUP, specs.CgroupNamespace}, {unix.CLONE_NEWTIME, specs.TimeNamespace},
}

// ociVersion is the version of the runtime specification the bundle
// claims: crun 1.8 refuses any but 1.0.x ("unknown version specified"),
// though it makes the time namespace, which came with 1.1.
const ociVersion = "1.0.2"

// crunSpec is the OCI configuration (a bundle's config.json) that makes
// crun's row the equivalent of bwrap's (see bwrapArgs): the namespaces of
// ns, each of which crun can make (a time namespace too, which bubblewrap
// cannot), the caller's uid and gid mapped to themselves as cell's
// default ids do; an empty, read-only root ("rootfs" in the bundle) with
// the host's /usr, /bin, /sbin, /lib, /lib64 and the default profile's
// /etc files bound read-only where they exist (exists says which do),
// a new /proc, a minimal /dev (a tmpfs with the devices crun makes, a
// devpts and a /dev/shm, as bwrap's --dev), a private /tmp and dir
// writable; argv runs in dir with an empty environment (bwrap's
// --clearenv), no capabilities and no_new_privs. Like bwrap's row it has
// no seccomp filter and no masked /proc paths, which cell's default
// profile has.
func crunSpec(ns nsFlags, uid, gid uint32, dir string, exists func(string) bool, argv ...string) (*specs.Spec, error) {
	if !ns.has(unix.CLONE_NEWNS) {
		return nil, errors.New("crun bundle: cell's plan has no mount namespace, and an OCI container always has one")
	}
	if len(argv) == 0 || !filepath.IsAbs(argv[0]) {
		return nil, fmt.Errorf("crun bundle: command %q: must be an absolute path", argv)
	}
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("crun bundle: directory %q: must be absolute", dir)
	}
	roBind := []string{"rbind", "ro", "nosuid", "nodev"}
	var mounts []specs.Mount
	for _, src := range append([]string{"/usr", "/bin", "/sbin", "/lib", "/lib64"}, etcFiles...) {
		if exists(src) {
			mounts = append(mounts, specs.Mount{Destination: src, Type: "bind", Source: src, Options: roBind})
		}
	}
	mounts = append(mounts,
		specs.Mount{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "nodev", "noexec"}},
		specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", "size=256m"}},
		specs.Mount{Destination: dir, Type: "bind", Source: dir, Options: []string{"rbind", "rw", "nosuid", "nodev"}},
	)
	s := &specs.Spec{
		Version: ociVersion,
		Process: &specs.Process{
			User: specs.User{UID: uid, GID: gid},
			Args: argv,
			Cwd:  dir, // and no environment, as bwrap's --clearenv
			// Every set empty, as cell's default leaves them.
			Capabilities:    &specs.LinuxCapabilities{},
			NoNewPrivileges: true,
		},
		Root:   &specs.Root{Path: "rootfs", Readonly: true},
		Mounts: mounts,
		Linux:  &specs.Linux{},
	}
	for _, n := range crunNamespaces {
		if ns.has(n.bit) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: n.typ})
		}
	}
	if ns.has(unix.CLONE_NEWUTS) {
		s.Hostname = "cell"
	}
	if ns.has(unix.CLONE_NEWUSER) {
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: uid, HostID: uid, Size: 1}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: gid, HostID: gid, Size: 1}}
	}
	return s, nil
}

// writeBundle writes an OCI bundle for s into the new directory dir:
// config.json and the empty directory rootfs.
func writeBundle(dir string, s *specs.Spec) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode crun bundle: %w", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("create crun bundle: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, s.Root.Path), 0o755); err != nil {
		return fmt.Errorf("create crun bundle: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		return fmt.Errorf("create crun bundle: %w", err)
	}
	return nil
}

// pathExists reports whether path, followed through symlinks, exists:
// the test that bwrap's --ro-bind-try makes.
func pathExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// crunSetup is what the crun rows need: the state directory, and on a
// host whose layout crun refuses, a mount namespace that hides it.
type crunSetup struct {
	crun string
	// dir holds the bundles and the state directory (--root).
	dir string
	// hide is the cgroup2 mount that crun must not see, "" if none:
	// see cgroupsRefused.
	hide string
}

// launchID makes the argument at index of a launcher's argv unique per
// launch, by appending "-N" for the Nth launch.
type launchID struct {
	index int
	n     atomic.Uint64
}

// next is the argv of the next launch of a launcher whose argv is argv.
func (id *launchID) next(argv []string) []string {
	out := append([]string(nil), argv...)
	out[id.index] += "-" + strconv.FormatUint(id.n.Add(1), 10)
	return out
}

// launcher is the crun row that runs argv in workdir: `crun --root STATE
// --cgroup-manager=disabled run --bundle BUNDLE ID-N`, with a bundle of
// its own, bundle-name under c.dir, and an ID unique to each launch.
func (c *crunSetup) launcher(name string, ns nsFlags, workdir string, argv ...string) (launcher, error) {
	s, err := crunSpec(ns, uint32(os.Geteuid()), uint32(os.Getegid()), workdir, pathExists, argv...)
	if err != nil {
		return launcher{}, err
	}
	bundle := filepath.Join(c.dir, "bundle-"+name)
	if err := writeBundle(bundle, s); err != nil {
		return launcher{}, err
	}
	l := launcher{
		name: "crun",
		// The disabled cgroup manager makes no cgroup: like cell's
		// default profile and bwrap, crun's container stays in the
		// cgroups of the process that started it.
		argv: []string{c.crun, "--root", filepath.Join(c.dir, "state"), "--cgroup-manager=disabled",
			"run", "--bundle", bundle, fmt.Sprintf("cellbench-%d-%s", os.Getpid(), name)},
		hideCgroup2: c.hide,
	}
	// crun refuses a container ID that is in use, and the throughput
	// mode runs several at once.
	l.id = &launchID{index: len(l.argv) - 1}
	return l, nil
}

// cgroupsRefused returns the cgroup2 mount under root (/sys/fs/cgroup)
// that makes crun refuse this host, or "" if crun accepts it: crun 1.x
// calls a tmpfs at root with cgroup2 at root/unified a hybrid layout and
// refuses to start any container there, even with its cgroup manager
// disabled, unless the cgroup2 hierarchy has no controllers
// ("cgroups in hybrid mode not supported, drop all controllers from
// cgroupv2"). Handing controllers back to v1 would change the host's
// cgroups, which cellbench must not; it hides the mount instead (see
// viewThread). It does so whether or not the hierarchy has controllers
// at this moment: a free controller goes back to cgroup2 as soon as a
// v1 hierarchy that held it is unmounted (the suite's and cell's tests
// lend hugetlb and net_cls that way), which would make the same launch
// refused a moment later.
func cgroupsRefused(root string) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return "", &os.PathError{Op: "statfs", Path: root, Err: err}
	}
	if st.Type != unix.TMPFS_MAGIC {
		return "", nil // cgroup v2 only, or no cgroups at all
	}
	unified := filepath.Join(root, "unified")
	if err := unix.Statfs(unified, &st); errors.Is(err, unix.ENOENT) {
		return "", nil // cgroup v1 only
	} else if err != nil {
		return "", &os.PathError{Op: "statfs", Path: unified, Err: err}
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return "", nil
	}
	return unified, nil
}

// viewThread is an OS thread with a mount namespace of its own, in which
// a cgroup2 mount is hidden under an empty read-only tmpfs, so that
// crun, started from it, sees the host's cgroup v1 hierarchies only and
// accepts the host (see cgroupsRefused). The namespace is cellbench's:
// the host's mounts propagate into it, none of its own propagate out,
// and it goes away with the thread (or, if Go ran it on the main thread,
// which Go parks for good rather than end, with cellbench); no cgroup
// is changed. Go starts a
// child from the thread of the goroutine that starts it, so a child
// started in do inherits the namespace, at no cost to its launch.
type viewThread struct {
	do   chan func()
	done chan struct{}
}

// newViewThread starts a thread on which hide is hidden.
func newViewThread(hide string) (*viewThread, error) {
	return newThread(func() error { return hideMount(hide) })
}

// newThread starts a thread, locked to its goroutine for good, that runs
// setup first and then what it is given.
func newThread(setup func() error) (*viewThread, error) {
	t := &viewThread{do: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(t.done)
		// Never unlocked: when this goroutine returns, Go ends the
		// thread, and its namespace with it, rather than reuse it.
		runtime.LockOSThread()
		if err := setup(); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for fn := range t.do {
			fn()
		}
	}()
	if err := <-ready; err != nil {
		<-t.done
		return nil, err
	}
	return t, nil
}

// run calls fn on the thread and returns when it has returned.
func (t *viewThread) run(fn func()) {
	finished := make(chan struct{})
	t.do <- func() { defer close(finished); fn() }
	<-finished
}

// close ends the thread; t must not be used after.
func (t *viewThread) close() {
	close(t.do)
	<-t.done
}

// hideMount gives the calling thread, which must be locked to its
// goroutine, a mount namespace of its own in which path is covered by an
// empty read-only tmpfs.
func hideMount(path string) error {
	// CLONE_NEWNS unshares the thread's filesystem information too
	// (CLONE_FS), which the kernel allows a thread of a multi-threaded
	// process.
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return os.NewSyscallError("unshare(CLONE_NEWNS)", err)
	}
	// Before anything is mounted: no mount of this namespace may
	// propagate to the host's.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make / a slave mount (MS_REC|MS_SLAVE): %w", os.NewSyscallError("mount", err))
	}
	if err := unix.Mount("cellbench", path, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,mode=0555"); err != nil {
		return fmt.Errorf("mount an empty tmpfs on %s (MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC): %w", path, os.NewSyscallError("mount", err))
	}
	return nil
}
