// Package compile turns a validated profile, the host's facts and an
// invocation into a plan. It is a pure, deterministic function: the same
// inputs give the same plan, byte for byte, which is what lets golden files
// pin down what `cell run` executes.
package compile

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/internal/sysctl"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/spec"
)

// Invocation is what the caller asked for on the command line.
type Invocation struct {
	// Args is the command; empty means the profile's process.args.
	Args []string
	// Self is the path init is re-executed from (default /proc/self/exe).
	Self string
	// Name names the sandbox: its cgroup and its state record.
	Name string
	// TTY gives the command a pty that cell makes, as its controlling
	// terminal in a session of its own.
	TTY bool
	// KeepUpper is a host directory that keeps the upper layers of the
	// overlay mounts (DIR/N/upper for the N-th), instead of a tmpfs that
	// goes with the sandbox.
	KeepUpper string
	// Pooled compiles the plan of a pool's sandbox: the command's
	// passEnv values come with each request, not from the caller.
	Pooled bool
	// Detached compiles the plan of a sandbox that outlives the process
	// that starts it (an OCI runtime's container, launcher's
	// Invocation.Detached): init gets no parent-death signal, nor does
	// the command (init, its parent, is pid 1 of the sandbox).
	Detached bool
}

// The places where init builds the new root. After the first pivot_root
// the staging tmpfs is "/", the host's root is at oldRoot and the sandbox's
// future root at newRoot.
const (
	stageDir = "/tmp"
	newRoot  = "/newroot"
	oldRoot  = "/oldroot"
)

// Error is a compile failure at a profile position.
type Error struct {
	Pos  spec.Pos
	Path string
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s: %s", e.Pos, e.Path, e.Msg) }

type compiler struct {
	p         *spec.Profile
	host      *host.Facts
	steps     []plan.Step
	cleanup   []plan.Step
	group     *cgroup.Group
	ids       *idMaps
	tty       bool
	keepUpper string
	pooled    bool
	detached  bool
	// overlays are the upper and work directories of the overlay mounts,
	// in mount order.
	overlays [][2]string
	overlaid int
	// idmapFDs are the descriptors of the ID-mapped mounts' namespaces in
	// init, in mount order.
	idmapFDs []int
	idmapped int
	// propagations are the mounts' propagation steps, made once "/" is
	// the new root and has its own.
	propagations []plan.Step
	// readOnlyAfterPivot are the Setattr steps of mounts that are made
	// writable, filled, and made read-only once "/" is in place.
	readOnlyAfterPivot []plan.Step
	// root is where the mounts are made (newRoot, or the root directory
	// on the host without a mount namespace), src where their sources
	// are found (oldRoot, or the host's "/").
	root, src string
}

// Profile compiles p for the host described by h and the invocation inv.
func Profile(p *spec.Profile, h *host.Facts, inv Invocation) (*plan.Plan, error) {
	c := &compiler{p: p, host: h, tty: inv.TTY, keepUpper: inv.KeepUpper, pooled: inv.Pooled, detached: inv.Detached, root: newRoot, src: oldRoot}
	if err := c.compile(inv); err != nil {
		return nil, err
	}
	pl := &plan.Plan{Profile: p.Name, Name: inv.Name, Rootless: h.Rootless(), Steps: c.steps, Cleanup: c.cleanup, Cgroup: c.group, Pooled: inv.Pooled}
	if inv.Pooled {
		for _, name := range p.Process.PassEnv {
			if _, set := p.Process.Env[name]; !set {
				pl.PassEnv = append(pl.PassEnv, name)
			}
		}
	}
	if err := pl.Check(); err != nil {
		return nil, fmt.Errorf("compile %s: internal error: %w", p.Name, err)
	}
	return pl, nil
}

func (c *compiler) pos(path string) plan.Pos {
	sp := c.p.At(path)
	return plan.Pos{File: sp.File, Line: sp.Line, Col: sp.Col}
}

func (c *compiler) add(path string, side plan.Side, a plan.Action) {
	c.steps = append(c.steps, plan.Step{Side: side, Pos: c.pos(path), Do: a})
}

func (c *compiler) errorf(path, format string, args ...any) error {
	return &Error{Pos: c.p.At(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

func (c *compiler) compile(inv Invocation) error {
	p := c.p
	ns := &p.Namespaces
	if ns.Mount == spec.Host && p.Filesystem.Root.Path != "" && c.host.Rootless() {
		return c.errorf("filesystem.root.path", "with namespaces.mount: host, cell makes the mounts under the root directory in the host's mount namespace and chroots into it, which needs root")
	}
	if ns.Time == spec.New && !c.host.TimeNamespace {
		return c.errorf("namespaces.time", "this kernel has no time namespaces (Linux 5.6 or later has them); set namespaces.time: host")
	}
	args := inv.Args
	argsPath := "process.args"
	if len(args) == 0 {
		args = p.Process.Args
	}
	if len(args) == 0 {
		return c.errorf(argsPath, "no command: give one after -- or set process.args")
	}
	ids, err := c.identity()
	if err != nil {
		return err
	}
	c.ids = ids
	sec, err := c.prepareSecurity()
	if err != nil {
		return err
	}
	if err := c.checkCapSets(); err != nil {
		return err
	}
	if err := c.checkSetIDCaps(); err != nil {
		return err
	}
	nets, err := c.checkNetwork(inv.Name)
	if err != nil {
		return err
	}
	// Independent of each other: a reviewer gets all of their errors at once.
	if err := errors.Join(c.checkJoins(), c.checkSysctls(), c.checkDevices()); err != nil {
		return err
	}

	var clone uint64
	for _, n := range []struct {
		s    spec.Share
		flag uint64
	}{
		{ns.User, unix.CLONE_NEWUSER}, {ns.Mount, unix.CLONE_NEWNS}, {ns.PID, unix.CLONE_NEWPID},
		{ns.Net, unix.CLONE_NEWNET}, {ns.UTS, unix.CLONE_NEWUTS}, {ns.IPC, unix.CLONE_NEWIPC},
		{ns.Cgroup, unix.CLONE_NEWCGROUP},
		// In the clone, not an unshare before init's exec: a process
		// whose time namespace differs from its children's cannot make
		// threads on some kernels (EINVAL; seen on 6.1), and init is a Go
		// program. CLONE_NEWTIME needs clone3, which Go then uses.
		{ns.Time, unix.CLONE_NEWTIME},
	} {
		if n.s == spec.New {
			clone |= n.flag
		}
	}
	// Joined namespaces are entered, not made.
	for _, j := range ns.Join.Kinds() {
		clone &^= joinFlags[j[0]]
	}
	setup, err := c.cgroup(inv.Name)
	if err != nil {
		return err
	}
	if ids != nil && ids.lease {
		c.idLease(inv.Name)
	}
	// ID-mapped binds: their user namespaces, passed to init on the
	// descriptors after its socket and the inherited ones.
	fd := socketFD(p.Process.InheritFDs)
	for i := range p.Filesystem.Mounts {
		m := &p.Filesystem.Mounts[i]
		var handBack *spec.IDMap
		if m.HandBack {
			if handBack, err = c.handBackMap(fmt.Sprintf("filesystem.mounts[%d]", i), m); err != nil {
				return err
			}
		}
		if m.IDMap == nil && handBack == nil {
			continue
		}
		fd++
		for slices.Contains(p.Process.InheritFDs, fd) {
			fd++
		}
		if handBack != nil {
			if err := c.handBackUserns(fmt.Sprintf("filesystem.mounts[%d]", i), m, handBack, fd); err != nil {
				return err
			}
			c.idmapFDs = append(c.idmapFDs, fd)
			continue
		}
		if err := c.idmapUserns(fmt.Sprintf("filesystem.mounts[%d].idmap", i), m, fd); err != nil {
			return err
		}
		c.steps[len(c.steps)-1].Do.(*plan.IDMappedTree).NoSymlinks = c.noSymlinks(m)
		c.idmapFDs = append(c.idmapFDs, fd)
	}
	c.netHost(nets)
	cloneInto := ""
	if setup != nil {
		cloneInto = setup.Clone
	}
	// Only what the plan names reaches init: the caller's descriptors
	// left open without close-on-exec would live in pid 1 for the
	// sandbox's life, where /proc/1/fd reopens them.
	for _, j := range ns.Join.Kinds() {
		c.add("namespaces.join."+j[0], plan.Parent, &plan.Setns{Kind: j[0], Path: j[1]})
	}
	c.add("process.inheritFds", plan.Parent, &plan.CloseFDs{Keep: inheritedFDs(p.Process.InheritFDs)})
	c.add("namespaces", plan.Parent, &plan.Clone{Flags: plan.CloneFlags(clone), Cgroup: cloneInto})
	if ids != nil && !ids.helpers {
		c.directMaps(ids)
	}
	// From here to init's exec, the clone spec: what Go's fork applies
	// in init once its maps are written, in the fork's order (see
	// launcher/plan's fork.go). When the command gets a session of its
	// own, init takes one too: then every process of the sandbox is in a
	// session whose leader is inside its pid namespace, which CRIU needs
	// to checkpoint it. cell relays the terminal's signals to such a
	// command itself (launcher.Run), so init leaving cell's process group
	// changes nothing else.
	if c.newSession() {
		c.add("process.newSession", plan.Init, &plan.Setsid{})
	}
	if ids != nil && !ids.helpers {
		if err := c.initIDs(ids); err != nil {
			return err
		}
	}
	if ids != nil && !ids.helpers {
		// Init's uid inside need not be 0 (an unprivileged caller maps
		// itself to its own uid); ambient capabilities survive its execve.
		caps := initCaps
		if p.Network.Egress.HasDomains() {
			// The egress proxy's name server listens on port 53.
			caps = append(slices.Clip(initCaps), unix.CAP_NET_BIND_SERVICE)
		}
		c.add("namespaces.user", plan.Init, &plan.AmbientCaps{Caps: caps})
	}
	// Init dies with cell, and with it (as pid 1) the whole sandbox.
	if !inv.Detached {
		c.add("namespaces", plan.Init, &plan.Pdeathsig{Signal: uint32(unix.SIGKILL)})
	}
	self := inv.Self
	if self == "" {
		self = "/proc/self/exe"
	}
	initArgs := []string{InitArg0, strconv.Itoa(socketFD(p.Process.InheritFDs))}
	if ids != nil && ids.helpers {
		c.helperMaps(ids, self, initArgs)
	}
	c.add("namespaces", plan.Init, &plan.ExecInit{Path: self, Args: initArgs})
	if ids != nil && ids.helpers && !inv.Detached {
		// The uid change of the exec above cleared the parent-death
		// signal; arm it again.
		c.add("namespaces", plan.Init, &plan.Pdeathsig{Signal: uint32(unix.SIGKILL)})
	}
	if setup != nil {
		for _, d := range setup.Join {
			c.add("resources", plan.Parent, &plan.CgroupJoin{Dir: d})
		}
	}
	c.netStart(nets)

	if a := p.Security.OOMScoreAdj; a != nil {
		c.add("security.oomScoreAdj", plan.Init, &plan.OOMScoreAdj{Score: *a})
	}
	for _, k := range slices.Sorted(maps.Keys(p.Sysctl)) {
		c.add("sysctl."+k, plan.Init, &plan.Sysctl{Name: k, Value: p.Sysctl[k]})
	}
	if ns.Mount == spec.New {
		c.filesystem(nets)
	} else if p.Filesystem.Root.Path != "" {
		c.hostFilesystem()
	}
	if ns.UTS == spec.New {
		if p.Hostname != "" {
			c.add("hostname", plan.Init, &plan.Sethostname{Hostname: p.Hostname})
		}
		if p.Domainname != "" {
			c.add("domainname", plan.Init, &plan.Setdomainname{Domainname: p.Domainname})
		}
	}
	c.netInit(nets)
	c.netCleanup(nets)
	c.process(args, sec)
	return nil
}

// socketFD is the lowest descriptor from 3 up that the command does not
// inherit: init's socket to cell, which init closes before the command runs.
// noSymlinks reports whether a bind's source is resolved without
// following symlinks: a writable bind's (a sandbox that had it writable,
// or had its parent, could have replaced a component by a link to
// anywhere on the host) and one under the working directory (which the
// default profiles bind writable), unless the mount opts in to follow.
func (c *compiler) noSymlinks(m *spec.Mount) bool {
	if m.FollowSymlinks {
		return false
	}
	return m.Writable || c.underCwd(m.Source)
}

// underCwd reports whether the host path p is the working directory or
// below it.
func (c *compiler) underCwd(p string) bool {
	return c.host.Cwd != "" && (p == c.host.Cwd || strings.HasPrefix(p, strings.TrimSuffix(c.host.Cwd, "/")+"/"))
}

// inheritedFDs are the descriptors the command inherits, sorted.
func inheritedFDs(inherit []int) []uint32 {
	keep := make([]uint32, 0, len(inherit))
	for _, fd := range inherit {
		keep = append(keep, uint32(fd))
	}
	slices.Sort(keep)
	return keep
}

func socketFD(inherit []int) int {
	fd := 3
	for slices.Contains(inherit, fd) {
		fd++
	}
	return fd
}

// initCaps are what init needs to build the sandbox: mounts, hostname and
// loopback, mount points in directories it does not own, and the
// command's credentials.
var initCaps = []uint32{
	unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FOWNER, unix.CAP_KILL, unix.CAP_SETGID,
	unix.CAP_SETUID, unix.CAP_SETPCAP, unix.CAP_NET_ADMIN, unix.CAP_SYS_ADMIN,
}

// InitArg0 is the argv[0] that tells the cell binary it is a sandbox's init.
const InitArg0 = "cell-init"

const (
	attrSafe = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
	msSafe   = unix.MS_NOSUID | unix.MS_NODEV
)

// filesystem builds the new root the way bubblewrap does: a staging tmpfs
// becomes "/" first, so that host paths are reached under /oldroot and
// an absolute symlink met while building resolves inside the staging
// tmpfs, never on the host; targets are resolved inside /newroot.
func (c *compiler) filesystem(nets *netSetup) {
	fs := &c.p.Filesystem
	const at = "filesystem"
	init := func(a plan.Action) { c.add(at, plan.Init, a) }
	init(&plan.Mount{Target: "/", Flags: unix.MS_REC | unix.MS_PRIVATE})
	init(&plan.Mount{Source: "tmpfs", Target: stageDir, FSType: "tmpfs", Flags: msSafe, Data: "mode=0700"})
	init(&plan.Mkdir{Path: stageDir + newRoot, Mode: 0o700})
	init(&plan.Mkdir{Path: stageDir + oldRoot, Mode: 0o700})
	init(&plan.PivotRoot{NewRoot: stageDir, PutOld: stageDir + oldRoot})
	init(&plan.Chdir{Dir: "/"})

	c.overlayLayers()
	mode := spec.FileMode(0o755)
	if fs.Root.Mode != nil {
		mode = *fs.Root.Mode
	}
	data := "mode=" + mode.String()
	if fs.Root.Size != 0 {
		data += fmt.Sprintf(",size=%d", fs.Root.Size)
	}
	if fs.Root.Path != "" {
		// A bundle's rootfs: the host directory itself becomes "/", as
		// runc makes it; reached through oldRoot like every host path.
		// A bind ignores other flags: nosuid and nodev are set once "/"
		// is in place, by mount_setattr, which leaves the host's other
		// (possibly locked) flags alone.
		c.add("filesystem.root.path", plan.Init, &plan.Mount{Source: oldRoot + fs.Root.Path, Target: newRoot, Flags: unix.MS_BIND | unix.MS_REC})
	} else {
		flags := uint64(msSafe)
		if !fs.Root.ReadOnly && c.landlockNoExec("/") {
			flags |= unix.MS_NOEXEC
		}
		c.add("filesystem.root", plan.Init, &plan.Mount{Source: "tmpfs", Target: newRoot, FSType: "tmpfs", Flags: plan.MountFlags(flags), Data: data})
	}

	for i := range fs.Mounts {
		if c.skipMount(fs.Mounts[i].Target) {
			continue // the network writes it
		}
		c.mount(fmt.Sprintf("filesystem.mounts[%d]", i), &fs.Mounts[i])
	}
	c.netFiles(nets)

	init(&plan.Umount{Target: oldRoot, Flags: unix.MNT_DETACH})
	init(&plan.Chdir{Dir: newRoot})
	init(&plan.PivotRoot{NewRoot: ".", PutOld: "."})
	init(&plan.Umount{Target: ".", Flags: unix.MNT_DETACH})
	init(&plan.Chdir{Dir: "/"})
	if fs.Root.Path != "" {
		c.add("filesystem.root.path", plan.Init, &plan.Setattr{Target: "/", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV})
	}
	if fs.Root.ReadOnly {
		c.add("filesystem.root.readOnly", plan.Init, &plan.Setattr{Target: "/", Attr: unix.MOUNT_ATTR_RDONLY})
	}
	c.steps = append(c.steps, c.readOnlyAfterPivot...)
	// After pivot_root, which refuses a shared root; the root's type
	// first, since an r form reaches every mount under it, then each
	// mount's own.
	if f := propagationFlags(fs.Root.Propagation); f != 0 {
		c.add("filesystem.root.propagation", plan.Init, &plan.Propagation{Target: "/", Flags: plan.MountFlags(f)})
	}
	c.steps = append(c.steps, c.propagations...)
}

// hostFilesystem is filesystem for a sandbox that shares the host's mount
// namespace and has a root directory (filesystem.root.path): the OCI
// runtime spec's way, where the process is chrooted into the rootfs and
// the config's mounts are made in the runtime's mount namespace, under
// the rootfs. Nothing here may change the host beyond that directory: no
// "/" made private, no staging root. The directory is first bound onto
// itself, private (bind-rootfs), so that the mounts under it reach no
// other mount of the host's and cleanup can tell it is cell's; mounts
// are made in profile order with their targets resolved inside it, as in
// a new root; then init chroots into it. The cleanup unmounts each mount
// cell made there, in reverse order, and the directory's bind last:
// nothing that cell mounted stays on the host after the sandbox.
func (c *compiler) hostFilesystem() {
	fs := &c.p.Filesystem
	dir := fs.Root.Path
	c.root, c.src = dir, "/"
	defer func() { c.root, c.src = newRoot, oldRoot }()
	init := func(a plan.Action) { c.add("filesystem.root.path", plan.Init, a) }
	init(&plan.BindRootfs{Path: dir})
	first := len(c.steps)
	for i := range fs.Mounts {
		c.mount(fmt.Sprintf("filesystem.mounts[%d]", i), &fs.Mounts[i])
	}
	var undo []plan.Step
	for _, s := range c.steps[first:] {
		var target string
		switch a := s.Do.(type) {
		case *plan.Bind:
			target = a.Target
		case *plan.MountFS:
			target = a.Target
		case *plan.Mkdir, *plan.WriteFile, *plan.Symlink, *plan.Mknod:
			continue // in the root directory, or in a mount of cell's
		default:
			panic(fmt.Sprintf("compile: %s step among the mounts of a root directory on the host has no cleanup", s.Op()))
		}
		undo = append(undo, plan.Step{Side: plan.Parent, Pos: s.Pos, Do: &plan.UmountRootfs{Root: dir, Target: target}})
	}
	slices.Reverse(undo)
	c.cleanup = append(c.cleanup, undo...)
	c.cleanup = append(c.cleanup, plan.Step{Side: plan.Parent, Pos: c.pos("filesystem.root.path"), Do: &plan.UmountRootfs{Root: dir, Target: "/"}})

	init(&plan.Chdir{Dir: dir})
	init(&plan.Chroot{Dir: "."})
	init(&plan.Chdir{Dir: "/"})
	// The bind is cell's own mount: its flags are set on it alone, not
	// on the host's mount of the directory.
	init(&plan.Setattr{Target: "/", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV})
	if fs.Root.ReadOnly {
		c.add("filesystem.root.readOnly", plan.Init, &plan.Setattr{Target: "/", Attr: unix.MOUNT_ATTR_RDONLY})
	}
	c.steps = append(c.steps, c.readOnlyAfterPivot...)
	c.readOnlyAfterPivot = nil
	c.steps = append(c.steps, c.propagations...)
	c.propagations = nil
}

// propagationFlags are the mount(2) flags of a propagation type, 0 for
// the default (private, as cell makes every mount).
func propagationFlags(p spec.Propagation) uint64 {
	switch p {
	case spec.PropagationDefault:
		return 0
	case spec.PropagationPrivate:
		return unix.MS_PRIVATE
	case spec.PropagationRPrivate:
		return unix.MS_PRIVATE | unix.MS_REC
	case spec.PropagationShared:
		return unix.MS_SHARED
	case spec.PropagationRShared:
		return unix.MS_SHARED | unix.MS_REC
	case spec.PropagationSlave:
		return unix.MS_SLAVE
	case spec.PropagationRSlave:
		return unix.MS_SLAVE | unix.MS_REC
	case spec.PropagationUnbindable:
		return unix.MS_UNBINDABLE
	case spec.PropagationRUnbindable:
		return unix.MS_UNBINDABLE | unix.MS_REC
	}
	panic(fmt.Sprintf("compile: unknown propagation %v", p))
}

// joinFlags are the clone flags of the kinds a sandbox may join.
var joinFlags = map[string]uint64{
	"mount": unix.CLONE_NEWNS, "pid": unix.CLONE_NEWPID, "net": unix.CLONE_NEWNET,
	"uts": unix.CLONE_NEWUTS, "ipc": unix.CLONE_NEWIPC, "cgroup": unix.CLONE_NEWCGROUP,
}

// checkJoins refuses joining where the kernel would not let the sandbox
// use what it joined: from a user namespace of its own (a joined
// namespace belongs to another, where init has no privilege), and for an
// unprivileged caller (setns needs CAP_SYS_ADMIN over the namespace).
func (c *compiler) checkJoins() error {
	var errs []error
	for _, j := range c.p.Namespaces.Join.Kinds() {
		at := "namespaces.join." + j[0]
		switch {
		case c.p.Namespaces.User == spec.New:
			errs = append(errs, c.errorf(at, "cannot be joined from a user namespace of the sandbox's own, which would have no privilege over it: set namespaces.user: host"))
		case c.host.Rootless():
			errs = append(errs, c.errorf(at, "joining a namespace needs root (setns requires CAP_SYS_ADMIN over it)"))
		}
	}
	return errors.Join(errs...)
}

// checkSysctls refuses a kernel parameter that is the whole host's, or
// one of a namespace the sandbox shares with the host: setting it would
// change the host.
func (c *compiler) checkSysctls() error {
	ns := &c.p.Namespaces
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(c.p.Sysctl)) {
		at := "sysctl." + k
		var share spec.Share
		switch kind := sysctl.Namespace(k); kind {
		case "":
			errs = append(errs, c.errorf(at, "is a parameter of the whole host, not of a namespace: cell sets only network, IPC and UTS ones"))
			continue
		case "net":
			share = ns.Net
		case "ipc":
			share = ns.IPC
		case "uts":
			share = ns.UTS
		}
		if share != spec.New {
			kind := sysctl.Namespace(k)
			errs = append(errs, c.errorf(at, "is a parameter of the %s namespace, which the sandbox shares with the host (namespaces.%s: host): setting it would change the host's", kind, kind))
		}
	}
	return errors.Join(errs...)
}

// checkDevices refuses device nodes the kernel would not let init make:
// a character or block device in a user namespace of the sandbox's own
// (mknod of a device needs CAP_MKNOD in the host's).
func (c *compiler) checkDevices() error {
	var errs []error
	for i := range c.p.Filesystem.Mounts {
		m := &c.p.Filesystem.Mounts[i]
		for j, d := range m.Devices {
			if d.Type != spec.DeviceFIFO && c.p.Namespaces.User == spec.New {
				errs = append(errs, c.errorf(fmt.Sprintf("filesystem.mounts[%d].devices[%d].type", i, j),
					"cell cannot make a device node in a user namespace of the sandbox's own (the kernel refuses mknod of devices there); bind the host's node instead"))
			}
		}
	}
	return errors.Join(errs...)
}

func (c *compiler) mount(at string, m *spec.Mount) {
	in := func(a plan.Action) { c.add(at, plan.Init, a) }
	switch m.Type {
	case spec.MountBind:
		attr := uint64(attrSafe)
		if !m.Writable {
			attr |= unix.MOUNT_ATTR_RDONLY
		}
		if c.noExec(m) {
			attr |= unix.MOUNT_ATTR_NOEXEC
		}
		if m.IDMap != nil || m.HandBack && c.handBackMapped(m) {
			// The parent made the ID-mapped tree; init attaches it.
			in(&plan.AttachTree{Root: c.root, Target: m.Target, FD: uint32(c.idmapFDs[c.idmapped]), Optional: m.HandBack && m.Optional})
			c.idmapped++
			return
		}
		in(&plan.Bind{SourceRoot: c.src, Source: m.Source, Root: c.root, Target: m.Target, Attr: plan.AttrFlags(attr), Recursive: m.IsRecursive(), Optional: m.Optional,
			NoSymlinks: c.noSymlinks(m), HandBack: m.HandBack, KeepSymlinks: m.KeepSymlinks})
		c.propagation(at, m)
	case spec.MountTmpfs:
		attr := uint64(attrSafe)
		if c.noExec(m) {
			attr |= unix.MOUNT_ATTR_NOEXEC
		}
		mode := spec.FileMode(0o755)
		if m.Mode != nil {
			mode = *m.Mode
		}
		opts := []string{"mode=" + mode.String()}
		if m.Size != 0 {
			opts = append(opts, fmt.Sprintf("size=%d", m.Size))
		}
		in(&plan.MountFS{Root: c.root, FSType: "tmpfs", Source: device(m), Target: m.Target, Options: opts, Attr: plan.AttrFlags(attr)})
		c.propagation(at, m)
	case spec.MountProc:
		in(&plan.MountFS{Root: c.root, FSType: "proc", Source: device(m), Target: m.Target, Attr: attrSafe | unix.MOUNT_ATTR_NOEXEC})
		if !m.Unmasked {
			c.hardenProc(at, m.Target)
		}
	case spec.MountDev:
		c.dev(at, m.Target)
		for j, d := range m.Devices {
			mode := spec.FileMode(0o666)
			if d.Mode != nil {
				mode = *d.Mode
			}
			kind := map[spec.DeviceType]uint32{spec.DeviceChar: unix.S_IFCHR, spec.DeviceBlock: unix.S_IFBLK, spec.DeviceFIFO: unix.S_IFIFO}[d.Type]
			c.add(fmt.Sprintf("%s.devices[%d]", at, j), plan.Init, &plan.Mknod{Root: c.root, Target: d.Path, Mode: kind | uint32(mode), Major: d.Major, Minor: d.Minor, UID: d.UID, GID: d.GID})
		}
	case spec.MountSysfs:
		in(&plan.MountFS{Root: c.root, FSType: "sysfs", Source: device(m), Target: m.Target, Attr: attrSafe | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_RDONLY})
	case spec.MountMqueue:
		in(&plan.MountFS{Root: c.root, FSType: "mqueue", Source: device(m), Target: m.Target, Attr: attrSafe | unix.MOUNT_ATTR_NOEXEC})
	case spec.MountCgroup:
		c.cgroupMount(at, m.Target)
	case spec.MountDir:
		mode := spec.FileMode(0o755)
		if m.Mode != nil {
			mode = *m.Mode
		}
		in(&plan.Mkdir{Root: c.root, Path: m.Target, Mode: uint32(mode)})
	case spec.MountFile:
		mode := spec.FileMode(0o644)
		if m.Mode != nil {
			mode = *m.Mode
		}
		in(&plan.WriteFile{Root: c.root, Target: m.Target, Mode: uint32(mode), Content: m.Content})
	case spec.MountSymlink:
		in(&plan.Symlink{Root: c.root, LinkTo: m.LinkTo, Target: m.Target})
	case spec.MountOverlay:
		lowers := make([]string, len(m.Lower))
		for i, l := range m.Lower {
			lowers[i] = c.src + l
		}
		layers := c.overlays[c.overlaid]
		c.overlaid++
		opts := []string{"lowerdir=" + strings.Join(lowers, ":"), "upperdir=" + layers[0], "workdir=" + layers[1]}
		if c.p.Namespaces.User == spec.New {
			// trusted.* xattrs are root's of the initial namespace only.
			opts = append(opts, "userxattr")
		}
		attr := uint64(attrSafe)
		if c.noExec(m) {
			attr |= unix.MOUNT_ATTR_NOEXEC
		}
		// A lower under the working directory may be a link a sandbox
		// planted there, like a bind's source.
		noSymlinks := false
		for _, l := range m.Lower {
			noSymlinks = noSymlinks || !m.FollowSymlinks && c.underCwd(l)
		}
		in(&plan.MountFS{Root: c.root, FSType: "overlay", Target: m.Target, Options: opts, Attr: plan.AttrFlags(attr), NoSymlinks: noSymlinks})
	case spec.MountInvalid:
		panic("compile: mount without a type passed validation")
	}
}

// propagation records the step that sets a mount's propagation type,
// when the profile gives one. It runs in the new root, where no path
// leads out of it.
func (c *compiler) propagation(at string, m *spec.Mount) {
	if f := propagationFlags(m.Propagation); f != 0 {
		at += ".propagation"
		c.propagations = append(c.propagations, plan.Step{Side: plan.Init, Do: &plan.Propagation{Target: m.Target, Flags: plan.MountFlags(f)}, Pos: c.pos(at)})
	}
}

// overlayLayers makes, in the staging root, the upper and work
// directories of each overlay mount: on a tmpfs of the sandbox's own, which
// vanishes with it, or under --keep-upper's host directory.
func (c *compiler) overlayLayers() {
	n := 0
	for i := range c.p.Filesystem.Mounts {
		m := &c.p.Filesystem.Mounts[i]
		if m.Type != spec.MountOverlay {
			continue
		}
		at := fmt.Sprintf("filesystem.mounts[%d]", i)
		add := func(a plan.Action) { c.add(at, plan.Init, a) }
		dir := fmt.Sprintf("/overlay-%d", n)
		if c.keepUpper != "" {
			dir = fmt.Sprintf("%s%s/%d", oldRoot, c.keepUpper, n)
			// Not world-readable: what the command wrote is for the
			// caller, and other users must not reach (or run) it. The
			// set-ID guard does not cover copy-up: touching a set-ID file
			// of a lower copies it up with its bits, and a shared mmap
			// then changes its content without clearing them. So the
			// upper layers are checked like a hand-back's outputs where
			// the guard is on and the caller is root, who can read and
			// fchmod what the command made (an unprivileged caller's
			// kept files are its own or its range's, under DIR/R 0700).
			step := &plan.Mkdir{Path: dir, Mode: 0o700}
			if !c.host.Rootless() && c.setIDExposure() != "" {
				step.HandBack, step.KeepSymlinks = fmt.Sprintf("%s/%d/upper", c.keepUpper, n), true
			}
			add(step)
		} else {
			data := "mode=0755"
			if m.Size != 0 {
				data += fmt.Sprintf(",size=%d", m.Size)
			}
			add(&plan.Mkdir{Path: dir, Mode: 0o700})
			add(&plan.Mount{Source: "tmpfs", Target: dir, FSType: "tmpfs", Flags: msSafe, Data: data})
		}
		add(&plan.Mkdir{Path: dir + "/upper", Mode: 0o755})
		add(&plan.Mkdir{Path: dir + "/work", Mode: 0o700})
		c.overlays = append(c.overlays, [2]string{dir + "/upper", dir + "/work"})
		n++
	}
}

// The parts of /proc that tell about or act on the host, after the OCI
// runtime spec's defaults: files are covered with the host's /dev/null,
// directories with an empty read-only tmpfs, and the writable tunables
// are made read-only. Those the kernel does not have are skipped.
var (
	procMaskedFiles = []string{"kcore", "keys", "latency_stats", "timer_list", "timer_stats", "sched_debug"}
	procMaskedDirs  = []string{"acpi", "asound", "scsi"}
	procReadOnly    = []string{"bus", "fs", "irq", "sys", "sysrq-trigger"}
)

func (c *compiler) hardenProc(at, target string) {
	in := func(a plan.Action) { c.add(at, plan.Init, a) }
	for _, f := range procMaskedFiles {
		in(&plan.Bind{SourceRoot: c.src, Source: "/dev/null", Root: c.root, Target: path.Join(target, f), Attr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC, Existing: true, Optional: true})
	}
	for _, d := range procMaskedDirs {
		in(&plan.MountFS{Root: c.root, FSType: "tmpfs", Target: path.Join(target, d), Options: []string{"size=0", "mode=0555"}, Attr: attrSafe | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_RDONLY, Existing: true, Optional: true})
	}
	for _, p := range procReadOnly {
		t := path.Join(target, p)
		in(&plan.Bind{SourceRoot: c.root, Source: t, Root: c.root, Target: t, Recursive: true, Attr: attrSafe | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_RDONLY, Existing: true, Optional: true})
	}
}

// capNumbers returns the numbers of names, sorted.
func capNumbers(names []spec.Capability) []uint32 {
	var out []uint32
	for _, name := range names {
		n, _ := spec.CapabilityNumber(string(name))
		if !slices.Contains(out, uint32(n)) {
			out = append(out, uint32(n))
		}
	}
	slices.Sort(out)
	return out
}

// checkCapSets checks that the permitted and effective sets a profile
// writes are what execve will give the command: the bounding set for root
// inside, the ambient set for any other uid.
func (c *compiler) checkCapSets() error {
	caps := &c.p.Security.Capabilities
	if !caps.Sets {
		return nil
	}
	derived, from := caps.Ambient, "ambient"
	if c.p.IDs.UID == 0 {
		derived, from = caps.Bounding, "bounding"
	}
	for _, set := range []struct {
		name string
		caps []spec.Capability
	}{{"permitted", caps.Permitted}, {"effective", caps.Effective}} {
		if len(set.caps) > 0 && !slices.Equal(capNumbers(set.caps), capNumbers(derived)) {
			return c.errorf("security.capabilities", "%s %v cannot be had: after execve the kernel gives a command with uid %d its %s set (%v) as permitted and effective; make them equal, or leave %s out",
				set.name, set.caps, c.p.IDs.UID, from, derived, set.name)
		}
	}
	return nil
}

// devNodes are bound from the host's /dev: an unprivileged owner of a user
// namespace cannot mknod, and a bind works for root too.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// dev builds a minimal /dev at target.
func (c *compiler) dev(at, target string) {
	in := func(a plan.Action) { c.add(at, plan.Init, a) }
	j := func(name string) string { return path.Join(target, name) }
	in(&plan.MountFS{Root: c.root, FSType: "tmpfs", Source: "tmpfs", Target: target, Options: []string{"mode=0755", "size=65536"}, Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC})
	for _, n := range devNodes {
		in(&plan.Bind{SourceRoot: c.src, Source: "/dev/" + n, Root: c.root, Target: j(n), Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC})
	}
	in(&plan.MountFS{Root: c.root, FSType: "devpts", Source: "devpts", Target: j("pts"), Options: []string{"newinstance", "ptmxmode=0666", "mode=0620"}, Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC})
	in(&plan.Symlink{Root: c.root, LinkTo: "pts/ptmx", Target: j("ptmx")})
	shm := uint64(attrSafe)
	if c.landlockNoExec(j("shm")) {
		shm |= unix.MOUNT_ATTR_NOEXEC
	}
	in(&plan.MountFS{Root: c.root, FSType: "tmpfs", Source: "shm", Target: j("shm"), Options: []string{"mode=1777"}, Attr: plan.AttrFlags(shm)})
	for _, l := range [][2]string{{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}} {
		in(&plan.Symlink{Root: c.root, LinkTo: l[1], Target: j(l[0])})
	}
}

// process sets up what the command inherits from init, then the command's
// own credentials, directory and execve.
func (c *compiler) process(args []string, sec *securitySteps) {
	p := c.p
	initStep := func(at string, a plan.Action) { c.add(at, plan.Init, a) }
	cmd := func(at string, a plan.Action) { c.add(at, plan.Command, a) }

	initStep("process", &plan.SetDumpable{})
	// Always, as runc does: with seccomp unconfined the command could
	// otherwise read the keys of the caller's session keyring.
	initStep("process", &plan.SessionKeyring{})
	if c.tty {
		// The pty comes from the sandbox's own devpts, so that its
		// /dev/pts/N exists inside (tty, ttyname, ps); owned by the
		// command, as a login's terminal is.
		uid, gid := p.IDs.UID, p.IDs.GID
		if p.Namespaces.User == spec.Host && c.host.Rootless() {
			uid, gid = c.host.UID, c.host.GID
		}
		initStep("process", &plan.Console{Ptmx: "/dev/ptmx", UID: uid, GID: gid})
	}
	if p.Namespaces.PID == spec.Host || p.Namespaces.Join.PID != "" {
		// Init is not the pid namespace's first process: its orphans
		// would go to that one.
		initStep("namespaces.pid", &plan.Subreaper{})
	}
	umask := spec.FileMode(0o022)
	if p.Process.Umask != nil {
		umask = *p.Process.Umask
	}
	initStep("process.umask", &plan.Umask{Mask: uint32(umask)})
	for i := range sec.rlimits {
		l := sec.rlimits[i]
		initStep("security.rlimits."+l.Resource.String(), &plan.SetRlimit{Limit: plan.Rlimit{Resource: l.Resource.String(), Soft: l.Soft, Hard: l.Hard}})
	}
	caps := &p.Security.Capabilities
	initStep("security.capabilities", &plan.CapBSetDrop{Keep: capNumbers(caps.Bounding)})
	if in := capNumbers(caps.Inheritable); len(in) > 0 {
		initStep("security.capabilities", &plan.CapInheritable{Caps: in})
	}
	if p.Security.NoNewPrivs() {
		initStep("security.noNewPrivileges", &plan.NoNewPrivs{})
	}
	initStep("process.inheritFds", &plan.CloseFDs{Keep: inheritedFDs(p.Process.InheritFDs)})
	if sec.landlock != nil {
		initStep("security.landlock", landlockStep(sec.landlock, c.host.LandlockABI))
	}
	if sec.seccomp != nil {
		initStep("security.seccomp", seccompStep(sec.seccomp, sec.filter))
	}

	if c.newSession() {
		cmd("process.newSession", &plan.Setsid{})
	}
	ids := &p.IDs
	if !(p.Namespaces.User == spec.Host && c.host.Rootless()) {
		// setgroups is denied in a namespace whose gid_map an
		// unprivileged caller wrote itself, allowed when the helpers did.
		denied := p.Namespaces.User == spec.New && p.IDs.SetGroups == spec.SetGroupsDeny
		if !denied && (!c.host.Rootless() || p.Namespaces.User == spec.Host || c.ids != nil && c.ids.helpers) {
			groups := append([]uint32{}, ids.Groups...)
			cmd("ids.groups", &plan.Setgroups{GIDs: groups})
		}
		cmd("ids.gid", &plan.Setgid{GID: ids.GID})
		cmd("ids.uid", &plan.Setuid{UID: ids.UID})
	}
	if amb := capNumbers(caps.Ambient); len(amb) > 0 {
		// Kept capabilities reach a command that is not root inside only
		// through the ambient set.
		cmd("security.capabilities", &plan.AmbientCaps{Caps: amb})
	}
	cwd := p.Process.Cwd
	if cwd == "" {
		cwd = "/"
	}
	cmd("process.cwd", &plan.Chdir{Dir: cwd})
	// A uid change clears the parent-death signal; arm it again.
	if !c.detached {
		cmd("process", &plan.Pdeathsig{Signal: uint32(unix.SIGKILL)})
	}
	if c.tty {
		// The console is the command's stdin: its own terminal, not the
		// caller's, so the session of its own costs job control nothing.
		// Printed where Go's fork does it: after the descriptors are in
		// place, right before execve.
		cmd("process", &plan.Setctty{})
	}
	cmd("process.args", &plan.Exec{Path: args[0], Args: args, Env: c.env()})
}

// env is the command's environment: passEnv values present in the caller,
// then env, which wins; sorted by name.
func (c *compiler) env() []string {
	vals := map[string]string{}
	for _, name := range c.p.Process.PassEnv {
		if v, ok := c.host.LookupEnv(name); ok && !c.pooled {
			vals[name] = v
		}
	}
	// The proxy's variables override the caller's (passEnv), which
	// would point past the proxy, and yield to the profile's own.
	for k, v := range c.proxyEnv() {
		vals[k] = v
	}
	for k, v := range c.p.Process.Env {
		vals[k] = v
	}
	env := make([]string, 0, len(vals))
	for k, v := range vals {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// device is the source the mount table shows for the filesystem mount m:
// its device, or its type's name, as mount(8) and OCI runtimes name them.
func device(m *spec.Mount) string {
	if m.Device != "" {
		return m.Device
	}
	return m.Type.String()
}

// newSession reports whether the command runs in a session of its own
// (and init with it).
func (c *compiler) newSession() bool { return c.p.Process.IsNewSession() || c.tty }
