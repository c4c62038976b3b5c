package spec

// APIVersion is the only profile format version this package reads.
const APIVersion = "cell/v1"

// Profile is a decoded, expanded and validated sandbox profile. The zero
// values of its fields are the secure defaults: every namespace new, no
// network, a read-only view of nothing.
type Profile struct {
	// APIVersion is the format's version; it must be APIVersion.
	APIVersion string `yaml:"apiVersion" json:"apiVersion" validate:"required,apiversion"`
	// Name names the profile: 1 to 63 of [a-z0-9._-], starting with a
	// letter or digit.
	Name string `yaml:"name" json:"name" validate:"required,profilename"`
	// Description says what the sandbox is for.
	Description string `yaml:"description" json:"description,omitempty"`
	// Extends names the parent profiles merged under this one, in order:
	// built-in names or paths relative to this file (compose.go).
	Extends Parents `yaml:"extends" json:"extends,omitempty"`
	// Namespaces, IDs, Filesystem, Process and Network are the profile's
	// sections; their types say what each holds.
	Namespaces Namespaces `yaml:"namespaces" json:"namespaces"`
	IDs        IDs        `yaml:"ids" json:"ids"`
	// Hostname and Domainname are set in the new UTS namespace; they need
	// Namespaces.UTS to be New.
	Hostname   string     `yaml:"hostname" json:"hostname,omitempty" validate:"omitempty,hostname_rfc1123,max=64"`
	Domainname string     `yaml:"domainname" json:"domainname,omitempty" validate:"omitempty,hostname_rfc1123,max=64"`
	Filesystem Filesystem `yaml:"filesystem" json:"filesystem"`
	Process    Process    `yaml:"process" json:"process"`
	Network    Network    `yaml:"network" json:"network"`
	// Resources are the cgroup limits; any limit gives the sandbox a cgroup.
	Resources Resources `yaml:"resources" json:"resources"`
	// Security holds capabilities, no_new_privs, seccomp, landlock and
	// rlimits.
	Security Security `yaml:"security" json:"security"`
	// Sysctl sets kernel parameters of the sandbox's own namespaces, by
	// name (net.ipv4.ip_forward): net.* needs namespaces.net new, the IPC
	// ones (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)
	// namespaces.ipc new. A parameter of the whole host is refused.
	Sysctl map[string]string `yaml:"sysctl" json:"sysctl,omitempty" validate:"dive,keys,sysctlname,endkeys,nonul"`

	// File is the name the profile was read from; every Pos refers to it
	// (or to a --set override, which carries its own pseudo file name).
	File string `yaml:"-" json:"-"`
	// positions maps a field path ("filesystem.mounts[2].target") to where
	// its value was written.
	positions map[string]Pos
	// keys maps the field path of a mapping entry to where its key was
	// written, including entries whose value is null.
	keys map[string]Pos
}

// Namespaces says, for each kind of namespace, whether the sandbox gets a new
// one or shares the host's. Absent fields mean New.
type Namespaces struct {
	User   Share `yaml:"user" json:"user"`
	Mount  Share `yaml:"mount" json:"mount"`
	PID    Share `yaml:"pid" json:"pid"`
	Net    Share `yaml:"net" json:"net"`
	UTS    Share `yaml:"uts" json:"uts"`
	IPC    Share `yaml:"ipc" json:"ipc"`
	Cgroup Share `yaml:"cgroup" json:"cgroup"`
	Time   Share `yaml:"time" json:"time"`
	// Join names existing namespaces (/proc/PID/ns/net, /run/netns/x)
	// that the sandbox enters instead of making new ones: init is
	// started in them. A joined kind must be new (the default), not the
	// host's; its setup (mounts, hostname, loopback) is done in the
	// joined namespace. A user namespace cannot be joined.
	Join JoinPaths `yaml:"join" json:"join"`
}

// JoinPaths are the paths of the namespaces a sandbox joins, by kind.
type JoinPaths struct {
	Mount  string `yaml:"mount" json:"mount,omitempty" validate:"omitempty,abspath"`
	PID    string `yaml:"pid" json:"pid,omitempty" validate:"omitempty,abspath"`
	Net    string `yaml:"net" json:"net,omitempty" validate:"omitempty,abspath"`
	UTS    string `yaml:"uts" json:"uts,omitempty" validate:"omitempty,abspath"`
	IPC    string `yaml:"ipc" json:"ipc,omitempty" validate:"omitempty,abspath"`
	Cgroup string `yaml:"cgroup" json:"cgroup,omitempty" validate:"omitempty,abspath"`
}

// Kinds returns the joined kinds with their paths, in clone-flag order:
// mount, pid, net, uts, ipc, cgroup.
func (j JoinPaths) Kinds() [][2]string {
	var out [][2]string
	for _, k := range [][2]string{{"mount", j.Mount}, {"pid", j.PID}, {"net", j.Net}, {"uts", j.UTS}, {"ipc", j.IPC}, {"cgroup", j.Cgroup}} {
		if k[1] != "" {
			out = append(out, k)
		}
	}
	return out
}

// IDs describes the user namespace's ID maps and the credentials the
// command runs with inside it.
type IDs struct {
	// UIDMap and GIDMap are written to /proc/PID/{uid,gid}_map. Empty means
	// one range mapping the inside UID (GID) to the caller's.
	UIDMap []IDRange `yaml:"uidMap" json:"uidMap,omitempty" validate:"max=340,dive"`
	GIDMap []IDRange `yaml:"gidMap" json:"gidMap,omitempty" validate:"max=340,dive"`
	// UID and GID are the command's IDs inside the sandbox (default 0).
	UID uint32 `yaml:"uid" json:"uid"`
	GID uint32 `yaml:"gid" json:"gid"`
	// Groups are the supplementary groups inside; each must be mapped.
	Groups []uint32 `yaml:"groups" json:"groups,omitempty"`
	// SetGroups is the user namespace's setgroups policy: allow lets the
	// command's processes change their supplementary groups, deny forbids
	// it for good (so a group can never be dropped to gain access that
	// a negative ACL denies). Default: allow when the maps permit, which
	// an unprivileged caller mapping only its own IDs does not.
	SetGroups SetGroups `yaml:"setgroups" json:"setgroups,omitempty"`
}

// Picks reports whether a range of the maps says outside: pick.
func (ids *IDs) Picks() bool {
	for _, r := range append(append([]IDRange{}, ids.UIDMap...), ids.GIDMap...) {
		if r.Outside.Picked() {
			return true
		}
	}
	return false
}

// IDRange maps Count consecutive IDs starting at Inside to IDs starting at
// Outside in the parent user namespace.
type IDRange struct {
	// Inside is the first ID of the range in the sandbox.
	Inside uint32 `yaml:"inside" json:"inside"`
	// Outside is the first ID of the range in the parent namespace.
	Outside HostID `yaml:"outside" json:"outside"`
	// Count is the number of IDs, at least 1; neither end may pass
	// 4294967295.
	Count uint32 `yaml:"count" json:"count" validate:"required,min=1"`
}

// Filesystem describes the sandbox's root: a fresh tmpfs into which Mounts
// are made in order.
type Filesystem struct {
	// Root is the tmpfs that becomes "/".
	Root Root `yaml:"root" json:"root"`
	// Mounts are made in order inside Root.
	Mounts []Mount `yaml:"mounts" json:"mounts,omitempty" validate:"dive"`
}

// Root configures the tmpfs that becomes the sandbox's "/", or names the
// host directory that does.
type Root struct {
	// Path is a host directory bound (with its submounts) as "/" instead
	// of a tmpfs, as an OCI bundle's rootfs is: writes reach the host
	// directory unless ReadOnly is set. Size and Mode do not apply to it.
	// With namespaces.mount: host (an OCI bundle without a mount
	// namespace) the command is chrooted into it instead, and Mounts are
	// made under it in the host's mount namespace, then unmounted when
	// the sandbox ends; a chroot is no boundary against CAP_SYS_CHROOT.
	Path string `yaml:"path" json:"path,omitempty" validate:"omitempty,abspath"`
	// Size caps the root tmpfs; zero means the kernel default.
	Size Size `yaml:"size" json:"size,omitempty"`
	// Mode is the permission of "/" (default 0755).
	Mode *FileMode `yaml:"mode" json:"mode,omitempty" validate:"omitempty,max=07777"`
	// ReadOnly remounts "/" read-only once every mount is made. Mounts
	// under it keep their own access mode.
	ReadOnly bool `yaml:"readOnly" json:"readOnly,omitempty"`
	// Propagation is the propagation type of "/" once it is the root
	// (default private), among the sandbox's own mounts only.
	Propagation Propagation `yaml:"propagation" json:"propagation,omitempty"`
}

// Mount is one entry of filesystem.mounts. Which fields apply depends on
// Type; validation rejects a field that does not apply.
type Mount struct {
	// Type is the kind of mount; it decides which other fields apply.
	Type MountType `yaml:"type" json:"type" validate:"required"`
	// Target is the absolute path in the sandbox. Targets are unique, not
	// "/", and listed parents first.
	Target string `yaml:"target" json:"target" validate:"required,abspath"`
	// Source is the host path of a bind mount.
	Source string `yaml:"source" json:"source,omitempty" validate:"omitempty,abspath"`
	// Device is what the mount table shows as the source of a tmpfs,
	// proc, sysfs or mqueue mount (mount(8)'s device); default the
	// type's name.
	Device string `yaml:"device" json:"device,omitempty" validate:"omitempty,nonul"`
	// Writable makes a bind mount read-write; binds are read-only unless
	// it is set. A tmpfs is always writable and takes no such field.
	Writable bool `yaml:"writable" json:"writable,omitempty"`
	// Recursive binds the submounts of Source too (default true). Read-only
	// applies to every submount.
	Recursive *bool `yaml:"recursive" json:"recursive,omitempty"`
	// Optional skips a bind whose source does not exist.
	Optional bool `yaml:"optional" json:"optional,omitempty"`
	// NoExec forbids executing files from the mount.
	NoExec bool `yaml:"noexec" json:"noexec,omitempty"`
	// Size caps a tmpfs.
	Size Size `yaml:"size" json:"size,omitempty"`
	// Mode is the permission of a tmpfs root, dir or file.
	Mode *FileMode `yaml:"mode" json:"mode,omitempty" validate:"omitempty,max=07777"`
	// Content is the text of a file.
	Content string `yaml:"content" json:"content,omitempty"`
	// LinkTo is where a symlink points.
	LinkTo string `yaml:"linkTo" json:"linkTo,omitempty" validate:"nonul"`
	// Unmasked turns off a proc mount's hardening: kcore, keys and the
	// like covered, sys and sysrq-trigger read-only.
	Unmasked bool `yaml:"unmasked" json:"unmasked,omitempty"`
	// Lower are the read-only host directories of an overlay, topmost
	// first.
	Lower []string `yaml:"lower" json:"lower,omitempty" validate:"max=32,dive,abspath"`
	// FollowSymlinks lets a bind's source or an overlay's lower
	// directories resolve through symlinks where cell would refuse them:
	// in a writable bind's source, and in a source or lower directory
	// under the working directory (a sandbox may have planted them there).
	FollowSymlinks bool `yaml:"followSymlinks" json:"followSymlinks,omitempty"`
	// HandBack marks a writable bind as where the sandbox hands its
	// outputs back to the caller: what the command's user makes there is
	// the caller's on the host (ID-mapped when the sandbox's user is
	// another host ID, which needs root), and after the sandbox, set-ID
	// bits are cleared and symlinks removed, and the run fails if there
	// were any.
	HandBack bool `yaml:"handBack" json:"handBack,omitempty"`
	// KeepSymlinks lets the symlinks the command left in a hand-back bind
	// stay.
	KeepSymlinks bool `yaml:"keepSymlinks" json:"keepSymlinks,omitempty"`
	// IDMap makes a bind ID-mapped: files that the host has owned by an
	// outside ID appear inside as owned by the inside ID, and files made
	// inside get the outside ID on the host. Needs root.
	IDMap *IDMap `yaml:"idmap" json:"idmap,omitempty"`
	// Propagation is the mount's propagation type (default private),
	// among the sandbox's own mounts only: a bind or tmpfs that is
	// shared, slave or unbindable.
	Propagation Propagation `yaml:"propagation" json:"propagation,omitempty"`
	// Devices are device nodes made in a dev mount, beside its null,
	// zero, full, random, urandom and tty.
	Devices []Device `yaml:"devices" json:"devices,omitempty" validate:"dive"`
}

// Device is a device node (or FIFO) that a dev mount makes.
type Device struct {
	// Path is the node's absolute path in the sandbox, under the dev
	// mount's target.
	Path string `yaml:"path" json:"path" validate:"required,abspath"`
	// Type is c (character), b (block) or p (FIFO).
	Type DeviceType `yaml:"type" json:"type" validate:"required"`
	// Major and Minor are the device number (not for p).
	Major uint32 `yaml:"major" json:"major,omitempty"`
	Minor uint32 `yaml:"minor" json:"minor,omitempty"`
	// Mode is the node's permission (default 0666).
	Mode *FileMode `yaml:"mode" json:"mode,omitempty" validate:"omitempty,max=0777"`
	// UID and GID own the node (default 0), as the sandbox sees them.
	UID uint32 `yaml:"uid" json:"uid,omitempty"`
	GID uint32 `yaml:"gid" json:"gid,omitempty"`
}

// IDMap maps the IDs of an ID-mapped bind mount: Outside is the owner on
// the host's file system, Inside the owner the sandbox sees.
type IDMap struct {
	UID []IDRange `yaml:"uid" json:"uid,omitempty" validate:"max=340,dive"`
	GID []IDRange `yaml:"gid" json:"gid,omitempty" validate:"max=340,dive"`
}

// IsRecursive reports whether a bind includes submounts.
func (m *Mount) IsRecursive() bool { return m.Recursive == nil || *m.Recursive }

// Process describes the command's execution environment.
type Process struct {
	// Args is the command run when none is given on the command line.
	Args []string `yaml:"args" json:"args,omitempty" validate:"dive,nonul"`
	// Env sets variables; the environment is otherwise empty.
	Env map[string]string `yaml:"env" json:"env,omitempty" validate:"dive,keys,envname,endkeys,nonul"`
	// PassEnv names variables copied from the caller when set there.
	PassEnv []string `yaml:"passEnv" json:"passEnv,omitempty" validate:"dive,envname"`
	// Cwd is the working directory inside (default "/").
	Cwd string `yaml:"cwd" json:"cwd,omitempty" validate:"omitempty,abspath"`
	// Umask is the file mode creation mask (default 0022).
	Umask *FileMode `yaml:"umask" json:"umask,omitempty" validate:"omitempty,max=0777"`
	// InheritFDs are descriptors of the caller, beyond 0, 1 and 2, that the
	// command receives at the same numbers.
	InheritFDs []int `yaml:"inheritFds" json:"inheritFds,omitempty" validate:"dive,min=3,max=1023"`
	// NewSession runs the command in a session of its own (setsid), so it
	// cannot push keystrokes into the caller's terminal (TIOCSTI); absent
	// means true.
	NewSession *bool `yaml:"newSession" json:"newSession,omitempty"`
}

// IsNewSession reports whether the command gets a session of its own.
func (p *Process) IsNewSession() bool { return p.NewSession == nil || *p.NewSession }
