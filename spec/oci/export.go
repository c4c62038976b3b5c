package oci

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cellsandbox/cell/spec"
)

// Version is the runtime-spec version an exported config.json claims:
// the lowest that has every field Export writes. crun 1.8 (Debian 12)
// refuses any version but 1.0.x, yet makes the time namespace and sets
// the umask, which later versions name.
const Version = "1.0.2"

// ExportOptions are the inputs of Export besides the profile.
type ExportOptions struct {
	// UID and GID are the caller's, which a profile's default ID maps
	// map the inside IDs to.
	UID, GID uint32
	// Args is the command; empty means the profile's process.args.
	Args []string
	// Exists reports whether a host path exists, for optional binds;
	// nil means every path exists.
	Exists func(path string) bool
}

// Exported is a bundle made from a profile.
type Exported struct {
	// Spec is config.json's content; its root is "rootfs".
	Spec *specs.Spec
	// Rootfs are the directories, files and symlinks that the profile's
	// dir, file and symlink mounts make, to be created in the bundle's
	// rootfs (which the runtime does not write), parents first.
	Rootfs []Entry
	// RootMode is the permission of the rootfs directory.
	RootMode uint32
	// Losses are what config.json cannot express, each at the profile
	// value that asked for it. A caller writes the bundle with losses
	// only when told to.
	Losses []Loss
}

// Entry is a file system object of a profile's dir, file or symlink
// mount, at Path inside the rootfs.
type Entry struct {
	Type    spec.MountType
	Path    string
	Mode    uint32
	Content string
	LinkTo  string
}

// Loss is a part of a profile that config.json cannot express.
type Loss struct {
	Pos  spec.Pos
	Path string
	What string
}

// String prints "file:line:col: path: what".
func (l Loss) String() string { return l.Pos.String() + ": " + l.Path + ": " + l.What }

// exporter holds one export's state.
type exporter struct {
	p   *spec.Profile
	out *Exported
}

func (e *exporter) lose(p, format string, args ...any) {
	e.out.Losses = append(e.out.Losses, Loss{Pos: e.p.At(p), Path: p, What: fmt.Sprintf(format, args...)})
}

// Export makes the bundle of p. An error means no bundle can be made at
// all (no mount namespace, ID maps decided only when cell runs); what a
// bundle cannot hold is listed in Losses instead.
func Export(p *spec.Profile, o ExportOptions) (*Exported, error) {
	if p.Namespaces.Mount == spec.Host {
		// A bundle without a mount namespace has its rootfs and mounts
		// made on the host by whatever runtime runs it, which cell's
		// export does not hand to another runtime.
		return nil, fmt.Errorf("export %s: namespaces.mount is host: cell exports only a sandbox with a mount namespace of its own (a bundle without one has its mounts made on the host by the runtime that runs it)", p.Name)
	}
	if p.IDs.Picks() {
		return nil, fmt.Errorf("export %s: ids: outside: pick leases IDs when cell runs; config.json needs them written", p.Name)
	}
	for _, r := range append(slices.Clone(p.IDs.UIDMap), p.IDs.GIDMap...) {
		if r.Outside.Subordinate() {
			return nil, fmt.Errorf("export %s: ids: outside: subuid/subgid is resolved when cell runs; config.json needs the IDs written", p.Name)
		}
	}
	args := o.Args
	if len(args) == 0 {
		args = p.Process.Args
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("export %s: no command: the profile has no process.args and none was given", p.Name)
	}
	exists := o.Exists
	if exists == nil {
		exists = func(string) bool { return true }
	}
	e := &exporter{p: p, out: &Exported{RootMode: 0o755}}
	s := &specs.Spec{
		Version:    Version,
		Root:       &specs.Root{Path: "rootfs", Readonly: p.Filesystem.Root.ReadOnly},
		Hostname:   p.Hostname,
		Domainname: p.Domainname,
		Linux:      &specs.Linux{},
	}
	e.out.Spec = s
	e.root()
	e.process(s, args)
	e.namespaces(s, o)
	e.mounts(s, exists)
	e.resources(s)
	e.network()
	if len(p.Sysctl) > 0 {
		s.Linux.Sysctl = maps.Clone(p.Sysctl)
	}
	if pr := p.Filesystem.Root.Propagation; pr != spec.PropagationDefault {
		s.Linux.RootfsPropagation = pr.String()
	}
	sec := &p.Security
	if sec.Landlock.Mode != spec.LandlockOff {
		e.lose("security.landlock", "config.json has no landlock rules: the command is not restricted by them")
	}
	if sec.Seccomp.Mode == spec.SeccompDefault {
		e.lose("security.seccomp", "cell's default seccomp filter (and its rules) is not exported: the bundle runs without a filter")
	}
	if sec.GuardsSetID() && slices.ContainsFunc(p.Filesystem.Mounts, func(m spec.Mount) bool { return m.Writable && m.Type == spec.MountBind }) {
		e.lose("security.setIDGuard", "config.json has no set-ID guard: where cell would keep the command from leaving set-ID or file-capability programs in its writable binds, the bundle does not")
	}
	return e.out, nil
}

func (e *exporter) root() {
	r := e.p.Filesystem.Root
	if r.Path != "" {
		e.out.Spec.Root.Path = r.Path
		return
	}
	if r.Size != 0 {
		e.lose("filesystem.root.size", "the root is the bundle's rootfs directory, which has no size limit")
	}
	if r.Mode != nil {
		e.out.RootMode = uint32(*r.Mode)
	}
	if !r.ReadOnly {
		e.lose("filesystem.root", "the root is the bundle's rootfs directory, not a tmpfs: what the command writes to / stays there")
	}
}

func (e *exporter) process(s *specs.Spec, args []string) {
	p := e.p
	proc := &specs.Process{
		Args:            args,
		Cwd:             cmpOr(p.Process.Cwd, "/"),
		User:            specs.User{UID: p.IDs.UID, GID: p.IDs.GID, AdditionalGids: p.IDs.Groups},
		NoNewPrivileges: p.Security.NoNewPrivs(),
		OOMScoreAdj:     p.Security.OOMScoreAdj,
	}
	if p.Process.Umask != nil {
		u := uint32(*p.Process.Umask)
		proc.User.Umask = &u
	}
	keys := make([]string, 0, len(p.Process.Env))
	for k := range p.Process.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		proc.Env = append(proc.Env, k+"="+p.Process.Env[k])
	}
	c := &p.Security.Capabilities
	names := func(l []spec.Capability) []string {
		out := []string{}
		for _, n := range l {
			out = append(out, string(n))
		}
		return out
	}
	proc.Capabilities = &specs.LinuxCapabilities{
		Bounding: names(c.Bounding), Effective: names(c.Effective), Inheritable: names(c.Inheritable),
		Permitted: names(c.Permitted), Ambient: names(c.Ambient),
	}
	if c.Sets && p.IDs.UID == 0 {
		// cell derives permitted and effective from bounding for root.
		proc.Capabilities.Permitted, proc.Capabilities.Effective = names(c.Bounding), names(c.Bounding)
	} else if c.Sets {
		proc.Capabilities.Permitted, proc.Capabilities.Effective = names(c.Ambient), names(c.Ambient)
	}
	rl := make([]string, 0, len(p.Security.Rlimits))
	for n := range p.Security.Rlimits {
		rl = append(rl, n)
	}
	slices.Sort(rl)
	for _, n := range rl {
		r := p.Security.Rlimits[n]
		v := func(x spec.RlimitValue) uint64 {
			if x.Unlimited {
				return ^uint64(0)
			}
			return x.Value
		}
		proc.Rlimits = append(proc.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(n), Soft: v(r.Soft), Hard: v(r.Hard)})
	}
	if len(p.Process.PassEnv) > 0 {
		e.lose("process.passEnv", "config.json cannot copy variables from the caller: %s not passed", strings.Join(p.Process.PassEnv, ", "))
	}
	if len(p.Process.InheritFDs) > 0 {
		e.lose("process.inheritFds", "config.json cannot pass descriptors beyond 0, 1 and 2")
	}
	if !p.Process.IsNewSession() {
		e.lose("process.newSession", "OCI runtimes always give the command a session of its own")
	}
	s.Process = proc
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// nsTypes are the runtime spec's names of the profile's namespaces.
var nsTypes = []struct {
	typ specs.LinuxNamespaceType
	get func(n *spec.Namespaces) spec.Share
}{
	{specs.UserNamespace, func(n *spec.Namespaces) spec.Share { return n.User }},
	{specs.MountNamespace, func(n *spec.Namespaces) spec.Share { return n.Mount }},
	{specs.PIDNamespace, func(n *spec.Namespaces) spec.Share { return n.PID }},
	{specs.NetworkNamespace, func(n *spec.Namespaces) spec.Share { return n.Net }},
	{specs.UTSNamespace, func(n *spec.Namespaces) spec.Share { return n.UTS }},
	{specs.IPCNamespace, func(n *spec.Namespaces) spec.Share { return n.IPC }},
	{specs.CgroupNamespace, func(n *spec.Namespaces) spec.Share { return n.Cgroup }},
	{specs.TimeNamespace, func(n *spec.Namespaces) spec.Share { return n.Time }},
}

func (e *exporter) namespaces(s *specs.Spec, o ExportOptions) {
	p := e.p
	joined := map[specs.LinuxNamespaceType]string{
		specs.MountNamespace: p.Namespaces.Join.Mount, specs.PIDNamespace: p.Namespaces.Join.PID,
		specs.NetworkNamespace: p.Namespaces.Join.Net, specs.UTSNamespace: p.Namespaces.Join.UTS,
		specs.IPCNamespace: p.Namespaces.Join.IPC, specs.CgroupNamespace: p.Namespaces.Join.Cgroup,
	}
	for _, n := range nsTypes {
		if n.get(&p.Namespaces) == spec.New {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: n.typ, Path: joined[n.typ]})
		}
	}
	if p.Namespaces.User != spec.New {
		return
	}
	maps := func(rs []spec.IDRange, inside, outside uint32) []specs.LinuxIDMapping {
		if len(rs) == 0 {
			// cell's default: the inside ID is the caller's.
			return []specs.LinuxIDMapping{{ContainerID: inside, HostID: outside, Size: 1}}
		}
		var out []specs.LinuxIDMapping
		for _, r := range rs {
			out = append(out, specs.LinuxIDMapping{ContainerID: r.Inside, HostID: uint32(r.Outside), Size: r.Count})
		}
		return out
	}
	s.Linux.UIDMappings = maps(p.IDs.UIDMap, p.IDs.UID, o.UID)
	s.Linux.GIDMappings = maps(p.IDs.GIDMap, p.IDs.GID, o.GID)
	if p.IDs.SetGroups != spec.SetGroupsDefault {
		e.lose("ids.setgroups", "config.json has no setgroups policy: the runtime decides")
	}
}

// procHardening are the masked and read-only paths under /proc of cell's
// hardened proc mount (see internal/compile).
func procHardening(target string) (masked, ro []string) {
	for _, f := range procMasked {
		masked = append(masked, path.Join(target, f))
	}
	for _, f := range procReadOnly {
		ro = append(ro, path.Join(target, f))
	}
	return masked, ro
}

func (e *exporter) mounts(s *specs.Spec, exists func(string) bool) {
	for i, m := range e.p.Filesystem.Mounts {
		at := fmt.Sprintf("filesystem.mounts[%d]", i)
		// The cases not named share the default.
		//exhaustive:ignore
		switch m.Type {
		case spec.MountBind:
			if m.IDMap != nil {
				e.lose(at+".idmap", "ID-mapped binds are not exported: %s is bound without the map", m.Target)
			}
			if m.Optional && !exists(m.Source) {
				continue // as cell would skip it on this host
			}
			opts := []string{"rbind"}
			if !m.IsRecursive() {
				opts[0] = "bind"
			}
			if m.Writable {
				opts = append(opts, "rw")
			} else {
				opts = append(opts, "ro")
			}
			opts = append(opts, "nosuid", "nodev")
			if m.NoExec {
				opts = append(opts, "noexec")
			}
			if m.Propagation != spec.PropagationDefault {
				opts = append(opts, m.Propagation.String())
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Target, Type: "bind", Source: m.Source, Options: opts})
		case spec.MountTmpfs:
			opts := []string{"nosuid", "nodev"}
			if m.NoExec {
				opts = append(opts, "noexec")
			}
			mode := spec.FileMode(0o755)
			if m.Mode != nil {
				mode = *m.Mode
			}
			opts = append(opts, "mode="+mode.String())
			if m.Size != 0 {
				opts = append(opts, fmt.Sprintf("size=%d", uint64(m.Size)))
			}
			if m.Propagation != spec.PropagationDefault {
				opts = append(opts, m.Propagation.String())
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Target, Type: "tmpfs", Source: "tmpfs", Options: opts})
		case spec.MountProc:
			s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Target, Type: "proc", Source: "proc", Options: []string{"nosuid", "nodev", "noexec"}})
			if !m.Unmasked {
				masked, ro := procHardening(m.Target)
				s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, masked...)
				s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, ro...)
			}
		case spec.MountDev:
			// The runtime fills a tmpfs at /dev with the default devices;
			// elsewhere it would be an empty tmpfs.
			if m.Target != "/dev" {
				e.lose(at+".target", "OCI runtimes make their devices in /dev only: %s is an empty tmpfs", m.Target)
			}
			for _, d := range m.Devices {
				mode := os.FileMode(0o666)
				if d.Mode != nil {
					mode = os.FileMode(*d.Mode)
				}
				uid, gid := d.UID, d.GID
				s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: d.Path, Type: d.Type.String(),
					Major: int64(d.Major), Minor: int64(d.Minor), FileMode: &mode, UID: &uid, GID: &gid})
			}
			s.Mounts = append(s.Mounts,
				specs.Mount{Destination: m.Target, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "noexec", "strictatime", "mode=755", "size=65536k"}},
				specs.Mount{Destination: path.Join(m.Target, "pts"), Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
				specs.Mount{Destination: path.Join(m.Target, "shm"), Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "nodev", "mode=1777"}},
			)
		case spec.MountDir, spec.MountFile, spec.MountSymlink:
			mode := uint32(0o755)
			if m.Type == spec.MountFile {
				mode = 0o644
			}
			if m.Mode != nil {
				mode = uint32(*m.Mode)
			}
			e.out.Rootfs = append(e.out.Rootfs, Entry{Type: m.Type, Path: m.Target, Mode: mode, Content: m.Content, LinkTo: m.LinkTo})
			if e.p.Filesystem.Root.Path != "" {
				e.lose(at, "the root is a host directory, which export does not write into: %s is not made", m.Target)
			}
		case spec.MountSysfs:
			s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Target, Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "nodev", "noexec", "ro"}})
		case spec.MountMqueue:
			s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Target, Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "nodev", "noexec"}})
		case spec.MountCgroup:
			s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Target, Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "nodev", "noexec", "ro"}})
		case spec.MountOverlay:
			e.lose(at, "config.json has no overlay of host directories with a throw-away upper layer: %s is not mounted", m.Target)
		default:
			e.lose(at, "mount type %s is not exported", m.Type)
		}
	}
}

func (e *exporter) resources(s *specs.Spec) {
	r := &e.p.Resources
	if !r.Any() {
		return
	}
	res := &specs.LinuxResources{}
	if len(r.Devices) > 0 {
		// cell's device cgroup: every device denied, then the rules, then
		// the nodes the profile makes (the runtime adds its /dev's).
		res.Devices = append(res.Devices, specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"})
		for _, d := range r.Devices {
			rule := specs.LinuxDeviceCgroup{Allow: true, Type: d.Type.String(), Access: d.Access}
			if d.Major != nil {
				x := int64(*d.Major)
				rule.Major = &x
			}
			if d.Minor != nil {
				x := int64(*d.Minor)
				rule.Minor = &x
			}
			res.Devices = append(res.Devices, rule)
		}
		for _, m := range e.p.Filesystem.Mounts {
			for _, d := range m.Devices {
				if d.Type == spec.DeviceChar || d.Type == spec.DeviceBlock {
					major, minor := int64(d.Major), int64(d.Minor)
					res.Devices = append(res.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type.String(), Major: &major, Minor: &minor, Access: "rwm"})
				}
			}
		}
	}
	limit := func(l *spec.Limit) *int64 {
		v := int64(-1)
		if !l.Max {
			v = int64(l.Value)
		}
		return &v
	}
	if m := &r.Memory; m.Max != nil || m.Swap != nil {
		res.Memory = &specs.LinuxMemory{}
		if m.Max != nil {
			res.Memory.Limit = limit(m.Max)
		}
		switch {
		case m.Swap == nil:
		case m.Swap.Max:
			res.Memory.Swap = limit(m.Swap)
		case m.Max == nil || m.Max.Max:
			e.lose("resources.memory.swap", "config.json's swap limit is memory plus swap, which needs a memory limit")
		default:
			v := int64(m.Max.Value + m.Swap.Value)
			res.Memory.Swap = &v
		}
	}
	if r.Memory.High != nil {
		e.lose("resources.memory.high", "config.json has no memory.high (its reservation is memory.low)")
	}
	if r.Memory.OOMGroup {
		e.lose("resources.memory.oomGroup", "config.json has no memory.oom.group")
	}
	if r.Pids.Max != nil {
		res.Pids = &specs.LinuxPids{Limit: *limit(r.Pids.Max)}
	}
	if c := &r.CPU; c.Max != nil || c.Weight != 0 || c.Shares != 0 || c.Cpus != "" || c.Mems != "" {
		res.CPU = &specs.LinuxCPU{Cpus: c.Cpus, Mems: c.Mems}
		if c.Max != nil {
			q, per := int64(-1), uint64(100000)
			if c.Period != 0 {
				per = c.Period
			}
			if !c.Max.Max {
				q = int64(c.Max.Millis * per / 1000)
			}
			res.CPU.Quota, res.CPU.Period = &q, &per
		}
		if c.Weight != 0 {
			// The inverse of runc's shares-to-weight conversion.
			sh := 2 + (c.Weight-1)*262142/9999
			res.CPU.Shares = &sh
		}
		if c.Shares != 0 {
			sh := c.Shares
			res.CPU.Shares = &sh
		}
	}
	if r.IO.Weight != 0 {
		w := uint16(10 + (r.IO.Weight-1)*990/9999)
		res.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	if len(r.IO.Devices) > 0 {
		e.lose("resources.io.devices", "config.json names throttled devices by major:minor, not path: not exported")
	}
	// Page sizes smallest first, interfaces by name: the same profile
	// exports the same config.json.
	for _, size := range r.HugePageSizes() {
		l := r.HugeTLB[size]
		v := l.Value
		if l.Max {
			v = math.MaxUint64 // beyond the kernel's counter: no limit
		}
		res.HugepageLimits = append(res.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: size, Limit: v})
	}
	if n := &r.Net; n.ClassID != 0 || len(n.Priorities) > 0 {
		res.Network = &specs.LinuxNetwork{}
		if n.ClassID != 0 {
			id := n.ClassID
			res.Network.ClassID = &id
		}
		for _, name := range slices.Sorted(maps.Keys(n.Priorities)) {
			res.Network.Priorities = append(res.Network.Priorities, specs.LinuxInterfacePriority{Name: name, Priority: n.Priorities[name]})
		}
	}
	s.Linux.Resources = res
}

func (e *exporter) network() {
	n := &e.p.Network
	switch n.Mode {
	case spec.NetNone, spec.NetHost:
	case spec.NetBridge, spec.NetUser:
		e.lose("network.mode", "config.json has no %s network: the bundle has a network namespace with loopback only", n.Mode)
	}
	if len(n.Ports) > 0 {
		e.lose("network.ports", "config.json cannot publish ports")
	}
	if len(n.DNS) > 0 {
		e.lose("network.dns", "config.json does not write resolv.conf")
	}
	switch {
	case n.Egress.HasDomains():
		e.lose("network.egress", "config.json has no egress rules, and its domain rules need cell's proxy and name server, which another runtime does not run")
	case len(n.Egress.Allow) > 0 || n.Egress.Default != spec.EgressAllow:
		e.lose("network.egress", "config.json has no egress rules")
	}
}
