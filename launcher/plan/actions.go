package plan

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Action is what a step does: one of the types of this file, a closed
// set (the unexported method seals it). Each type holds the arguments of
// its op and nothing else, and prints itself as the syscalls it makes;
// the executors switch on the type, with a default that refuses a type
// they do not run.
type Action interface {
	// Op is the action's op, the key of its row in the op table.
	Op() Op
	// call prints the action as the syscalls it makes, strace-like, as
	// the side it runs on makes them.
	call(side Side) string
}

// CgroupMkdir creates the cgroup directory Dir.
type CgroupMkdir struct {
	Dir string `json:"dir"`
}

// CgroupWrite writes Value to the cgroup file File.
type CgroupWrite struct {
	File  string `json:"file"`
	Value string `json:"value"`
}

// CgroupDevices allows the processes of the cgroup v2 directory Dir only
// the devices Allow lists (cgroup v2 has no devices controller): it loads
// a BPF_PROG_TYPE_CGROUP_DEVICE program made from the rules
// (bpf(BPF_PROG_LOAD)) and attaches it to Dir (bpf(BPF_PROG_ATTACH,
// BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)). With BPF_F_ALLOW_MULTI the
// programs attached to Dir's ancestors still run too and a device must
// pass every one, so the program only narrows what the host allows. The
// attachment lasts as long as the cgroup: nothing in the sandbox can
// detach it without CAP_SYS_ADMIN in the host's user namespace.
type CgroupDevices struct {
	Dir   string       `json:"dir"`
	Allow []DeviceRule `json:"allow"`
}

// DeviceRule allows access to the devices of Type ('a', 'c' or 'b') and
// number Major:Minor, -1 being any. Access is what it allows: r (open
// for reading), w (open for writing), m (mknod), each at most once.
type DeviceRule struct {
	Type   byte   `json:"type"`
	Major  int64  `json:"major"`
	Minor  int64  `json:"minor"`
	Access string `json:"access"`
}

// String prints the rule as cgroup v1's devices.allow takes it:
// "c 10:229 rwm", "c 136:* rwm", "a *:* rw".
func (d DeviceRule) String() string {
	n := func(x int64) string {
		if x < 0 {
			return "*"
		}
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprintf("%c %s:%s %s", d.Type, n(d.Major), n(d.Minor), d.Access)
}

// IDMappedTree makes an ID-mapped copy of the tree at Source in the
// parent, which alone has the privilege over the host's file system that
// ID-mapping takes: a user namespace whose maps are UIDMap and GIDMap,
// open_tree(Source, OPEN_TREE_CLONE), mount_setattr(Attr|MOUNT_ATTR_IDMAP).
// Init gets the detached tree as descriptor FD and attaches it
// (AttachTree).
type IDMappedTree struct {
	Source string    `json:"source"`
	UIDMap string    `json:"uidMap"`
	GIDMap string    `json:"gidMap"`
	Attr   AttrFlags `json:"attr,omitempty"`
	FD     uint32    `json:"fd"`
	// Recursive clones the submounts too; NoSymlinks resolves Source
	// without following a symlink (RESOLVE_NO_SYMLINKS).
	Recursive  bool `json:"recursive,omitempty"`
	NoSymlinks bool `json:"noSymlinks,omitempty"`
	// Optional skips a missing Source.
	Optional bool `json:"optional,omitempty"`
	// HandBack makes Source the sandbox's outputs (see Bind).
	HandBack     bool `json:"handBack,omitempty"`
	KeepSymlinks bool `json:"keepSymlinks,omitempty"`
}

// Clone starts init: clone(Flags|SIGCHLD) of a copy of cell, into the
// cgroup Cgroup when set (clone3 with CLONE_INTO_CGROUP).
type Clone struct {
	Flags  CloneFlags `json:"flags"`
	Cgroup string     `json:"cgroup,omitempty"`
}

// CgroupJoin writes init's pid to Dir/cgroup.procs (cgroup v1, which
// cannot clone into a cgroup), before init runs any step.
type CgroupJoin struct {
	Dir string `json:"dir"`
}

// WriteIDMap writes Data to /proc/INIT/File (uid_map, setgroups,
// gid_map) between init's clone and its exec: Go's fork writes them, in
// the order uid_map, setgroups, gid_map, before the clone returns.
type WriteIDMap struct {
	File string `json:"file"`
	Data string `json:"data"`
}

// DenySetgroups writes "deny" to /proc/INIT/setgroups after init's
// first exec, before the setuid helpers write its maps (the helpers'
// way, with ids.setgroups: deny); cell writes it itself.
type DenySetgroups struct{}

// NewIDMap runs the setuid helper Helper (newuidmap or newgidmap) with
// init's pid and Ranges, the ranges to map.
type NewIDMap struct {
	Helper string   `json:"helper"`
	Ranges []string `json:"ranges"`
}

// Pdeathsig is prctl(PR_SET_PDEATHSIG, Signal).
type Pdeathsig struct {
	Signal uint32 `json:"signal"`
}

// InitIDs is setresgid(GID) and setresuid(UID) in init before it execs:
// the IDs inside the user namespace that init works as, when the caller's
// own are not mapped.
type InitIDs struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

// AmbientCaps raises Caps into the ambient set: init's before it execs,
// so that it keeps them although its uid inside the user namespace need
// not be 0; the command's (with its inheritable set), so that a command
// that is not root inside keeps them.
type AmbientCaps struct {
	Caps []uint32 `json:"caps"`
}

// ExecInit is init's execve of the cell binary Path with Args, which then
// reads the plan and runs the remaining init steps.
type ExecInit struct {
	Path string   `json:"path"`
	Args []string `json:"args"`
}

// Mount is mount(Source, Target, FSType, Flags, Data).
type Mount struct {
	Source string     `json:"source,omitempty"`
	Target string     `json:"target"`
	FSType string     `json:"fstype,omitempty"`
	Flags  MountFlags `json:"flags,omitempty"`
	Data   string     `json:"data,omitempty"`
}

// Chdir is chdir(Dir).
type Chdir struct {
	Dir string `json:"dir"`
}

// Mkdir is mkdir(Path, Mode) under Root, creating missing parents with
// mode 0755. HandBack, when set, is the host directory that becomes the
// sandbox's outputs (a kept overlay's upper layer): see Bind.
type Mkdir struct {
	Root         string `json:"root,omitempty"`
	Path         string `json:"path"`
	Mode         uint32 `json:"mode"`
	HandBack     string `json:"handBack,omitempty"`
	KeepSymlinks bool   `json:"keepSymlinks,omitempty"`
}

// PivotRoot is pivot_root(NewRoot, PutOld).
type PivotRoot struct {
	NewRoot string `json:"newRoot"`
	PutOld  string `json:"putOld"`
}

// Umount is umount2(Target, Flags).
type Umount struct {
	Target string      `json:"target"`
	Flags  UmountFlags `json:"flags,omitempty"`
}

// MountFS is fsopen(FSType), fsconfig(source=Source, Options...),
// fsmount(Attr) and move_mount onto Target under Root, creating it as a
// directory.
type MountFS struct {
	Root   string `json:"root,omitempty"`
	Target string `json:"target"`
	FSType string `json:"fstype"`
	// Source is the name the mount table shows as the mount's source
	// (an OCI bundle's mount source, or the type's name); empty leaves
	// the kernel's default ("none").
	Source  string    `json:"source,omitempty"`
	Options []string  `json:"options,omitempty"`
	Attr    AttrFlags `json:"attr,omitempty"`
	// NoSymlinks opens each overlay lowerdir with openat2
	// RESOLVE_NO_SYMLINKS and gives it as its descriptor.
	NoSymlinks bool `json:"noSymlinks,omitempty"`
	// Existing requires the target to exist: it is not created.
	// Optional skips the mount when it does not.
	Existing bool `json:"existing,omitempty"`
	Optional bool `json:"optional,omitempty"`
}

// Bind is open_tree(Source, OPEN_TREE_CLONE[|AT_RECURSIVE]) with Source
// resolved in SourceRoot without leaving it, mount_setattr(Attr[,
// AT_RECURSIVE]) and move_mount onto Target under Root, creating it like
// the source (directory or empty file).
type Bind struct {
	SourceRoot string    `json:"sourceRoot,omitempty"`
	Source     string    `json:"source"`
	Root       string    `json:"root,omitempty"`
	Target     string    `json:"target"`
	Attr       AttrFlags `json:"attr,omitempty"`
	Recursive  bool      `json:"recursive,omitempty"`
	// NoSymlinks resolves Source without following a symlink in any
	// component (RESOLVE_NO_SYMLINKS).
	NoSymlinks bool `json:"noSymlinks,omitempty"`
	// Optional skips a missing source (or Existing target); Existing
	// requires the target to exist.
	Optional bool `json:"optional,omitempty"`
	Existing bool `json:"existing,omitempty"`
	// HandBack makes Source the sandbox's outputs: after the sandbox,
	// cell clears set-ID bits there and removes symlinks (unless
	// KeepSymlinks), and fails the run if it found any.
	HandBack     bool `json:"handBack,omitempty"`
	KeepSymlinks bool `json:"keepSymlinks,omitempty"`
}

// AttachTree is move_mount of the detached tree on descriptor FD onto
// Target under Root, creating it like the tree's root.
type AttachTree struct {
	FD       uint32 `json:"fd"`
	Root     string `json:"root,omitempty"`
	Target   string `json:"target"`
	Optional bool   `json:"optional,omitempty"`
}

// WriteFile creates the file Target under Root with Mode and writes
// Content; it must not exist.
type WriteFile struct {
	Root    string `json:"root,omitempty"`
	Target  string `json:"target"`
	Mode    uint32 `json:"mode"`
	Content string `json:"content,omitempty"`
}

// Symlink is symlink(LinkTo, Target) under Root.
type Symlink struct {
	Root   string `json:"root,omitempty"`
	Target string `json:"target"`
	LinkTo string `json:"linkTo"`
}

// Setattr is mount_setattr(Target, Attr) on one mount.
type Setattr struct {
	Target string    `json:"target"`
	Attr   AttrFlags `json:"attr"`
}

// Propagation is mount(NULL, Target, NULL, Flags): the propagation type
// (MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE, with MS_REC for the
// submounts too) of the mount at Target, once "/" is the sandbox's root,
// so that no path leads out of it. Every mount of the sandbox is a
// private copy of the host's or its own, so a shared one shares only
// with the sandbox's own mounts.
type Propagation struct {
	Target string     `json:"target"`
	Flags  MountFlags `json:"flags"`
}

// Sysctl writes Value to /proc/sys/ followed by Name with its dots made
// slashes: a kernel parameter of one of the sandbox's own namespaces
// (network, IPC or UTS), which the compiler checked.
type Sysctl struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Mknod is mknod(Target, Mode, makedev(Major, Minor)) under Root, then
// fchownat to UID and GID: a device node (Mode holds S_IFCHR, S_IFBLK or
// S_IFIFO) that the sandbox's /dev did not have. An existing node at
// Target is an error.
type Mknod struct {
	Root   string `json:"root,omitempty"`
	Target string `json:"target"`
	Mode   uint32 `json:"mode"`
	Major  uint32 `json:"major,omitempty"`
	Minor  uint32 `json:"minor,omitempty"`
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
}

// Setns is open(Path) and setns(fd, the CLONE_NEW* flag of Kind) on the
// parent's thread that clones init, so that init starts in that existing
// namespace (a pid namespace: as its child's); the thread returns to its
// own namespaces once init is started. For a mount namespace the thread
// first unshares its file system attributes (CLONE_FS), which setns
// requires.
type Setns struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
}

// Sethostname is sethostname(Hostname).
type Sethostname struct {
	Hostname string `json:"hostname"`
}

// Setdomainname is setdomainname(Domainname).
type Setdomainname struct {
	Domainname string `json:"domainname"`
}

// LinkUp is ioctl(SIOCSIFFLAGS, Interface, IFF_UP).
type LinkUp struct {
	Interface string `json:"interface"`
}

// SetDumpable is prctl(PR_SET_DUMPABLE, 0): init's memory and /proc/1
// files become inaccessible to the command.
type SetDumpable struct{}

// Subreaper is prctl(PR_SET_CHILD_SUBREAPER, 1), for a shared pid
// namespace where init is not pid 1.
type Subreaper struct{}

// SessionKeyring is keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): init (and
// so the command) leaves the caller's session keyring for a new anonymous
// one, so that keys the caller holds there are out of reach.
type SessionKeyring struct{}

// Umask is umask(Mask).
type Umask struct {
	Mask uint32 `json:"mask"`
}

// OOMScoreAdj writes Score to /proc/self/oom_score_adj; the command
// inherits it.
type OOMScoreAdj struct {
	Score int `json:"score"`
}

// SetRlimit is prlimit(0, Limit); the command inherits it.
type SetRlimit struct {
	Limit Rlimit `json:"limit"`
}

// CapBSetDrop is prctl(PR_CAPBSET_DROP) of every capability but Keep and
// the clearing of the ambient and inheritable sets, so the command cannot
// hold a capability even as uid 0.
type CapBSetDrop struct {
	Keep []uint32 `json:"keep,omitempty"`
}

// CapInheritable is capset of init's inheritable set to Caps, which the
// command inherits.
type CapInheritable struct {
	Caps []uint32 `json:"caps"`
}

// NoNewPrivs is prctl(PR_SET_NO_NEW_PRIVS, 1).
type NoNewPrivs struct{}

// Landlock is landlock_create_ruleset, landlock_add_rule for each rule
// and landlock_restrict_self on init's thread that forks the command,
// which inherits the domain. ABI is the kernel's Landlock version the
// rules were compiled for, Effective what they enforce there.
type Landlock struct {
	Rules     LandlockRules `json:"rules"`
	ABI       int           `json:"abi"`
	Effective string        `json:"effective"`
}

// Seccomp is seccomp(SECCOMP_SET_MODE_FILTER, Filter) on init's thread
// that forks the command, which inherits the filter. It comes last, so
// that the filter needs to allow only what is left to do. Summary
// explains the filter in the plan's line. Policy, the whole policy the
// filter was compiled from as text (cell plan --seccomp prints it), is
// not encoded: it explains and does not run, and decoding its kilobytes
// of text would cost init a third of a millisecond at every start.
type Seccomp struct {
	Filter  Program `json:"filter"`
	Summary string  `json:"summary"`
	Policy  string  `json:"-"`
}

// CloseFDs is close_range(3, ~0, CLOSE_RANGE_CLOEXEC) around the
// descriptors Keep, which the command inherits. In the parent it comes
// before the clone, so that no descriptor of the caller's but Keep
// reaches init; init then closes any descriptor it was started with that
// the plan does not name (its socket, ID-mapped trees, Keep).
type CloseFDs struct {
	Keep []uint32 `json:"keep,omitempty"`
}

// Setsid is setsid() in the command: a session of its own, without the
// caller's terminal as its controlling one.
type Setsid struct{}

// Setctty is ioctl(0, TIOCSCTTY): the pty cell made for the sandbox
// becomes the command's controlling terminal, for job control.
type Setctty struct{}

// Setgroups is setgroups(GIDs) in the command.
type Setgroups struct {
	GIDs []uint32 `json:"gids"`
}

// Setgid is setresgid(GID) in the command.
type Setgid struct {
	GID uint32 `json:"gid"`
}

// Setuid is setresuid(UID) in the command.
type Setuid struct {
	UID uint32 `json:"uid"`
}

// CgroupKill kills every process left in the cgroup Dir when the sandbox
// ends (cgroup.kill, or freeze and SIGKILL on v1).
type CgroupKill struct {
	Dir string `json:"dir"`
}

// CgroupRemove removes the cgroup directory Dir when the sandbox ends.
type CgroupRemove struct {
	Dir string `json:"dir"`
}

// Exec is execve of Path, looked up in the PATH of Env when it has no
// slash, with Args and Env.
type Exec struct {
	Path string   `json:"path"`
	Args []string `json:"args"`
	Env  []string `json:"env"`
}

// Require reads the file File, which must hold Value: a host setting that
// the sandbox's network depends on and cell does not change.
type Require struct {
	File  string `json:"file"`
	Value string `json:"value"`
}

// NetLease leases an address of Subnet on Bridge to the sandbox Sandbox,
// under a lock of the bridge's lease file; later steps write it as
// {lease}.
type NetLease struct {
	Bridge  string `json:"bridge"`
	Subnet  string `json:"subnet"`
	Sandbox string `json:"sandbox"`
}

// Bridge makes the bridge Name with the address Address, up, unless it
// exists (RTM_NEWLINK, RTM_NEWADDR).
type Bridge struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// Nft installs the nftables chain or rule Rule (NFT_MSG_NEWCHAIN,
// NFT_MSG_NEWRULE): on the host in the parent, in the sandbox's own
// network namespace in init.
type Nft struct {
	Rule NftRule `json:"rule"`
}

// Veth makes a veth pair: Host on the host, attached to Bridge, and
// Guest in init's network namespace (RTM_NEWLINK), and forgets the host's
// neighbour entry of the leased address, which an earlier sandbox may
// have left.
type Veth struct {
	Host   string `json:"host"`
	Bridge string `json:"bridge"`
	Guest  string `json:"guest"`
}

// UserNet starts the user-mode network helper Helper with Args for init's
// network namespace and waits until it is ready.
type UserNet struct {
	Helper string   `json:"helper"`
	Args   []string `json:"args"`
}

// UserNetPort forwards HostPort on the host to GuestPort in the sandbox
// (protocol Proto) through the user-mode network helper.
type UserNetPort struct {
	Proto     string `json:"proto"`
	HostPort  uint16 `json:"hostPort"`
	GuestPort uint16 `json:"guestPort"`
}

// AddrAdd gives Interface the address Address and brings it up.
type AddrAdd struct {
	Interface string `json:"interface"`
	Address   string `json:"address"`
}

// RouteAdd adds the default route via Gateway on Interface.
type RouteAdd struct {
	Interface string `json:"interface"`
	Gateway   string `json:"gateway"`
}

// NftDelete deletes the rules whose comment is Owner from the table
// Table ("FAMILY NAME") on the host, when the sandbox ends.
type NftDelete struct {
	Table string `json:"table"`
	Owner string `json:"owner"`
}

// LeaseRelease ends the lease of the sandbox Sandbox on Bridge.
type LeaseRelease struct {
	Bridge  string `json:"bridge"`
	Sandbox string `json:"sandbox"`
}

// UserNetStop stops the user-mode network helper.
type UserNetStop struct{}

// IDLease leases a slot of host IDs from the pool of Count IDs from
// First to the sandbox Sandbox, under a lock of the lease file File; the
// ID maps of later parent steps write its first ID as {ids}. The slot is
// picked when the sandbox starts.
type IDLease struct {
	File    string `json:"file"`
	First   uint32 `json:"first"`
	Count   uint32 `json:"count"`
	Sandbox string `json:"sandbox"`
}

// IDRelease ends the lease of the slot Slot (the placeholder {ids}) in
// the lease file File when the sandbox ends.
type IDRelease struct {
	File string `json:"file"`
	Slot string `json:"slot"`
}

// Console makes the command's terminal in the sandbox's own devpts, as
// runc and crun do with their console socket: open(Ptmx, O_RDWR|
// O_NOCTTY) of its pty multiplexer, ioctl(TIOCSPTLCK, 0), the slave
// /dev/pts/N by ioctl(TIOCGPTPEER), fchown of it to UID and GID (the
// command's), and sendmsg of the master to cell (SCM_RIGHTS), which
// copies between it and the caller's terminal. The slave becomes the
// command's descriptors 0, 1 and 2.
type Console struct {
	Ptmx string `json:"ptmx"`
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
}

// EgressProxy makes the sockets of the sandbox's egress proxy
// (Proxy.Listen) in init's network namespace, socket, bind and listen,
// and sends them to cell (SCM_RIGHTS), which serves them from outside the
// sandbox with the proxy process (internal/network/egress) and Proxy's
// rules.
type EgressProxy struct {
	Proxy Proxy `json:"proxy"`
}

// BindRootfs makes the sandbox's root directory, Path, a mount of cell's
// own in the host's mount namespace (a sandbox that shares it, whose
// command is then chrooted into Path): open(Path, O_PATH|O_DIRECTORY),
// refused when it is the host's "/" or cell's bind already (another
// sandbox's: a root directory serves one at a time), open_tree(OPEN_TREE_CLONE|
// AT_RECURSIVE), mount_setattr(propagation MS_PRIVATE, AT_RECURSIVE) and
// move_mount onto Path itself. Being private, the mounts cell then makes
// under Path do not propagate to the host's other mounts; being a mount
// that cell made, it is what UmountRootfs finds before it unmounts
// anything.
type BindRootfs struct {
	Path string `json:"path"`
}

// Chroot is chroot(Dir): the root directory of init, and of the command
// it forks, for a sandbox without a mount namespace of its own, where
// pivot_root would change the host's root. It is not a boundary for a
// process with CAP_SYS_CHROOT, which can chroot out of it.
type Chroot struct {
	Dir string `json:"dir"`
}

// UmountRootfs is, in the cleanup of a sandbox that shares the host's
// mount namespace, umount2(MNT_DETACH) of the mount at Target resolved
// inside Root (openat2 RESOLVE_IN_ROOT, so that no symlink leads out of
// Root), through its descriptor: one step for each mount cell made under
// the root directory, in the reverse of their order, and last the root
// directory's own bind (Target "/"). Nothing is unmounted unless Root is
// still the bind that BindRootfs made (a private bind of the directory
// onto itself); a target that is not a mount (a mount that was never
// made, or was undone) is skipped.
type UmountRootfs struct {
	Root   string `json:"root"`
	Target string `json:"target"`
}

func (*BindRootfs) Op() Op   { return OpBindRootfs }
func (*Chroot) Op() Op       { return OpChroot }
func (*UmountRootfs) Op() Op { return OpUmountRootfs }

func (a *BindRootfs) call(Side) string {
	return fmt.Sprintf("open_tree(%q, OPEN_TREE_CLONE|AT_RECURSIVE) mount_setattr(propagation=MS_PRIVATE, AT_RECURSIVE) move_mount(-> %q) unless it is \"/\" or cell's bind already", a.Path, a.Path)
}
func (a *Chroot) call(Side) string { return fmt.Sprintf("chroot(%q)", a.Dir) }
func (a *UmountRootfs) call(Side) string {
	return fmt.Sprintf("umount2(%q, MNT_DETACH) (resolved in %q, if it is a mount and %q is still cell's bind)", join(a.Root, a.Target), a.Root, a.Root)
}

func (*CgroupMkdir) Op() Op    { return OpCgroupMkdir }
func (*CgroupWrite) Op() Op    { return OpCgroupWrite }
func (*CgroupDevices) Op() Op  { return OpCgroupDevices }
func (*IDMappedTree) Op() Op   { return OpIDMapUserns }
func (*Clone) Op() Op          { return OpClone }
func (*CgroupJoin) Op() Op     { return OpCgroupJoin }
func (*WriteIDMap) Op() Op     { return OpWriteIDMap }
func (*NewIDMap) Op() Op       { return OpNewIDMap }
func (*Pdeathsig) Op() Op      { return OpPdeathsig }
func (*InitIDs) Op() Op        { return OpInitIDs }
func (*AmbientCaps) Op() Op    { return OpAmbientCaps }
func (*ExecInit) Op() Op       { return OpExecInit }
func (*Mount) Op() Op          { return OpMount }
func (*Chdir) Op() Op          { return OpChdir }
func (*Mkdir) Op() Op          { return OpMkdir }
func (*PivotRoot) Op() Op      { return OpPivotRoot }
func (*Umount) Op() Op         { return OpUmount }
func (*MountFS) Op() Op        { return OpMountFS }
func (*Bind) Op() Op           { return OpBind }
func (*AttachTree) Op() Op     { return OpAttachTree }
func (*WriteFile) Op() Op      { return OpWriteFile }
func (*Symlink) Op() Op        { return OpSymlink }
func (*Setattr) Op() Op        { return OpSetattr }
func (*Sethostname) Op() Op    { return OpSethostname }
func (*Setdomainname) Op() Op  { return OpSetdomainname }
func (*LinkUp) Op() Op         { return OpLinkUp }
func (*SetDumpable) Op() Op    { return OpSetDumpable }
func (*Subreaper) Op() Op      { return OpSubreaper }
func (*SessionKeyring) Op() Op { return OpSessionKeyring }
func (*Umask) Op() Op          { return OpUmask }
func (*OOMScoreAdj) Op() Op    { return OpOOMScoreAdj }
func (*Propagation) Op() Op    { return OpPropagation }
func (*Sysctl) Op() Op         { return OpSysctl }
func (*Mknod) Op() Op          { return OpMknod }
func (*Setns) Op() Op          { return OpSetns }
func (*SetRlimit) Op() Op      { return OpRlimit }
func (*CapBSetDrop) Op() Op    { return OpCapBSetDrop }
func (*CapInheritable) Op() Op { return OpCapInheritable }
func (*NoNewPrivs) Op() Op     { return OpNoNewPrivs }
func (*Landlock) Op() Op       { return OpLandlock }
func (*Seccomp) Op() Op        { return OpSeccomp }
func (*CloseFDs) Op() Op       { return OpCloseFDs }
func (*Setsid) Op() Op         { return OpSetsid }
func (*Setctty) Op() Op        { return OpSetctty }
func (*Setgroups) Op() Op      { return OpSetgroups }
func (*Setgid) Op() Op         { return OpSetgid }
func (*Setuid) Op() Op         { return OpSetuid }
func (*CgroupKill) Op() Op     { return OpCgroupKill }
func (*CgroupRemove) Op() Op   { return OpCgroupRemove }
func (*Exec) Op() Op           { return OpExec }
func (*Require) Op() Op        { return OpRequire }
func (*NetLease) Op() Op       { return OpNetLease }
func (*Bridge) Op() Op         { return OpBridge }
func (*Nft) Op() Op            { return OpNft }
func (*Veth) Op() Op           { return OpVeth }
func (*UserNet) Op() Op        { return OpUserNet }
func (*UserNetPort) Op() Op    { return OpUserNetPort }
func (*AddrAdd) Op() Op        { return OpAddrAdd }
func (*RouteAdd) Op() Op       { return OpRouteAdd }
func (*NftDelete) Op() Op      { return OpNftDelete }
func (*LeaseRelease) Op() Op   { return OpLeaseRelease }
func (*UserNetStop) Op() Op    { return OpUserNetStop }
func (*IDLease) Op() Op        { return OpIDLease }
func (*IDRelease) Op() Op      { return OpIDRelease }
func (*Console) Op() Op        { return OpConsole }
func (*DenySetgroups) Op() Op  { return OpDenySetgroups }
func (*EgressProxy) Op() Op    { return OpEgressProxy }

func (a *CgroupMkdir) call(Side) string { return fmt.Sprintf("mkdir(%q, 0755)", a.Dir) }
func (a *CgroupWrite) call(Side) string { return fmt.Sprintf("write(%q, %q)", a.File, a.Value) }

func (a *CgroupDevices) call(Side) string {
	rules := make([]string, len(a.Allow))
	for i, r := range a.Allow {
		rules[i] = r.String()
	}
	return fmt.Sprintf("bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE, allow only [%s]) bpf(BPF_PROG_ATTACH, %q, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)", strings.Join(rules, ", "), a.Dir)
}

func (a *IDMappedTree) call(Side) string {
	rec, open := recursive(a.Recursive)
	return fmt.Sprintf("clone(CLONE_NEWUSER) with uid_map %q gid_map %q; open_tree(%s, %s) mount_setattr(%s|MOUNT_ATTR_IDMAP%s) = fd %d in init%s%s",
		a.UIDMap, a.GIDMap, source(a.Source, a.NoSymlinks), open, a.Attr, rec, a.FD, condition(false, a.Optional), handBack(a.HandBack, a.KeepSymlinks, a.Source))
}

func (a *Clone) call(Side) string {
	if a.Cgroup != "" {
		return fmt.Sprintf("clone3(%s|CLONE_INTO_CGROUP, cgroup=%q, exit_signal=SIGCHLD) = INIT", a.Flags, a.Cgroup)
	}
	if a.Flags&unix.CLONE_NEWTIME != 0 {
		// CLONE_NEWTIME shares its bit with clone's exit signal.
		return fmt.Sprintf("clone3(%s, exit_signal=SIGCHLD) = INIT", a.Flags)
	}
	return fmt.Sprintf("clone(%s|SIGCHLD) = INIT", a.Flags)
}

func (a *CgroupJoin) call(Side) string { return fmt.Sprintf("write(%q, INIT)", a.Dir+"/cgroup.procs") }
func (a *WriteIDMap) call(Side) string {
	return fmt.Sprintf("write(\"/proc/INIT/%s\", %q)", a.File, a.Data)
}
func (*DenySetgroups) call(Side) string { return `write("/proc/INIT/setgroups", "deny")` }
func (a *NewIDMap) call(Side) string {
	return fmt.Sprintf("execve(%q, %s)", a.Helper, quoteList(append([]string{a.Helper, "INIT"}, a.Ranges...)))
}
func (a *Pdeathsig) call(Side) string {
	return fmt.Sprintf("prctl(PR_SET_PDEATHSIG, %s)", unix.SignalName(unix.Signal(a.Signal)))
}
func (a *InitIDs) call(Side) string {
	return fmt.Sprintf("setresgid(%d, %d, %d) setresuid(%d, %d, %d)", a.GID, a.GID, a.GID, a.UID, a.UID, a.UID)
}
func (a *AmbientCaps) call(side Side) string {
	if side == Command {
		return fmt.Sprintf("capset(inheritable+=%s) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, %s)", capNames(a.Caps), capNames(a.Caps))
	}
	return fmt.Sprintf("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, %s)", capNames(a.Caps))
}
func (a *ExecInit) call(Side) string { return fmt.Sprintf("execve(%q, %s)", a.Path, quoteList(a.Args)) }
func (a *Mount) call(Side) string {
	return fmt.Sprintf("mount(%s, %q, %s, %s, %s)", quoteOrNull(a.Source), a.Target, quoteOrNull(a.FSType), a.Flags, quoteOrNull(a.Data))
}
func (a *Chdir) call(Side) string { return fmt.Sprintf("chdir(%q)", a.Dir) }
func (a *Mkdir) call(Side) string {
	return fmt.Sprintf("mkdir(%q, %04o)%s", join(a.Root, a.Path), a.Mode, handBack(a.HandBack != "", a.KeepSymlinks, a.HandBack))
}
func (a *PivotRoot) call(Side) string { return fmt.Sprintf("pivot_root(%q, %q)", a.NewRoot, a.PutOld) }
func (a *Umount) call(Side) string    { return fmt.Sprintf("umount2(%q, %s)", a.Target, a.Flags) }
func (a *MountFS) call(Side) string {
	lowers := ""
	if a.NoSymlinks {
		lowers = " (lowerdir each opened with openat2 RESOLVE_NO_SYMLINKS and given as its descriptor)"
	}
	return fmt.Sprintf("fsopen(%q) fsconfig(%s)%s fsmount(%s) move_mount(-> %q)%s",
		a.FSType, strings.Join(a.Config(), ", "), lowers, a.Attr, join(a.Root, a.Target), condition(a.Existing, a.Optional))
}

// Config is what fsconfig is given, in order: the source, then Options.
func (a *MountFS) Config() []string {
	if a.Source == "" {
		return a.Options
	}
	return append([]string{"source=" + a.Source}, a.Options...)
}

func (a *Bind) call(Side) string {
	rec, open := recursive(a.Recursive)
	return fmt.Sprintf("open_tree(%s, %s) mount_setattr(%s%s) move_mount(-> %q)%s%s",
		source(join(a.SourceRoot, a.Source), a.NoSymlinks), open, a.Attr, rec, join(a.Root, a.Target),
		condition(a.Existing, a.Optional), handBack(a.HandBack, a.KeepSymlinks, a.Source))
}
func (a *AttachTree) call(Side) string {
	return fmt.Sprintf("move_mount(fd %d -> %q)%s", a.FD, join(a.Root, a.Target), condition(false, a.Optional))
}
func (a *WriteFile) call(Side) string {
	return fmt.Sprintf("open(%q, O_CREAT|O_EXCL|O_WRONLY, %04o) write(%s)", join(a.Root, a.Target), a.Mode, shorten(a.Content))
}
func (a *Symlink) call(Side) string {
	return fmt.Sprintf("symlink(%q, %q)", a.LinkTo, join(a.Root, a.Target))
}
func (a *Setattr) call(Side) string       { return fmt.Sprintf("mount_setattr(%q, %s)", a.Target, a.Attr) }
func (a *Sethostname) call(Side) string   { return fmt.Sprintf("sethostname(%q)", a.Hostname) }
func (a *Setdomainname) call(Side) string { return fmt.Sprintf("setdomainname(%q)", a.Domainname) }
func (a *LinkUp) call(Side) string {
	return fmt.Sprintf("ioctl(SIOCSIFFLAGS, %q, IFF_UP)", a.Interface)
}
func (*SetDumpable) call(Side) string    { return "prctl(PR_SET_DUMPABLE, 0)" }
func (*Subreaper) call(Side) string      { return "prctl(PR_SET_CHILD_SUBREAPER, 1)" }
func (*SessionKeyring) call(Side) string { return "keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)" }
func (a *Umask) call(Side) string        { return fmt.Sprintf("umask(%04o)", a.Mask) }
func (a *OOMScoreAdj) call(Side) string {
	return fmt.Sprintf("write(\"/proc/self/oom_score_adj\", %q)", strconv.Itoa(a.Score))
}
func (a *SetRlimit) call(Side) string { return a.Limit.Call() }
func (a *Propagation) call(Side) string {
	return fmt.Sprintf("mount(NULL, %q, NULL, %s)", a.Target, a.Flags)
}
func (a *Setns) call(Side) string {
	pre := ""
	if a.Kind == "mount" {
		pre = "unshare(CLONE_FS) "
	}
	return fmt.Sprintf("%sopen(%q) setns(fd, %s) on the thread that clones init", pre, a.Path, nsFlagName(a.Kind))
}

// nsFlagName is the CLONE_NEW* flag of a namespace kind.
func nsFlagName(kind string) string {
	switch kind {
	case "mount":
		return "CLONE_NEWNS"
	case "pid":
		return "CLONE_NEWPID"
	case "net":
		return "CLONE_NEWNET"
	case "uts":
		return "CLONE_NEWUTS"
	case "ipc":
		return "CLONE_NEWIPC"
	case "cgroup":
		return "CLONE_NEWCGROUP"
	}
	return "unknown namespace " + strconv.Quote(kind)
}

func (a *Sysctl) call(Side) string {
	return fmt.Sprintf("write(%q, %q)", "/proc/sys/"+strings.ReplaceAll(a.Name, ".", "/"), a.Value)
}
func (a *Mknod) call(Side) string {
	kind := map[uint32]string{unix.S_IFCHR: "S_IFCHR", unix.S_IFBLK: "S_IFBLK", unix.S_IFIFO: "S_IFIFO"}[a.Mode&unix.S_IFMT]
	return fmt.Sprintf("mknod(%q, %s|%04o, makedev(%d, %d)) fchownat(%d, %d)", join(a.Root, a.Target), kind, a.Mode&0o7777, a.Major, a.Minor, a.UID, a.GID)
}
func (a *CapBSetDrop) call(Side) string {
	if len(a.Keep) > 0 {
		return fmt.Sprintf("prctl(PR_CAPBSET_DROP, every capability but %s) prctl(PR_CAP_AMBIENT_CLEAR_ALL) capset(inheritable=0)", capNames(a.Keep))
	}
	return "prctl(PR_CAPBSET_DROP, every capability) prctl(PR_CAP_AMBIENT_CLEAR_ALL) capset(inheritable=0)"
}
func (a *CapInheritable) call(Side) string {
	return fmt.Sprintf("capset(inheritable=%s)", capNames(a.Caps))
}
func (*NoNewPrivs) call(Side) string { return "prctl(PR_SET_NO_NEW_PRIVS, 1)" }
func (a *Landlock) call(Side) string { return fmt.Sprintf("landlock_restrict_self(%s)", a.Effective) }
func (a *Seccomp) call(Side) string {
	return fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, %d instructions: %s)", len(a.Filter), a.Summary)
}
func (a *CloseFDs) call(side Side) string {
	call := "close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)"
	if len(a.Keep) > 0 {
		call = fmt.Sprintf("close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) keeping %v", a.Keep)
	}
	if side == Parent {
		return call + " in cell; init closes every other descriptor it did not get from the plan"
	}
	return call
}
func (*Setsid) call(Side) string       { return "setsid()" }
func (*Setctty) call(Side) string      { return "ioctl(0, TIOCSCTTY, 0)" }
func (a *Setgroups) call(Side) string  { return fmt.Sprintf("setgroups(%v)", a.GIDs) }
func (a *Setgid) call(Side) string     { return fmt.Sprintf("setresgid(%d, %d, %d)", a.GID, a.GID, a.GID) }
func (a *Setuid) call(Side) string     { return fmt.Sprintf("setresuid(%d, %d, %d)", a.UID, a.UID, a.UID) }
func (a *CgroupKill) call(Side) string { return fmt.Sprintf("kill every process in %q", a.Dir) }
func (a *CgroupRemove) call(Side) string {
	return fmt.Sprintf("rmdir(%q)", a.Dir)
}
func (a *Exec) call(Side) string {
	name := "execve"
	if !strings.Contains(a.Path, "/") {
		name = "execvpe"
	}
	return fmt.Sprintf("%s(%q, %s, %s)", name, a.Path, quoteList(a.Args), quoteList(a.Env))
}
func (a *Require) call(Side) string { return fmt.Sprintf("read(%q) == %q", a.File, a.Value) }
func (a *NetLease) call(Side) string {
	return fmt.Sprintf("flock(leases of %q) lease(%s, %q) = {lease}", a.Bridge, a.Subnet, a.Sandbox)
}
func (a *Bridge) call(Side) string {
	return fmt.Sprintf("RTM_NEWLINK(%q, type bridge) RTM_NEWADDR(%q, %s) unless it exists", a.Name, a.Name, a.Address)
}
func (a *Nft) call(Side) string { return "nft " + a.Rule.String() }
func (a *Veth) call(Side) string {
	return fmt.Sprintf("RTM_NEWLINK(%q, type veth, master %q, peer %q in INIT's netns) RTM_DELNEIGH({lease} on %q)", a.Host, a.Bridge, a.Guest, a.Bridge)
}
func (a *UserNet) call(Side) string {
	return fmt.Sprintf("execve(%q, %s) and wait for ready", a.Helper, quoteList(append([]string{a.Helper}, a.Args...)))
}
func (a *UserNetPort) call(Side) string {
	return fmt.Sprintf("add_hostfwd(%s, 0.0.0.0:%d -> %d)", a.Proto, a.HostPort, a.GuestPort)
}
func (a *AddrAdd) call(Side) string {
	return fmt.Sprintf("RTM_NEWADDR(%q, %s) RTM_NEWLINK(%q, IFF_UP)", a.Interface, a.Address, a.Interface)
}
func (a *RouteAdd) call(Side) string {
	return fmt.Sprintf("RTM_NEWROUTE(default via %s dev %q)", a.Gateway, a.Interface)
}
func (a *NftDelete) call(Side) string {
	return fmt.Sprintf("nft delete rules of %s with comment %q", a.Table, a.Owner)
}
func (a *LeaseRelease) call(Side) string {
	return fmt.Sprintf("flock(leases of %q) release(%q)", a.Bridge, a.Sandbox)
}
func (*UserNetStop) call(Side) string { return "close(exit fd) of the user-mode network helper, wait" }
func (a *IDLease) call(Side) string {
	return fmt.Sprintf("flock(%q) lease(a slot of %d IDs of %d-%d, %q) = {ids}, picked at run time",
		a.File, idSlot, a.First, uint64(a.First)+uint64(a.Count)-1, a.Sandbox)
}
func (a *IDRelease) call(Side) string { return fmt.Sprintf("flock(%q) release(%s)", a.File, a.Slot) }
func (a *Console) call(Side) string {
	return fmt.Sprintf("open(%q) ioctl(TIOCSPTLCK, 0) ioctl(TIOCGPTPEER) fchown(slave, %d, %d) sendmsg(cell, SCM_RIGHTS master) slave -> fds 0, 1, 2", a.Ptmx, a.UID, a.GID)
}
func (a *EgressProxy) call(Side) string { return a.Proxy.Summary() }

// IDMaps returns the ID maps a parent step writes, which may name the
// leased IDs {ids}: nil for a step that writes none.
func IDMaps(a Action) []string {
	switch a := a.(type) {
	case *WriteIDMap:
		return []string{a.Data}
	case *NewIDMap:
		return a.Ranges
	case *IDMappedTree:
		return []string{a.UIDMap, a.GIDMap}
	}
	return nil
}

func recursive(r bool) (rec, open string) {
	if r {
		return ", AT_RECURSIVE", "OPEN_TREE_CLONE|AT_RECURSIVE"
	}
	return "", "OPEN_TREE_CLONE"
}

// condition prints when a mount is skipped.
func condition(existing, optional bool) string {
	switch {
	case existing && optional:
		return " if both exist"
	case optional:
		return " if it exists"
	case existing:
		return " onto the existing target"
	}
	return ""
}

func join(root, p string) string {
	if root == "" || root == "/" {
		return p
	}
	if p == "/" {
		return root
	}
	return root + p
}

// idSlot is the size of a leased slot of IDs (internal/ids.SlotSize,
// which plan cannot import: plan imports no concern package).
const idSlot = 65536

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

// handBack says what cell does with a hand-back's source after the
// sandbox.
func handBack(on, keepSymlinks bool, source string) string {
	switch {
	case !on:
		return ""
	case keepSymlinks:
		return "; after the sandbox: set-ID bits cleared in " + source
	}
	return "; after the sandbox: set-ID bits cleared and symlinks removed in " + source
}

// source is a bind's source as its open_tree takes it: the path, or the
// descriptor of the path resolved without following symlinks.
func source(p string, noSymlinks bool) string {
	if noSymlinks {
		return fmt.Sprintf("openat2(%q, RESOLVE_NO_SYMLINKS)", p)
	}
	return fmt.Sprintf("%q", p)
}
