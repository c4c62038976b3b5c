package plan

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/seccomp"
)

// Op is the operation of a step. Every switch over Op names every case, so
// that a new Op cannot be forgotten by the printer, the checker or the
// executor.
type Op uint8

// The operations. The comment of each gives the syscalls it makes.
const (
	OpInvalid Op = iota
	// OpCgroupMkdir creates the cgroup directory Path.
	OpCgroupMkdir
	// OpCgroupWrite writes Data to the cgroup file Path.
	OpCgroupWrite
	// OpIDMapUserns makes an ID-mapped copy of the tree at Source in the
	// parent, which alone has the privilege over the host's file system
	// that ID-mapping takes: a user namespace whose maps are Args[0]
	// (uid_map) and Args[1] (gid_map), open_tree(Source, OPEN_TREE_CLONE),
	// mount_setattr(Attr|MOUNT_ATTR_IDMAP). Init gets the detached tree as
	// descriptor ID and attaches it (OpAttachTree).
	OpIDMapUserns
	// OpClone starts init: clone(Flags|SIGCHLD) of a copy of cell, into
	// the cgroup Path when set (clone3 with CLONE_INTO_CGROUP).
	OpClone
	// OpCgroupJoin writes init's pid to Path/cgroup.procs (cgroup v1, which
	// cannot clone into a cgroup), before init runs any step.
	OpCgroupJoin
	// OpWriteIDMap writes Data to /proc/INIT/Path (uid_map, setgroups,
	// gid_map) before init runs.
	OpWriteIDMap
	// OpNewIDMap runs the setuid helper Path (newuidmap or newgidmap) with
	// init's pid and Args, the ranges to map.
	OpNewIDMap
	// OpUnshare is unshare(Flags) in init before it execs (time namespace).
	OpUnshare
	// OpPdeathsig is prctl(PR_SET_PDEATHSIG, ID).
	OpPdeathsig
	// OpInitIDs is setresgid(IDs[1]) and setresuid(IDs[0]) in init before
	// it execs: the IDs inside the user namespace that init works as,
	// when the caller's own are not mapped.
	OpInitIDs
	// OpAmbientCaps raises the capabilities IDs into init's ambient set
	// before it execs, so that init keeps them although its uid inside
	// the user namespace need not be 0.
	OpAmbientCaps
	// OpExecInit is init's execve of the cell binary, which then reads the
	// plan and runs the remaining init steps.
	OpExecInit
	// OpMount is mount(Source, Path, FSType, Flags, Data).
	OpMount
	// OpChdir is chdir(Path).
	OpChdir
	// OpMkdir is mkdir(Path, Mode) under Root, creating missing parents
	// with mode 0755.
	OpMkdir
	// OpPivotRoot is pivot_root(Path, Source).
	OpPivotRoot
	// OpUmount is umount2(Path, Flags).
	OpUmount
	// OpMountFS is fsopen(FSType), fsconfig(Options...), fsmount(Attr)
	// and move_mount onto Path under Root, creating it as a directory.
	OpMountFS
	// OpBind is open_tree(Source, OPEN_TREE_CLONE[|AT_RECURSIVE]),
	// mount_setattr(Attr[, AT_RECURSIVE]) and move_mount onto Path under
	// Root, creating it like the source (directory or empty file).
	OpBind
	// OpAttachTree is move_mount of the detached tree on descriptor ID
	// onto Path under Root, creating it like the tree's root.
	OpAttachTree
	// OpWriteFile creates the file Path under Root with Mode and writes
	// Data; it must not exist.
	OpWriteFile
	// OpSymlink is symlink(Source, Path) under Root.
	OpSymlink
	// OpSetattr is mount_setattr(Path, Attr) on one mount.
	OpSetattr
	// OpSethostname is sethostname(Path).
	OpSethostname
	// OpSetdomainname is setdomainname(Path).
	OpSetdomainname
	// OpLinkUp is ioctl(SIOCSIFFLAGS, Path, IFF_UP) on a network interface.
	OpLinkUp
	// OpSetDumpable is prctl(PR_SET_DUMPABLE, 0): init's memory and
	// /proc/1 files become inaccessible to the command.
	OpSetDumpable
	// OpSubreaper is prctl(PR_SET_CHILD_SUBREAPER, 1), for a shared pid
	// namespace where init is not pid 1.
	OpSubreaper
	// OpSessionKeyring is keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): init
	// (and so the command) leaves the caller's session keyring for a new
	// anonymous one, so that keys the caller holds there are out of reach.
	OpSessionKeyring
	// OpUmask is umask(Mode).
	OpUmask
	// OpOOMScoreAdj writes Data to /proc/self/oom_score_adj; the command
	// inherits it.
	OpOOMScoreAdj
	// OpRlimit is prlimit(0, Rlimit); the command inherits it.
	OpRlimit
	// OpCapBSetDrop is prctl(PR_CAPBSET_DROP) of every capability and the
	// clearing of the ambient and inheritable sets, so the command cannot
	// hold a capability even as uid 0.
	OpCapBSetDrop
	// OpCapInheritable is capset of init's inheritable set to IDs, which
	// the command inherits.
	OpCapInheritable
	// OpNoNewPrivs is prctl(PR_SET_NO_NEW_PRIVS, 1).
	OpNoNewPrivs
	// OpLandlock is landlock_create_ruleset, landlock_add_rule for each
	// rule and landlock_restrict_self on init's thread that forks the
	// command, which inherits the domain.
	OpLandlock
	// OpSeccomp is seccomp(SECCOMP_SET_MODE_FILTER, Filter) on init's
	// thread that forks the command, which inherits the filter. It comes
	// last, so that the filter needs to allow only what is left to do.
	OpSeccomp
	// OpCloseFDs is close_range(3, ~0, CLOSE_RANGE_CLOEXEC) around the
	// descriptors IDs, which the command inherits. In the parent it comes
	// before the clone, so that no descriptor of the caller's but IDs
	// reaches init; init then closes any descriptor it was started with
	// that the plan does not name (its socket, ID-mapped trees, IDs).
	OpCloseFDs
	// OpSetsid is setsid() in the command: a session of its own, without
	// the caller's terminal as its controlling one.
	OpSetsid
	// OpSetctty is ioctl(0, TIOCSCTTY): the pty cell made for the sandbox
	// becomes the command's controlling terminal, for job control.
	OpSetctty
	// OpSetgroups is setgroups(IDs) in the command.
	OpSetgroups
	// OpSetgid is setresgid(ID) in the command.
	OpSetgid
	// OpSetuid is setresuid(ID) in the command.
	OpSetuid
	// OpCgroupKill kills every process left in the cgroup Path, when the
	// sandbox ends (cgroup.kill, or freeze and SIGKILL on v1).
	OpCgroupKill
	// OpCgroupRemove removes the cgroup directory Path when the sandbox
	// ends.
	OpCgroupRemove
	// OpExec is execve of Path, looked up in the PATH of Env when it has
	// no slash, with Args and Env.
	OpExec
	// OpRequire reads the file Path, which must hold Data: a host setting
	// that the sandbox's network depends on and cell does not change.
	OpRequire
	// OpNetLease leases an address of the subnet Data on the bridge Path
	// to the sandbox Source, under a lock of the bridge's lease file; later steps
	// write it as {lease}.
	OpNetLease
	// OpBridge makes the bridge Path with the address Data, up, unless it
	// exists (RTM_NEWLINK, RTM_NEWADDR).
	OpBridge
	// OpNft installs the nftables chain or rule Nft (NFT_MSG_NEWCHAIN,
	// NFT_MSG_NEWRULE): on the host in the parent, in the sandbox's own
	// network namespace in init.
	OpNft
	// OpVeth makes a veth pair: Path on the host, attached to the bridge
	// Source, and Data in init's network namespace (RTM_NEWLINK), and
	// forgets the host's neighbour entry of the leased address, which an
	// earlier sandbox may have left with its MAC (RTM_DELNEIGH). The pair
	// goes with the sandbox's namespace.
	OpVeth
	// OpUserNet starts the user-mode network helper Path with Args
	// against init's network namespace and waits until it is ready.
	OpUserNet
	// OpUserNetPort publishes the host port IDs[0] on the sandbox's port
	// IDs[1] (protocol Data) through the user-mode helper's API.
	OpUserNetPort
	// OpAddrAdd gives the interface Path the address Data and sets it up
	// (RTM_NEWADDR, RTM_NEWLINK).
	OpAddrAdd
	// OpRouteAdd adds the default route via Data on the interface Path
	// (RTM_NEWROUTE).
	OpRouteAdd
	// OpNftDelete deletes the rules whose comment is Data from the table
	// Path ("FAMILY NAME") on the host, when the sandbox ends.
	OpNftDelete
	// OpLeaseRelease ends the lease of the sandbox Data on the bridge Path.
	OpLeaseRelease
	// OpUserNetStop stops the user-mode network helper.
	OpUserNetStop
	// OpIDLease leases a slot of host IDs from the pool IDs[0] (first)
	// and IDs[1] (count) to the sandbox Source, under a lock of the lease
	// file Path; the ID maps of later parent steps write its first ID as
	// {ids} (launcher/ids). The slot is picked when the sandbox starts.
	OpIDLease
	// OpIDRelease ends the lease of the slot {ids} in the lease file Path
	// when the sandbox ends.
	OpIDRelease
	// OpConsole makes the command's terminal in the sandbox's own devpts,
	// as runc and crun do with their console socket: open(Path, O_RDWR|
	// O_NOCTTY) of its pty multiplexer, ioctl(TIOCSPTLCK, 0), the slave
	// /dev/pts/N by ioctl(TIOCGPTPEER), fchown of it to IDs (the command's
	// uid and gid), and sendmsg of the master to cell (SCM_RIGHTS), which
	// copies between it and the caller's terminal. The slave becomes the
	// command's descriptors 0, 1 and 2.
	OpConsole
	// OpEgressProxy makes the sockets of the sandbox's egress proxy
	// (Proxy.Listen) in init's network namespace, socket, bind and
	// listen, and sends them to cell (SCM_RIGHTS), which serves them
	// from outside the sandbox with the proxy process (launcher/network/
	// egress) and Proxy's rules.
	OpEgressProxy
	opCount
)

var opNames = [...]string{
	OpInvalid:        "invalid",
	OpCgroupMkdir:    "cgroup-mkdir",
	OpCgroupWrite:    "cgroup-write",
	OpIDMapUserns:    "idmapped-tree",
	OpAttachTree:     "attach-tree",
	OpClone:          "clone",
	OpCgroupJoin:     "cgroup-join",
	OpCgroupKill:     "cgroup-kill",
	OpCgroupRemove:   "cgroup-remove",
	OpWriteIDMap:     "write-id-map",
	OpNewIDMap:       "new-id-map",
	OpUnshare:        "unshare",
	OpPdeathsig:      "pdeathsig",
	OpInitIDs:        "init-ids",
	OpAmbientCaps:    "ambient-caps",
	OpExecInit:       "exec-init",
	OpMount:          "mount",
	OpChdir:          "chdir",
	OpMkdir:          "mkdir",
	OpPivotRoot:      "pivot-root",
	OpUmount:         "umount",
	OpMountFS:        "mount-fs",
	OpBind:           "bind",
	OpWriteFile:      "write-file",
	OpSymlink:        "symlink",
	OpSetattr:        "setattr",
	OpSethostname:    "sethostname",
	OpSetdomainname:  "setdomainname",
	OpLinkUp:         "link-up",
	OpSetDumpable:    "set-dumpable",
	OpSubreaper:      "subreaper",
	OpSessionKeyring: "session-keyring",
	OpUmask:          "umask",
	OpOOMScoreAdj:    "oom-score-adj",
	OpRlimit:         "rlimit",
	OpLandlock:       "landlock",
	OpSeccomp:        "seccomp",
	OpCapBSetDrop:    "capbset-drop",
	OpCapInheritable: "cap-inheritable",
	OpNoNewPrivs:     "no-new-privs",
	OpCloseFDs:       "close-fds",
	OpSetsid:         "setsid",
	OpSetctty:        "setctty",
	OpSetgroups:      "setgroups",
	OpSetgid:         "setgid",
	OpSetuid:         "setuid",
	OpExec:           "exec",
	OpRequire:        "require",
	OpNetLease:       "net-lease",
	OpBridge:         "bridge",
	OpNft:            "nft",
	OpVeth:           "veth",
	OpUserNet:        "user-net",
	OpUserNetPort:    "user-net-port",
	OpAddrAdd:        "addr-add",
	OpRouteAdd:       "route-add",
	OpNftDelete:      "nft-delete",
	OpLeaseRelease:   "lease-release",
	OpUserNetStop:    "user-net-stop",
	OpIDLease:        "id-lease",
	OpIDRelease:      "id-release",
	OpConsole:        "console",
	OpEgressProxy:    "egress-proxy",
}

func (o Op) String() string {
	if o < opCount {
		return opNames[o]
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// MarshalText prints the op's name.
func (o Op) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText parses an op's name.
func (o *Op) UnmarshalText(b []byte) error {
	for c := OpInvalid + 1; c < opCount; c++ {
		if opNames[c] == string(b) {
			*o = c
			return nil
		}
	}
	return fmt.Errorf("unknown op %q", b)
}

// Call prints the step as the syscalls it makes, strace-like.
func (s *Step) Call() string {
	p := s.full()
	switch s.Op {
	case OpInvalid:
		return "invalid()"
	case OpIDMapUserns:
		if len(s.Args) != 2 {
			return "idmapped-tree(?)"
		}
		rec, open := "", "OPEN_TREE_CLONE"
		if s.Recursive {
			rec, open = ", AT_RECURSIVE", open+"|AT_RECURSIVE"
		}
		return fmt.Sprintf("clone(CLONE_NEWUSER) with uid_map %q gid_map %q; open_tree(%s, %s) mount_setattr(%s|MOUNT_ATTR_IDMAP%s) = fd %d in init%s%s",
			s.Args[0], s.Args[1], s.source(s.Source), open, AttrFlags(s.Attr), rec, s.ID, s.condition(), s.handBack())
	case OpAttachTree:
		return fmt.Sprintf("move_mount(fd %d -> %q)%s", s.ID, p, s.condition())
	case OpCgroupMkdir:
		return fmt.Sprintf("mkdir(%q, 0755)", s.Path)
	case OpCgroupWrite:
		return fmt.Sprintf("write(%q, %q)", s.Path, s.Data)
	case OpClone:
		if s.Path != "" {
			return fmt.Sprintf("clone3(%s|CLONE_INTO_CGROUP, cgroup=%q, exit_signal=SIGCHLD) = INIT", CloneFlags(s.Flags), s.Path)
		}
		if s.Flags&unix.CLONE_NEWTIME != 0 {
			// CLONE_NEWTIME shares its bit with clone's exit signal.
			return fmt.Sprintf("clone3(%s, exit_signal=SIGCHLD) = INIT", CloneFlags(s.Flags))
		}
		return fmt.Sprintf("clone(%s|SIGCHLD) = INIT", CloneFlags(s.Flags))
	case OpCgroupJoin:
		return fmt.Sprintf("write(%q, INIT)", s.Path+"/cgroup.procs")
	case OpCgroupKill:
		return fmt.Sprintf("kill every process in %q", s.Path)
	case OpCgroupRemove:
		return fmt.Sprintf("rmdir(%q)", s.Path)
	case OpWriteIDMap:
		return fmt.Sprintf("write(\"/proc/INIT/%s\", %q)", s.Path, s.Data)
	case OpNewIDMap:
		return fmt.Sprintf("execve(%q, %s)", s.Path, quoteList(append([]string{s.Path, "INIT"}, s.Args...)))
	case OpUnshare:
		return fmt.Sprintf("unshare(%s)", CloneFlags(s.Flags))
	case OpPdeathsig:
		return fmt.Sprintf("prctl(PR_SET_PDEATHSIG, %s)", unix.SignalName(sig(s.ID)))
	case OpInitIDs:
		if len(s.IDs) != 2 {
			return "init-ids(?)"
		}
		return fmt.Sprintf("setresgid(%d, %d, %d) setresuid(%d, %d, %d)", s.IDs[1], s.IDs[1], s.IDs[1], s.IDs[0], s.IDs[0], s.IDs[0])
	case OpAmbientCaps:
		if s.Side == Command {
			return fmt.Sprintf("capset(inheritable+=%s) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, %s)", capNames(s.IDs), capNames(s.IDs))
		}
		return fmt.Sprintf("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, %s)", capNames(s.IDs))
	case OpExecInit:
		return fmt.Sprintf("execve(%q, %s)", s.Path, quoteList(s.Args))
	case OpMount:
		return fmt.Sprintf("mount(%s, %q, %s, %s, %s)", quoteOrNull(s.Source), s.Path,
			quoteOrNull(s.FSType), MountFlags(s.Flags), quoteOrNull(s.Data))
	case OpChdir:
		return fmt.Sprintf("chdir(%q)", p)
	case OpMkdir:
		return fmt.Sprintf("mkdir(%q, %04o)%s", p, s.Mode, s.handBack())
	case OpPivotRoot:
		return fmt.Sprintf("pivot_root(%q, %q)", s.Path, s.Source)
	case OpUmount:
		return fmt.Sprintf("umount2(%q, %s)", s.Path, UmountFlags(s.Flags))
	case OpMountFS:
		lowers := ""
		if s.NoSymlinks {
			lowers = " (lowerdir each opened with openat2 RESOLVE_NO_SYMLINKS and given as its descriptor)"
		}
		return fmt.Sprintf("fsopen(%q) fsconfig(%s)%s fsmount(%s) move_mount(-> %q)%s",
			s.FSType, strings.Join(s.Options, ", "), lowers, AttrFlags(s.Attr), p, s.condition())
	case OpBind:
		rec, open := "", "OPEN_TREE_CLONE"
		if s.Recursive {
			rec, open = ", AT_RECURSIVE", open+"|AT_RECURSIVE"
		}
		idmap := ""
		if s.Attr&unix.MOUNT_ATTR_IDMAP != 0 {
			idmap = fmt.Sprintf(", userns_fd=%d", s.ID)
		}
		return fmt.Sprintf("open_tree(%s, %s) mount_setattr(%s%s%s) move_mount(-> %q)%s%s",
			s.source(join(s.SourceRoot, s.Source)), open, AttrFlags(s.Attr), rec, idmap, p, s.condition(), s.handBack())
	case OpWriteFile:
		return fmt.Sprintf("open(%q, O_CREAT|O_EXCL|O_WRONLY, %04o) write(%s)", p, s.Mode, shorten(s.Data))
	case OpSymlink:
		return fmt.Sprintf("symlink(%q, %q)", s.Source, p)
	case OpSetattr:
		return fmt.Sprintf("mount_setattr(%q, %s)", p, AttrFlags(s.Attr))
	case OpSethostname:
		return fmt.Sprintf("sethostname(%q)", s.Path)
	case OpSetdomainname:
		return fmt.Sprintf("setdomainname(%q)", s.Path)
	case OpLinkUp:
		return fmt.Sprintf("ioctl(SIOCSIFFLAGS, %q, IFF_UP)", s.Path)
	case OpRequire:
		return fmt.Sprintf("read(%q) == %q", s.Path, s.Data)
	case OpNetLease:
		return fmt.Sprintf("flock(leases of %q) lease(%s, %q) = {lease}", s.Path, s.Data, s.Source)
	case OpBridge:
		return fmt.Sprintf("RTM_NEWLINK(%q, type bridge) RTM_NEWADDR(%q, %s) unless it exists", s.Path, s.Path, s.Data)
	case OpNft:
		if s.Nft == nil {
			return "nft(?)"
		}
		return "nft " + s.Nft.String()
	case OpVeth:
		return fmt.Sprintf("RTM_NEWLINK(%q, type veth, master %q, peer %q in INIT's netns) RTM_DELNEIGH({lease} on %q)", s.Path, s.Source, s.Data, s.Source)
	case OpUserNet:
		return fmt.Sprintf("execve(%q, %s) and wait for ready", s.Path, quoteList(append([]string{s.Path}, s.Args...)))
	case OpUserNetPort:
		if len(s.IDs) != 2 {
			return "user-net-port(?)"
		}
		return fmt.Sprintf("add_hostfwd(%s, 0.0.0.0:%d -> %d)", s.Data, s.IDs[0], s.IDs[1])
	case OpAddrAdd:
		return fmt.Sprintf("RTM_NEWADDR(%q, %s) RTM_NEWLINK(%q, IFF_UP)", s.Path, s.Data, s.Path)
	case OpRouteAdd:
		return fmt.Sprintf("RTM_NEWROUTE(default via %s dev %q)", s.Data, s.Path)
	case OpNftDelete:
		return fmt.Sprintf("nft delete rules of %s with comment %q", s.Path, s.Data)
	case OpLeaseRelease:
		return fmt.Sprintf("flock(leases of %q) release(%q)", s.Path, s.Data)
	case OpUserNetStop:
		return "close(exit fd) of the user-mode network helper, wait"
	case OpIDLease:
		if len(s.IDs) != 2 {
			return "id-lease(?)"
		}
		return fmt.Sprintf("flock(%q) lease(a slot of %d IDs of %d-%d, %q) = {ids}, picked at run time",
			s.Path, idSlot, s.IDs[0], uint64(s.IDs[0])+uint64(s.IDs[1])-1, s.Source)
	case OpIDRelease:
		return fmt.Sprintf("flock(%q) release(%s)", s.Path, s.Data)
	case OpSetDumpable:
		return "prctl(PR_SET_DUMPABLE, 0)"
	case OpSessionKeyring:
		return "keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)"
	case OpSubreaper:
		return "prctl(PR_SET_CHILD_SUBREAPER, 1)"
	case OpUmask:
		return fmt.Sprintf("umask(%04o)", s.Mode)
	case OpOOMScoreAdj:
		return fmt.Sprintf("write(\"/proc/self/oom_score_adj\", %q)", s.Data)
	case OpRlimit:
		if s.Rlimit == nil {
			return "prlimit(?)"
		}
		return s.Rlimit.Call()
	case OpLandlock:
		if s.Landlock == nil {
			return "landlock(?)"
		}
		return fmt.Sprintf("landlock_restrict_self(%s)", s.Landlock.Effective(s.ABI))
	case OpSeccomp:
		if s.Seccomp == nil {
			return "seccomp(?)"
		}
		head := s.Seccomp.Summary()[:1]
		if s.Seccomp.LandlockTCP {
			head = append(head, seccomp.LandlockTCPNote)
		}
		return fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, %d instructions: %s)", len(s.Filter), strings.Join(head, "; "))
	case OpCapBSetDrop:
		if len(s.IDs) > 0 {
			return fmt.Sprintf("prctl(PR_CAPBSET_DROP, every capability but %s) prctl(PR_CAP_AMBIENT_CLEAR_ALL) capset(inheritable=0)", capNames(s.IDs))
		}
		return "prctl(PR_CAPBSET_DROP, every capability) prctl(PR_CAP_AMBIENT_CLEAR_ALL) capset(inheritable=0)"
	case OpCapInheritable:
		return fmt.Sprintf("capset(inheritable=%s)", capNames(s.IDs))
	case OpNoNewPrivs:
		return "prctl(PR_SET_NO_NEW_PRIVS, 1)"
	case OpCloseFDs:
		call := "close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)"
		if len(s.IDs) > 0 {
			call = fmt.Sprintf("close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) keeping %v", s.IDs)
		}
		if s.Side == Parent {
			return call + " in cell; init closes every other descriptor it did not get from the plan"
		}
		return call
	case OpSetsid:
		return "setsid()"
	case OpSetctty:
		return "ioctl(0, TIOCSCTTY, 0)"
	case OpConsole:
		if len(s.IDs) == 2 {
			return fmt.Sprintf("open(%q) ioctl(TIOCSPTLCK, 0) ioctl(TIOCGPTPEER) fchown(slave, %d, %d) sendmsg(cell, SCM_RIGHTS master) slave -> fds 0, 1, 2", s.Path, s.IDs[0], s.IDs[1])
		}
		return fmt.Sprintf("open(%q) ioctl(TIOCSPTLCK, 0) ioctl(TIOCGPTPEER) sendmsg(cell, SCM_RIGHTS master) slave -> fds 0, 1, 2", s.Path)
	case OpEgressProxy:
		if s.Proxy == nil {
			return "egress-proxy(?)"
		}
		return s.Proxy.Summary()
	case OpSetgroups:
		return fmt.Sprintf("setgroups(%v)", s.IDs)
	case OpSetgid:
		return fmt.Sprintf("setresgid(%d, %d, %d)", s.ID, s.ID, s.ID)
	case OpSetuid:
		return fmt.Sprintf("setresuid(%d, %d, %d)", s.ID, s.ID, s.ID)
	case OpExec:
		name := "execve"
		if !strings.Contains(s.Path, "/") {
			name = "execvpe"
		}
		return fmt.Sprintf("%s(%q, %s, %s)", name, s.Path, quoteList(s.Args), quoteList(s.Env))
	case opCount:
	}
	return s.Op.String() + "(?)"
}

// condition prints when a mount is skipped.
func (s *Step) condition() string {
	switch {
	case s.Existing && s.Optional:
		return " if both exist"
	case s.Optional:
		return " if it exists"
	case s.Existing:
		return " onto the existing target"
	}
	return ""
}

// full is Path as seen before the step runs: joined to Root.
func (s *Step) full() string { return join(s.Root, s.Path) }

func join(root, p string) string {
	if root == "" || root == "/" {
		return p
	}
	if p == "/" {
		return root
	}
	return root + p
}

// idSlot is the size of a leased slot of IDs (launcher/ids.SlotSize,
// which plan cannot import: ids imports state, which plan's users use).
const idSlot = 65536

func sig(n uint32) unix.Signal { return unix.Signal(n) }

func quoteOrNull(s string) string {
	if s == "" {
		return "NULL"
	}
	return strconv.Quote(s)
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// shorten prints file content so that a long file does not swamp the plan.
func shorten(s string) string {
	const max = 48
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:max]), len(s))
}

// handBack says what cell does with a hand-back bind's source after the
// sandbox.
func (s *Step) handBack() string {
	switch {
	case !s.HandBack:
		return ""
	case s.KeepSymlinks:
		return "; after the sandbox: set-ID bits cleared in " + s.Source
	}
	return "; after the sandbox: set-ID bits cleared and symlinks removed in " + s.Source
}

// source is a bind's source as its open_tree takes it: the path, or the
// descriptor of the path resolved without following symlinks.
func (s *Step) source(p string) string {
	if s.NoSymlinks {
		return fmt.Sprintf("openat2(%q, RESOLVE_NO_SYMLINKS)", p)
	}
	return fmt.Sprintf("%q", p)
}

// Summary is a short description of the step for error messages: "bind
// /home/u/src -> /src", "mount proc -> /proc", "exec sh".
func (s *Step) Summary() string {
	switch s.Op {
	case OpBind:
		return fmt.Sprintf("bind %s -> %s", s.Source, s.Path)
	case OpMountFS:
		return fmt.Sprintf("mount %s -> %s", s.FSType, s.Path)
	case OpMkdir:
		return "mkdir " + s.full()
	case OpWriteFile:
		return "file " + s.Path
	case OpSymlink:
		return fmt.Sprintf("symlink %s -> %s", s.Path, s.Source)
	case OpExec:
		return "exec " + s.Path
	case OpInvalid, OpIDMapUserns, OpAttachTree, OpNewIDMap, OpCgroupMkdir, OpCgroupWrite, OpCgroupJoin, OpCgroupKill, OpCgroupRemove, OpClone, OpWriteIDMap, OpUnshare, OpPdeathsig, OpInitIDs, OpAmbientCaps, OpExecInit, OpMount,
		OpChdir, OpPivotRoot, OpUmount, OpSetattr, OpSethostname, OpSetdomainname, OpLinkUp,
		OpSetDumpable, OpSubreaper, OpUmask, OpOOMScoreAdj, OpRlimit, OpLandlock, OpSeccomp, OpCapBSetDrop, OpCapInheritable, OpNoNewPrivs, OpCloseFDs,
		OpSessionKeyring,
		OpSetsid, OpSetctty, OpSetgroups, OpSetgid, OpSetuid, OpIDLease, OpIDRelease, OpConsole, opCount:
	case OpEgressProxy:
		return "egress-proxy"
	}
	return s.Call()
}
