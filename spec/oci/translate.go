package oci

import (
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/cellsandbox/cell/spec"
)

// translate turns the config.json object top into a profile node tree.
func (c *conv) translate(top *yaml.Node, name string) *yaml.Node {
	out := object(top)
	c.put(out, "apiVersion", str(top, spec.APIVersion), "")
	c.put(out, "name", str(top, name), "")
	f := c.fields(top, "")

	if v, ok := f["ociVersion"]; !ok {
		c.errorf(top, "ociVersion", "is required")
	} else if s, ok := c.str(v, "ociVersion"); ok && !strings.HasPrefix(s, "1.") {
		c.errorf(v, "ociVersion", "must be a 1.x version of the runtime spec, not %q", s)
	}
	why := map[string]string{
		"hooks":   "cell does not run OCI hooks (cell-oci, the OCI runtime, does)",
		"solaris": "is for Solaris; cell runs Linux sandboxes",
		"windows": "is for Windows; cell runs Linux sandboxes",
		"vm":      "is for virtual-machine runtimes; cell runs Linux sandboxes",
		"zos":     "is for z/OS; cell runs Linux sandboxes",
	}
	if c.runtime {
		delete(why, "hooks")
	}
	c.refuse(f, "", why)
	for _, k := range []string{"hostname", "domainname"} {
		if v := f[k]; v != nil && !isNull(v) {
			if s, ok := c.str(v, k); ok && s != "" {
				c.put(out, k, str(v, s), k)
			}
		}
	}
	lin := c.fields(f["linux"], "linux")
	c.namespaces(out, top, f["linux"], lin)
	c.root(out, top, f["root"])
	c.process(out, top, f["process"])
	proc, extra := c.masked(lin)
	list := c.mounts(out, f["mounts"], proc)
	c.maskMounts(out, list, extra)
	c.devices(list, lin["devices"])
	if f["linux"] != nil {
		c.linux(out, f["linux"], lin)
	}
	if !given(lin["seccomp"]) {
		// No seccomp object: the runtime spec installs no filter.
		c.put(out, "security.seccomp.mode", str(top, "unconfined"), "linux.seccomp")
	}
	return out
}

// nsKinds maps the runtime spec's namespace types to the profile's keys.
var nsKinds = []struct{ oci, cell string }{
	{"user", "user"}, {"mount", "mount"}, {"pid", "pid"}, {"network", "net"},
	{"uts", "uts"}, {"ipc", "ipc"}, {"cgroup", "cgroup"}, {"time", "time"},
}

// namespaces translates linux.namespaces. A kind absent from the list is
// the host's, and so is the network, whose mode follows.
func (c *conv) namespaces(out, top, linNode *yaml.Node, lin map[string]*yaml.Node) {
	at := top
	if linNode != nil {
		at = linNode
	}
	list := lin["namespaces"]
	if list != nil {
		at = list
	}
	got := map[string]*yaml.Node{}
	for i, n := range c.items(list, "linux.namespaces") {
		p := index("linux.namespaces", i)
		e := c.fields(n, p)
		t, kind, ok := c.requiredStr(n, e, p, "type")
		if !ok {
			continue
		}
		j := slices.IndexFunc(nsKinds, func(k struct{ oci, cell string }) bool { return k.oci == kind })
		if j < 0 {
			c.errorf(t, p+".type", "unknown namespace type %q (types: user, mount, pid, network, uts, ipc, cgroup, time)", kind)
			continue
		}
		if first, dup := got[kind]; dup {
			c.errorf(t, p+".type", "namespace %s is listed twice (first at %d:%d)", kind, first.Line, first.Column)
			continue
		}
		got[kind] = t
		if v := e["path"]; v != nil && given(v) {
			if s, ok := c.str(v, p+".path"); ok && s != "" {
				if c.runtime && kind != "mount" && kind != "user" && kind != "time" && ownNamespace(s, kind) {
					// Joining the runtime's own namespace is sharing
					// the host's: containerd's CRI plugin gives a
					// host-network pod's containers the path of its
					// sandbox's network and uts namespaces, which are
					// the node's. cell shares the host's as such: it
					// makes no setup of its own in it, and what would
					// (a net sysctl, say) is refused as for any
					// config that shares it. Its own mount namespace
					// stays a join, which cell refuses (pivot_root
					// would move the host's processes), and so do
					// user and time ones, which cell never joins.
					delete(got, kind)
					continue
				}
				if kind == "user" || kind == "time" {
					c.errorf(v, p+".path", "cell cannot join an existing %s namespace (it joins mount, pid, network, uts, ipc and cgroup ones)", kind)
				} else {
					cell := nsKinds[j].cell
					c.put(out, "namespaces.join."+cell, str(v, s), p+".path")
				}
			}
		}
	}
	for _, k := range nsKinds {
		share, pos := "host", at
		if t, ok := got[k.oci]; ok {
			share, pos = "new", t
		}
		c.put(out, "namespaces."+k.cell, str(pos, share), "linux.namespaces")
	}
	if t, ok := got["network"]; ok {
		c.put(out, "network.mode", str(t, "none"), "linux.namespaces")
	} else {
		c.put(out, "network.mode", str(at, "host"), "linux.namespaces")
	}
}

// ownNamespace reports whether path is the namespace of the runtime
// spec's kind that the calling thread is in (the same nsfs inode).
func ownNamespace(path, kind string) bool {
	name := map[string]string{"mount": "mnt", "network": "net"}[kind]
	if name == "" {
		name = kind
	}
	var a, b unix.Stat_t
	if unix.Stat(path, &a) != nil || unix.Stat("/proc/thread-self/ns/"+name, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// root translates root: a rootfs path relative to the bundle.
func (c *conv) root(out, top, n *yaml.Node) {
	if n == nil {
		c.errorf(top, "root", "is required: cell needs the bundle's rootfs")
		return
	}
	f := c.fields(n, "root")
	if f == nil {
		if n.Kind == yaml.MappingNode || isNull(n) {
			c.errorf(n, "root.path", "is required")
		}
		return
	}
	if v, ok := f["path"]; !ok {
		c.errorf(n, "root.path", "is required")
	} else if s, ok := c.str(v, "root.path"); ok {
		if s == "" {
			c.errorf(v, "root.path", "must not be empty")
		} else {
			if !filepath.IsAbs(s) {
				s = filepath.Join(c.dir, s)
			}
			c.rootfs = filepath.Clean(s)
			c.put(out, "filesystem.root.path", str(v, c.rootfs), "root.path")
			// A runtime reads what is there: a symlink would be
			// followed from init's staging root (an absolute one to
			// an empty directory), and runc follows it on the host;
			// either way not the directory the config names.
			if c.runtime {
				if mode, err := c.lstat(c.rootfs); err != nil {
					c.errorf(v, "root.path", "%v", err)
				} else if mode&os.ModeSymlink != 0 {
					c.errorf(v, "root.path", "%s is a symbolic link: name the directory itself", c.rootfs)
				} else if !mode.IsDir() {
					c.errorf(v, "root.path", "%s is not a directory", c.rootfs)
				}
			}
		}
	}
	if v, ok := f["readonly"]; ok && !isNull(v) {
		if b, ok := c.boolean(v, "root.readonly"); ok && b {
			c.put(out, "filesystem.root.readOnly", flag(v, true), "root.readonly")
		}
	}
}

// rlimitNames maps RLIMIT_* to the profile's names.
func rlimitName(s string) (string, bool) {
	n, ok := strings.CutPrefix(s, "RLIMIT_")
	n = strings.ToLower(n)
	return n, ok && slices.Contains(spec.RlimitNames, n)
}

// process translates process.
func (c *conv) process(out, top, n *yaml.Node) {
	if n == nil || isNull(n) {
		return
	}
	f := c.fields(n, "process")
	if f == nil {
		return
	}
	c.refuse(f, "process", map[string]string{
		"apparmorProfile": "cell does not apply AppArmor profiles",
		"selinuxLabel":    "cell does not apply SELinux labels",
		"ioPriority":      "cell does not set I/O priorities",
		"scheduler":       "cell does not set a scheduling policy",
		"execCPUAffinity": "cell does not set CPU affinity",
		"commandLine":     "is for Windows",
	})
	// terminal and consoleSize concern how the caller wires stdio, which
	// cell run decides from its own terminal; they change no isolation.
	if v := f["args"]; v != nil {
		args := array(v)
		for i, a := range c.items(v, "process.args") {
			if s, ok := c.str(a, index("process.args", i)); ok {
				args.Content = append(args.Content, str(a, s))
			}
		}
		if len(args.Content) > 0 {
			c.put(out, "process.args", args, "process.args")
		}
	}
	if v := f["env"]; v != nil {
		env := object(v)
		for i, e := range c.items(v, "process.env") {
			p := index("process.env", i)
			s, ok := c.str(e, p)
			if !ok {
				continue
			}
			k, val, ok := strings.Cut(s, "=")
			if !ok {
				c.errorf(e, p, "must be NAME=VALUE, not %q", s)
				continue
			}
			set(env, k, str(e, val))
		}
		if len(env.Content) > 0 {
			c.put(out, "process.env", env, "process.env")
		}
	}
	if v := f["cwd"]; v != nil {
		if s, ok := c.str(v, "process.cwd"); ok {
			c.put(out, "process.cwd", str(v, s), "process.cwd")
		}
	}
	c.user(out, f["user"])
	if v := f["capabilities"]; v != nil && !isNull(v) {
		caps := object(v)
		cf := c.fields(v, "process.capabilities")
		named := map[string][]string{}
		for _, set1 := range []string{"bounding", "effective", "inheritable", "permitted", "ambient"} {
			l := cf[set1]
			p := "process.capabilities." + set1
			list := array(v)
			if l != nil {
				list = array(l)
			}
			for i, e := range c.items(l, p) {
				s, ok := c.str(e, index(p, i))
				if !ok {
					continue
				}
				if set1 == "ambient" && (!slices.Contains(named["inheritable"], s) || !slices.Contains(named["permitted"], s)) {
					// The kernel raises an ambient capability only
					// within the inheritable and permitted sets; the
					// runtime spec asks a runtime to warn, not fail, on
					// one it cannot grant (runc spec's and crun spec's
					// configs list ambient ones without inheritable).
					// Leaving it out grants less, never more.
					c.warnings = append(c.warnings, fmt.Sprintf("%s:%d:%d: %s: %s is not in the inheritable and permitted sets, so the kernel cannot raise it: left out",
						c.file, e.Line, e.Column, index(p, i), s))
					continue
				}
				named[set1] = append(named[set1], s)
				list.Content = append(list.Content, str(e, s))
			}
			set(caps, set1, list)
		}
		c.put(out, "security.capabilities", caps, "process.capabilities")
	}
	if v := f["rlimits"]; v != nil {
		rl := object(v)
		for i, e := range c.items(v, "process.rlimits") {
			p := index("process.rlimits", i)
			r := c.fields(e, p)
			if r == nil {
				continue
			}
			t, ts, ok := c.requiredStr(e, r, p, "type")
			if !ok {
				continue
			}
			name, ok := rlimitName(ts)
			if !ok {
				c.errorf(t, p+".type", "unknown rlimit %q", ts)
				continue
			}
			lim := object(e)
			for _, k := range []string{"soft", "hard"} {
				v, ok := r[k]
				if !ok {
					c.errorf(e, p+"."+k, "is required")
					continue
				}
				if u, ok := c.unsigned(v, p+"."+k); ok {
					if u == 1<<64-1 {
						set(lim, k, str(v, "unlimited"))
					} else {
						set(lim, k, unum(v, u))
					}
				}
			}
			if len(lim.Content) == 4 {
				set(rl, name, lim)
			}
		}
		if len(rl.Content) > 0 {
			c.put(out, "security.rlimits", rl, "process.rlimits")
		}
	}
	// The runtime spec's default is off, cell's on: say it either way.
	nnp, at := false, n
	if v := f["noNewPrivileges"]; v != nil && !isNull(v) {
		at = v
		if b, ok := c.boolean(v, "process.noNewPrivileges"); ok {
			nnp = b
		}
	}
	c.put(out, "security.noNewPrivileges", flag(at, nnp), "process.noNewPrivileges")
	// The runtime spec gives the process exactly the filter and the
	// capabilities the config lists: no set-ID guard on top, which
	// would also refuse an engine's default capabilities (CAP_SETFCAP)
	// beside any writable volume. Said at the process, which keeps them.
	c.put(out, "security.setIDGuard", flag(n, false), "process")
	if v := f["oomScoreAdj"]; v != nil && !isNull(v) {
		if i, ok := c.integer(v, "process.oomScoreAdj", -1000, 1000); ok {
			c.put(out, "security.oomScoreAdj", num(v, i), "process.oomScoreAdj")
		}
	}
}

// user translates process.user.
func (c *conv) user(out, n *yaml.Node) {
	f := c.fields(n, "process.user")
	if f == nil {
		return
	}
	c.refuse(f, "process.user", map[string]string{"username": "is for Windows; give uid and gid"})
	for _, k := range []struct{ oci, cell string }{{"uid", "ids.uid"}, {"gid", "ids.gid"}} {
		if v, ok := f[k.oci]; ok {
			if i, ok := c.integer(v, "process.user."+k.oci, 0, 1<<32-1); ok {
				c.put(out, k.cell, num(v, i), "process.user."+k.oci)
			}
		}
	}
	if v := f["umask"]; v != nil && !isNull(v) {
		if i, ok := c.integer(v, "process.user.umask", 0, 0o777); ok {
			c.put(out, "process.umask", str(v, fmt.Sprintf("%04o", i)), "process.user.umask")
		}
	}
	if v := f["additionalGids"]; v != nil {
		gs := array(v)
		for i, g := range c.items(v, "process.user.additionalGids") {
			if id, ok := c.integer(g, index("process.user.additionalGids", i), 0, 1<<32-1); ok {
				gs.Content = append(gs.Content, num(g, id))
			}
		}
		if len(gs.Content) > 0 {
			c.put(out, "ids.groups", gs, "process.user.additionalGids")
		}
	}
}

// mounts translates mounts.
func (c *conv) mounts(out, n *yaml.Node, masked bool) *yaml.Node {
	if n == nil {
		return nil
	}
	list := array(n)
	devAt := ""
	items := c.items(n, "mounts")
	covered := coveredMounts(items)
	for i, e := range items {
		p := index("mounts", i)
		if j, ok := covered[i]; ok {
			// A runtime mounts in order, so a later mount on the same
			// destination hides this one whole (containerd's CRI
			// plugin binds the pod's /dev/shm over the default
			// spec's tmpfs): what nothing in the container can
			// reach is not made.
			c.warnings = append(c.warnings, fmt.Sprintf("%s:%d:%d: %s: %s mounts on the same destination after it, so it is hidden: not mounted",
				c.file, e.Line, e.Column, p, index("mounts", j)))
			continue
		}
		f := c.fields(e, p)
		if f == nil {
			continue
		}
		m := c.mount(e, p, f, masked, &devAt)
		if m != nil {
			c.paths[index("filesystem.mounts", len(list.Content))] = p
			list.Content = append(list.Content, m)
		}
	}
	if len(list.Content) > 0 {
		c.put(out, "filesystem.mounts", list, "mounts")
	}
	return list
}

// coveredMounts returns, for each entry of mounts that a later entry on
// the same destination hides whole, the index of the first such entry.
// An entry is hidden only if no entry between the two mounts below the
// destination (the later one would hide that too, and the earlier one
// would be seen by it, as a source of a bind, say): such lists stay as
// they are, and cell refuses the repeated target.
func coveredMounts(items []*yaml.Node) map[int]int {
	dests := make([]string, len(items))
	for i, e := range items {
		if e.Kind != yaml.MappingNode {
			continue
		}
		for k := 0; k+1 < len(e.Content); k += 2 {
			if e.Content[k].Value == "destination" && e.Content[k+1].Kind == yaml.ScalarNode && e.Content[k+1].ShortTag() == "!!str" && path.IsAbs(e.Content[k+1].Value) {
				dests[i] = path.Clean(e.Content[k+1].Value)
			}
		}
	}
	covered := map[int]int{}
	for i, d := range dests {
		if d == "" || d == "/" {
			continue
		}
		for j := i + 1; j < len(dests); j++ {
			if dests[j] == d {
				covered[i] = j
				break
			}
			if dests[j] != "" && strings.HasPrefix(dests[j], d+"/") {
				break
			}
		}
	}
	return covered
}

// mount translates one entry of mounts; nil means it adds no mount of its
// own (an error, or what another mount already makes). masked says
// whether linux.maskedPaths asks for /proc's masks. devAt is the
// target of the /dev that cell makes, once one is seen.
func (c *conv) mount(e *yaml.Node, p string, f map[string]*yaml.Node, masked bool, devAt *string) *yaml.Node {
	d, dest, ok := c.requiredStr(e, f, p, "destination")
	if !ok {
		return nil
	}
	typ := ""
	if v := f["type"]; v != nil && !isNull(v) {
		if typ, ok = c.str(v, p+".type"); !ok {
			return nil
		}
	}
	src := ""
	if v := f["source"]; v != nil && !isNull(v) {
		if src, ok = c.str(v, p+".source"); !ok {
			return nil
		}
	}
	var opts []string
	var optNodes []*yaml.Node
	for i, o := range c.items(f["options"], p+".options") {
		if s, ok := c.str(o, index(p+".options", i)); ok {
			opts = append(opts, s)
			optNodes = append(optNodes, o)
		}
	}
	for _, k := range []string{"uidMappings", "gidMappings"} {
		if v := f[k]; given(v) {
			c.errorf(v, p+"."+k, "ID-mapped OCI mounts are not supported; cell's are filesystem.mounts[].idmap")
		}
	}
	optPath := func(i int) string { return index(p+".options", i) }
	m := object(e)
	set(m, "target", str(d, dest))
	// The source of a filesystem mount is only the name the mount table
	// shows.
	device := func() {
		if src != "" && src != typ {
			set(m, "device", str(f["source"], src))
		}
	}
	bind := typ == "bind" || slices.Contains(opts, "bind") || slices.Contains(opts, "rbind")
	switch {
	case bind:
		set(m, "type", str(e, "bind"))
		if src == "" {
			c.errorf(e, p+".source", "is required for a bind mount")
			return nil
		}
		if !filepath.IsAbs(src) {
			src = filepath.Join(c.dir, src)
		}
		set(m, "source", str(f["source"], filepath.Clean(src)))
		rec, writable, noexec := false, true, false
		for i, o := range opts {
			k, _, _ := strings.Cut(o, "=")
			switch {
			case o == "rbind":
				rec = true
			case o == "bind":
			case o == "ro":
				writable = false
			case o == "rw":
				writable = true
			case o == "noexec":
				noexec = true
			case o == "exec":
				noexec = false
			case c.propagation(m, optNodes[i], o):
			case slices.Contains(bindFlagOptions, o):
				// cell's binds are always nosuid and nodev; access
				// times change no isolation.
			case k == "size" || k == "mode":
				// A file system's options, which mount(2) ignores
				// with MS_BIND (runc and crun pass them to it): a
				// bind has no size or mode to set.
			default:
				c.errorf(optNodes[i], optPath(i), "cell cannot apply bind option %q (it applies ro, rw, noexec, exec, bind, rbind and the propagation types; binds are always nosuid and nodev)", o)
			}
		}
		set(m, "recursive", flag(e, rec))
		if writable {
			set(m, "writable", flag(e, true))
		}
		if noexec {
			set(m, "noexec", flag(e, true))
		}
		return m
	case typ == "tmpfs" && dest == "/dev":
		// The runtime spec's /dev: a tmpfs the runtime fills with the
		// default devices, which is what cell's dev mount is.
		*devAt = dest
		set(m, "type", str(e, "dev"))
		c.tmpfsOptions(opts, optNodes, optPath, nil)
		return m
	case typ == "tmpfs":
		set(m, "type", str(e, "tmpfs"))
		device()
		c.tmpfsOptions(opts, optNodes, optPath, m)
		return m
	case typ == "proc":
		set(m, "type", str(e, "proc"))
		device()
		if !masked {
			set(m, "unmasked", flag(e, true))
		}
		c.plainOptions(opts, optNodes, optPath, "proc")
		return m
	case typ == "sysfs":
		set(m, "type", str(e, "sysfs"))
		device()
		c.readOnlyOptions(e, p, opts, optNodes, optPath, "sysfs", "its sysfs", "cell mounts sysfs read-only only")
		return m
	case typ == "cgroup" || typ == "cgroup2":
		// The container's own cgroups, as runtimes show them; cell
		// binds its leaves (see the profile's cgroup mount).
		set(m, "type", str(e, "cgroup"))
		c.readOnlyOptions(e, p, opts, optNodes, optPath, "cgroup", "its cgroup mount",
			"cell mounts cgroups read-only only (a container that could write its own cgroup could raise its limits)")
		return m
	case typ == "mqueue":
		set(m, "type", str(e, "mqueue"))
		device()
		c.plainOptions(opts, optNodes, optPath, "mqueue")
		return m
	case typ == "devpts":
		if *devAt == "" || dest != *devAt+"/pts" {
			c.errorf(d, p+".destination", "cell mounts devpts only as /dev/pts of its /dev (a tmpfs at /dev listed before it)")
		}
		return nil // cell's dev mount makes it
	case typ == "":
		c.errorf(e, p+".type", "is required unless options say bind or rbind")
		return nil
	}
	c.errorf(f["type"], p+".type", "cell cannot mount %s (it mounts bind, tmpfs, proc, sysfs, mqueue, cgroup, and devpts within its /dev)", typ)
	return nil
}

// propagation sets m's propagation when o is a propagation type, and
// reports whether it is one.
func (c *conv) propagation(m, at *yaml.Node, o string) bool {
	if _, err := spec.ParsePropagation(o); err != nil {
		return false
	}
	set(m, "propagation", str(at, o))
	return true
}

// standardDevices are the nodes cell's /dev has already, with their
// numbers: listing one of them in linux.devices asks for nothing more.
var standardDevices = map[string][2]uint64{
	"null": {1, 3}, "zero": {1, 5}, "full": {1, 7}, "random": {1, 8}, "urandom": {1, 9}, "tty": {5, 0},
}

// devices translates linux.devices into the nodes of the dev mount (the
// runtime spec's /dev tmpfs) in list.
func (c *conv) devices(list, n *yaml.Node) {
	const path = "linux.devices"
	if !given(n) {
		return
	}
	var dev *yaml.Node
	devIndex := -1
	if list != nil {
		for i, m := range list.Content {
			for j := 0; j+1 < len(m.Content); j += 2 {
				if m.Content[j].Value == "type" && m.Content[j+1].Value == "dev" {
					dev, devIndex = m, i
				}
			}
		}
	}
	nodes := array(n)
	for i, e := range c.items(n, path) {
		p := index(path, i)
		f := c.fields(e, p)
		if f == nil {
			continue
		}
		pn, dpath, ok := c.requiredStr(e, f, p, "path")
		if !ok {
			continue
		}
		tn, typ, ok := c.requiredStr(e, f, p, "type")
		if !ok {
			continue
		}
		if typ == "u" {
			typ = "c" // the runtime spec's unbuffered character device
		}
		d := object(e)
		set(d, "path", str(pn, dpath))
		set(d, "type", str(tn, typ))
		var nums [2]uint64
		for k, key := range []string{"major", "minor"} {
			if v := f[key]; v != nil && !isNull(v) {
				if x, ok := c.integer(v, p+"."+key, 0, 1<<32-1); ok {
					nums[k] = uint64(x)
					if typ != "p" {
						set(d, key, num(v, x))
					}
				}
			}
		}
		if std, ok := standardDevices[strings.TrimPrefix(dpath, "/dev/")]; ok && strings.HasPrefix(dpath, "/dev/") && typ == "c" && std == nums {
			continue // cell's /dev has it
		}
		if v := f["fileMode"]; v != nil && !isNull(v) {
			if x, ok := c.integer(v, p+".fileMode", 0, 0o777); ok {
				set(d, "mode", str(v, fmt.Sprintf("%04o", x)))
			}
		}
		for _, key := range []string{"uid", "gid"} {
			if v := f[key]; v != nil && !isNull(v) {
				if x, ok := c.integer(v, p+"."+key, 0, 1<<32-1); ok {
					set(d, key, num(v, x))
				}
			}
		}
		if dev == nil {
			c.errorf(e, p, "cell makes device nodes in its /dev, and the bundle mounts none (a tmpfs at /dev)")
			continue
		}
		c.paths[index(index("filesystem.mounts", devIndex)+".devices", len(nodes.Content))] = p
		nodes.Content = append(nodes.Content, d)
	}
	if dev != nil && len(nodes.Content) > 0 {
		set(dev, "devices", nodes)
	}
}

// tmpfsOptions reads a tmpfs's options into m (nil: check only).
func (c *conv) tmpfsOptions(opts []string, nodes []*yaml.Node, at func(int) string, m *yaml.Node) {
	for i, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "size":
			if m == nil {
				continue // cell's /dev has its own size
			}
			sz := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(v, "k"), "m"), "g")
			mult := map[string]string{"k": "Ki", "m": "Mi", "g": "Gi"}[strings.TrimPrefix(v, sz)]
			if _, err := spec.ParseSize(sz + mult); err != nil || sz == "" {
				c.errorf(nodes[i], at(i), "size must be bytes or a number with k, m or g, not %q", v)
				continue
			}
			set(m, "size", str(nodes[i], sz+mult))
		case "mode":
			if m == nil {
				continue
			}
			if _, err := spec.ParseFileMode(v); err != nil {
				c.errorf(nodes[i], at(i), "mode %s", err)
				continue
			}
			set(m, "mode", str(nodes[i], v))
		case "noexec":
			if m != nil {
				set(m, "noexec", flag(nodes[i], true))
			}
		case "nosuid", "nodev", "exec", "strictatime", "relatime", "noatime", "rw", "private", "rprivate":
			// cell's mounts are private anyway.
		case "shared", "rshared", "slave", "rslave", "unbindable", "runbindable":
			if m == nil {
				c.errorf(nodes[i], at(i), "cell's /dev is private: it cannot make it %s", o)
				continue
			}
			c.propagation(m, nodes[i], o)
		default:
			c.errorf(nodes[i], at(i), "cell cannot apply tmpfs option %q (it applies size, mode, noexec; tmpfs is always nosuid and nodev)", o)
		}
	}
}

// readOnlyOptions checks the options of a mount that cell makes only
// read-only (sysfs, cgroup): "ro" must be among them, and the others be
// what cell applies anyway. kind and what name the mount in errors,
// notRO says why it must be read-only.
func (c *conv) readOnlyOptions(e *yaml.Node, p string, opts []string, nodes []*yaml.Node, at func(int) string, kind, what, notRO string) {
	ro := false
	for i, o := range opts {
		switch o {
		case "ro":
			ro = true
		case "nosuid", "nodev", "noexec", "relatime", "noatime", "strictatime", "private", "rprivate":
		default:
			c.errorf(nodes[i], at(i), "cell cannot apply %s option %q (%s is read-only, nosuid, nodev and noexec)", kind, o, what)
		}
	}
	if !ro {
		c.errorf(e, p+".options", "%s: add \"ro\"", notRO)
	}
}

// plainOptions accepts the options cell applies anyway to a filesystem it
// mounts.
func (c *conv) plainOptions(opts []string, nodes []*yaml.Node, at func(int) string, fs string) {
	for i, o := range opts {
		switch o {
		case "nosuid", "nodev", "noexec", "rw", "relatime", "strictatime", "noatime", "private", "rprivate":
		default:
			c.errorf(nodes[i], at(i), "cell cannot apply %s option %q (its %s is nosuid, nodev and noexec)", fs, o, fs)
		}
	}
}

// procMasked are the paths below /proc that cell's proc mount masks or
// makes read-only unless it is unmasked (internal/compile's hardenProc).
var (
	procMasked   = []string{"kcore", "keys", "latency_stats", "timer_list", "timer_stats", "sched_debug", "acpi", "asound", "scsi"}
	procReadOnly = []string{"bus", "fs", "irq", "sys", "sysrq-trigger"}
)

// maskPath is an entry of linux.maskedPaths or readonlyPaths outside
// /proc.
type maskPath struct {
	n        *yaml.Node
	path     string
	at       string
	readOnly bool
}

// masked reports whether linux.maskedPaths and linux.readonlyPaths ask
// for hardening of /proc, and returns their other paths. A path of /proc
// that cell's proc hardening does not cover is an error.
func (c *conv) masked(lin map[string]*yaml.Node) (bool, []maskPath) {
	any := false
	var extra []maskPath
	for _, k := range []struct {
		key  string
		list []string
	}{{"maskedPaths", procMasked}, {"readonlyPaths", procReadOnly}} {
		p := "linux." + k.key
		for i, e := range c.items(lin[k.key], p) {
			s, ok := c.str(e, index(p, i))
			if !ok {
				continue
			}
			rest, under := strings.CutPrefix(s, "/proc/")
			if !under {
				extra = append(extra, maskPath{e, s, index(p, i), k.key == "readonlyPaths"})
				continue
			}
			if !slices.Contains(append(slices.Clone(procMasked), procReadOnly...), rest) {
				c.errorf(e, index(p, i), "cell cannot mask %s: its proc mount covers /proc/{%s} and makes /proc/{%s} read-only", s, strings.Join(procMasked, ","), strings.Join(procReadOnly, ","))
				continue
			}
			any = true
		}
	}
	return any, extra
}

// maskMounts adds the mounts that mask or make read-only the paths of
// the rootfs that linux.maskedPaths and readonlyPaths name outside /proc,
// after the bundle's mounts: a masked directory gets an empty tmpfs, a
// masked file /dev/null bound read-only, a read-only path a read-only
// bind of itself. Which one a path needs is what the rootfs holds there,
// which only the runtime reads (Lstat); a path that does not exist is
// left alone, as runc does.
func (c *conv) maskMounts(out, list *yaml.Node, paths []maskPath) {
	if len(paths) == 0 {
		return
	}
	// The bundle's mounts; below a sysfs what a path is the host's
	// /sys says (a sysfs shows the same kernel objects, but for the
	// network devices of another network namespace), below a bind its
	// source (runc spec --rootless binds the host's /sys).
	type mounted struct {
		target, typ, source string
		writable            bool
	}
	var mounts []mounted
	if list != nil {
		for _, m := range list.Content {
			var target, typ, source string
			writable := false
			for i := 0; i+1 < len(m.Content); i += 2 {
				switch m.Content[i].Value {
				case "target":
					target = m.Content[i+1].Value
				case "type":
					typ = m.Content[i+1].Value
				case "source":
					source = m.Content[i+1].Value
				case "writable":
					writable = m.Content[i+1].Value == "true"
				}
			}
			mounts = append(mounts, mounted{target, typ, source, writable})
		}
	}
	// covering is the mount that shows what is at p: the deepest
	// target above it, the later of two at one place.
	covering := func(p string) *mounted {
		var m *mounted
		for i := range mounts {
			t := mounts[i].target
			if (p == t || strings.HasPrefix(p, t+"/")) && (m == nil || len(t) >= len(m.target)) {
				m = &mounts[i]
			}
		}
		return m
	}
	if list == nil {
		list = array(out)
	}
	added := false
	var hidden, readOnly []string
	for _, mp := range paths {
		if c.lstat == nil || c.rootfs == "" {
			c.errorf(mp.n, mp.at, "cell masks paths outside /proc only where it reads the bundle (its rootfs, the host's /sys), which a config.json given as text is not")
			continue
		}
		if !filepath.IsAbs(mp.path) || filepath.Clean(mp.path) != mp.path || mp.path == "/" {
			c.errorf(mp.n, mp.at, "must be an absolute, clean path other than /, not %q", mp.path)
			continue
		}
		within := func(ts []string) string {
			for _, t := range ts {
				if mp.path == t || strings.HasPrefix(mp.path, t+"/") {
					return t
				}
			}
			return ""
		}
		// Under a masked directory a path is hidden already, under a
		// read-only one read-only already.
		if within(hidden) != "" || mp.readOnly && within(readOnly) != "" {
			continue
		}
		host := filepath.Join(c.rootfs, mp.path)
		if under := covering(mp.path); under != nil {
			rest := strings.TrimPrefix(mp.path, under.target)
			switch under.typ {
			case "sysfs":
				if mp.readOnly {
					continue // cell's sysfs is read-only
				}
				host = filepath.Join("/sys", rest)
			case "bind":
				if mp.readOnly && !under.writable {
					continue // a read-only bind is read-only below too
				}
				host = filepath.Join(under.source, rest)
			default:
				// What is there is not the rootfs's, nor a host
				// path's, which is all the runtime can read.
				c.errorf(mp.n, mp.at, "%s is under the %s mount at %s: cell masks and makes read-only paths of the rootfs, a bind's source and a sysfs only", mp.path, under.typ, under.target)
				continue
			}
		}
		mode, err := c.lstat(host)
		if err != nil {
			if os.IsNotExist(err) && strings.HasPrefix(host, c.rootfs+"/") {
				if _, rerr := c.lstat(c.rootfs); rerr != nil {
					// A review of config.json without its rootfs:
					// what a path is cannot be known, and the
					// runtime checks root.path itself.
					c.errorf(mp.n, mp.at, "cell reads the bundle's rootfs to mask %s, and %s is not there", mp.path, c.rootfs)
					continue
				}
			}
			if os.IsNotExist(err) {
				continue
			}
			c.errorf(mp.n, mp.at, "%v", err)
			continue
		}
		m := object(mp.n)
		set(m, "target", str(mp.n, mp.path))
		switch {
		case mode&os.ModeSymlink != 0:
			c.errorf(mp.n, mp.at, "%s is a symbolic link in the rootfs: cell masks only what is at the path itself", mp.path)
			continue
		case mp.readOnly:
			set(m, "type", str(mp.n, "bind"))
			set(m, "source", str(mp.n, host))
			readOnly = append(readOnly, mp.path)
		case mode.IsDir():
			hidden = append(hidden, mp.path)
			set(m, "type", str(mp.n, "tmpfs"))
			set(m, "size", str(mp.n, "4Ki"))
			set(m, "mode", str(mp.n, "0500"))
		default:
			set(m, "type", str(mp.n, "bind"))
			set(m, "source", str(mp.n, os.DevNull))
		}
		c.paths[index("filesystem.mounts", len(list.Content))] = mp.at
		list.Content = append(list.Content, m)
		added = true
	}
	if added {
		c.put(out, "filesystem.mounts", list, "mounts")
	}
}

// linux translates the rest of linux: ID maps, resources, refusals.
func (c *conv) linux(out, n *yaml.Node, f map[string]*yaml.Node) {
	if f == nil {
		return
	}
	c.refuse(f, "linux", map[string]string{
		"mountLabel":   "cell does not apply SELinux labels",
		"intelRdt":     "cell does not use Intel RDT",
		"personality":  "cell does not set the personality",
		"timeOffsets":  "cell does not set time namespace offsets",
		"memoryPolicy": "cell does not set a memory policy",
		"netDevices":   "cell does not move network devices into the sandbox",
	})
	if v := f["rootfsPropagation"]; v != nil && !isNull(v) {
		if s, ok := c.str(v, "linux.rootfsPropagation"); ok && s != "" {
			if _, err := spec.ParsePropagation(s); err != nil {
				c.errorf(v, "linux.rootfsPropagation", "%s", err)
			} else {
				c.put(out, "filesystem.root.propagation", str(v, s), "linux.rootfsPropagation")
			}
		}
	}
	if v := f["sysctl"]; given(v) {
		if v.Kind != yaml.MappingNode {
			c.errorf(v, "linux.sysctl", "must be an object of names and values")
		} else {
			sc := object(v)
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, val := v.Content[i], v.Content[i+1]
				if s, ok := c.str(val, "linux.sysctl."+k.Value); ok {
					set(sc, k.Value, str(val, s))
					c.paths["sysctl."+k.Value] = "linux.sysctl." + k.Value
				}
			}
			c.put(out, "sysctl", sc, "linux.sysctl")
		}
	}
	if v := f["seccomp"]; given(v) {
		c.seccomp(out, v)
	}
	c.idMap(out, f["uidMappings"], "linux.uidMappings", "ids.uidMap")
	c.idMap(out, f["gidMappings"], "linux.gidMappings", "ids.gidMap")
	c.resources(out, f["resources"])
	// cgroupsPath is where the runtime makes the cgroup: its directory
	// is the parent (relative to each hierarchy's root, also when the
	// path is relative), its last element the sandbox's name, which the
	// runtime gives (CgroupName). Without limits cell makes no cgroup.
	if v := f["cgroupsPath"]; v != nil && given(v) {
		if s, ok := c.str(v, "linux.cgroupsPath"); ok {
			dir := path.Dir(path.Clean("/" + s))
			c.put(out, "resources.parent", str(v, dir), "linux.cgroupsPath")
		}
	}
}

// idMap translates linux.uidMappings or gidMappings.
func (c *conv) idMap(out, n *yaml.Node, path, to string) {
	if n == nil || isNull(n) {
		return
	}
	list := array(n)
	for i, e := range c.items(n, path) {
		p := index(path, i)
		f := c.fields(e, p)
		if f == nil {
			continue
		}
		r := object(e)
		for _, k := range []struct{ oci, cell string }{{"containerID", "inside"}, {"hostID", "outside"}, {"size", "count"}} {
			v, ok := f[k.oci]
			if !ok {
				c.errorf(e, p+"."+k.oci, "is required")
				continue
			}
			if id, ok := c.integer(v, p+"."+k.oci, 0, 1<<32-1); ok {
				set(r, k.cell, num(v, id))
			}
		}
		c.paths[index(to, len(list.Content))] = p
		list.Content = append(list.Content, r)
	}
	if len(list.Content) > 0 {
		c.put(out, to, list, path)
	}
}

// resources translates linux.resources.
func (c *conv) resources(out, n *yaml.Node) {
	const path = "linux.resources"
	f := c.fields(n, path)
	if f == nil {
		return
	}
	c.refuse(f, path, map[string]string{
		"rdma":    "cell does not limit RDMA",
		"unified": "cell does not write raw cgroup v2 files",
	})
	c.deviceRules(out, f["devices"], path+".devices")
	c.hugepageLimits(out, f["hugepageLimits"], path+".hugepageLimits")
	if net := c.fields(f["network"], path+".network"); net != nil {
		c.network(out, net, path+".network")
	}
	if mem := c.fields(f["memory"], path+".memory"); mem != nil {
		p := path + ".memory"
		c.refuse(mem, p, map[string]string{
			"reservation":       "cell sets memory.max and memory.high, not a reservation (memory.low)",
			"kernel":            "kernel memory limits are gone from cgroup v2 and cell",
			"kernelTCP":         "kernel TCP memory limits are gone from cgroup v2 and cell",
			"swappiness":        "cell does not set swappiness",
			"disableOOMKiller":  "cell does not disable the OOM killer",
			"checkBeforeUpdate": "cell does not update limits",
		})
		var limit int64 = -1
		if v := mem["limit"]; v != nil && !isNull(v) {
			if l, ok := c.integer(v, p+".limit", -1, 1<<62); ok {
				limit = l
				c.put(out, "resources.memory.max", limitNode(v, l), p+".limit")
			}
		}
		if v := mem["swap"]; v != nil && !isNull(v) {
			// The runtime spec's swap is memory plus swap, as cgroup v1's
			// memsw; cgroup v2 and cell limit swap alone.
			if s, ok := c.integer(v, p+".swap", -1, 1<<62); ok {
				switch {
				case s == -1:
					c.put(out, "resources.memory.swap", str(v, "max"), p+".swap")
				case limit < 0:
					c.errorf(v, p+".swap", "a swap limit (memory plus swap) needs memory.limit")
				case s < limit:
					c.errorf(v, p+".swap", "memory plus swap (%d) must be at least the memory limit (%d)", s, limit)
				default:
					c.put(out, "resources.memory.swap", num(v, s-limit), p+".swap")
				}
			}
		}
	}
	if pids := c.fields(f["pids"], path+".pids"); pids != nil {
		if v := pids["limit"]; v != nil && !isNull(v) {
			if l, ok := c.integer(v, path+".pids.limit", -1, 1<<62); ok {
				if l <= 0 {
					c.put(out, "resources.pids.max", str(v, "max"), path+".pids.limit")
				} else {
					c.put(out, "resources.pids.max", num(v, l), path+".pids.limit")
				}
			}
		}
	}
	if cpu := c.fields(f["cpu"], path+".cpu"); cpu != nil {
		c.cpu(out, cpu, path+".cpu")
	}
	if bio := c.fields(f["blockIO"], path+".blockIO"); bio != nil {
		p := path + ".blockIO"
		c.refuse(bio, p, map[string]string{
			"leafWeight":              "cell does not set a leaf weight",
			"weightDevice":            "cell does not set per-device weights",
			"throttleReadBpsDevice":   "cell throttles devices named by path (resources.io.devices), not by major:minor",
			"throttleWriteBpsDevice":  "cell throttles devices named by path (resources.io.devices), not by major:minor",
			"throttleReadIOPSDevice":  "cell throttles devices named by path (resources.io.devices), not by major:minor",
			"throttleWriteIOPSDevice": "cell throttles devices named by path (resources.io.devices), not by major:minor",
		})
		if v := bio["weight"]; v != nil && !isNull(v) {
			if w, ok := c.integer(v, p+".weight", 10, 1000); ok {
				// cgroup v1's blkio weight (10-1000) on v2's io.weight
				// (1-10000), as runc converts it.
				c.put(out, "resources.io.weight", num(v, 1+(w-10)*9999/990), p+".weight")
			}
		}
	}
}

// hugepageLimits translates linux.resources.hugepageLimits into
// resources.hugetlb, a limit per page size. The runtime spec writes the
// page size as the kernel's hugetlb files name it ("2MB"), as cell does;
// a limit too large for the kernel's counter is no limit.
func (c *conv) hugepageLimits(out, n *yaml.Node, path string) {
	if !given(n) {
		return
	}
	m := object(n)
	for i, e := range c.items(n, path) {
		p := index(path, i)
		ef := c.fields(e, p)
		if ef == nil {
			continue
		}
		at, size, ok := c.requiredStr(e, ef, p, "pageSize")
		if !ok {
			continue
		}
		if _, err := spec.PageSizeKB(size); err != nil {
			c.errorf(at, p+".pageSize", "%s", err)
			continue
		}
		if _, dup := c.paths["resources.hugetlb."+size]; dup {
			c.errorf(at, p+".pageSize", "a second limit of page size %s (first at %s)", size, c.paths["resources.hugetlb."+size])
			continue
		}
		v, ok := ef["limit"]
		if !ok {
			c.errorf(e, p+".limit", "is required")
			continue
		}
		limit, ok := c.unsigned(v, p+".limit")
		if !ok {
			continue
		}
		if limit > 1<<62 {
			set(m, size, str(v, "max"))
		} else {
			set(m, size, unum(v, limit))
		}
		c.paths["resources.hugetlb."+size] = p + ".limit"
	}
	if len(m.Content) > 0 {
		c.put(out, "resources.hugetlb", m, path)
	}
}

// network translates linux.resources.network: the class (net_cls) and
// the priorities per interface (net_prio).
func (c *conv) network(out *yaml.Node, f map[string]*yaml.Node, path string) {
	if v := f["classID"]; v != nil && !isNull(v) {
		if id, ok := c.integer(v, path+".classID", 0, 1<<32-1); ok && id != 0 {
			c.put(out, "resources.net.classID", num(v, id), path+".classID")
		}
	}
	n := f["priorities"]
	if !given(n) {
		return
	}
	p := path + ".priorities"
	m := object(n)
	for i, e := range c.items(n, p) {
		ep := index(p, i)
		ef := c.fields(e, ep)
		if ef == nil {
			continue
		}
		at, name, ok := c.requiredStr(e, ef, ep, "name")
		if !ok {
			continue
		}
		key := "resources.net.priorities." + name
		if first, dup := c.paths[key]; dup {
			c.errorf(at, ep+".name", "a second priority of interface %q (first at %s)", name, first)
			continue
		}
		v, ok := ef["priority"]
		if !ok {
			c.errorf(e, ep+".priority", "is required")
			continue
		}
		prio, ok := c.integer(v, ep+".priority", 0, 1<<32-1)
		if !ok {
			continue
		}
		set(m, name, num(v, prio))
		c.paths[key] = ep
	}
	if len(m.Content) > 0 {
		c.put(out, "resources.net.priorities", m, p)
	}
}

// deviceRules translates linux.resources.devices. cell's device cgroup
// denies every device but those allowed, as the rules the engines write
// start (a deny of all, then allows): deny rules before the first allow
// say what it denies anyway, and one after an allow, which would carve
// an exception out of it, is refused. Without an allow the rules deny
// what cell's sandbox cannot reach (its binds are nodev: the nodes of its
// /dev are its only devices) and make no cgroup of their own; a command
// that keeps CAP_MKNOD without a user namespace, which could make other
// nodes there, gets a device cgroup of those nodes anyway (compile, as for
// a profile).
func (c *conv) deviceRules(out, n *yaml.Node, path string) {
	if !given(n) {
		return
	}
	list := array(n)
	allowed := false
	for i, d := range c.items(n, path) {
		p := index(path, i)
		df := c.fields(d, p)
		if df == nil {
			continue
		}
		allow := false
		if a, ok := df["allow"]; !ok {
			c.errorf(d, p+".allow", "is required")
			continue
		} else if allow, ok = c.boolean(a, p+".allow"); !ok {
			continue
		}
		if !allow {
			if allowed {
				c.errorf(df["allow"], p+".allow", "cell's device cgroup denies every device but those allowed: it cannot deny part of what a rule before allows")
			}
			continue
		}
		allowed = true
		r := object(d)
		typ, at := "a", d
		if v := df["type"]; v != nil && !isNull(v) {
			if s, ok := c.str(v, p+".type"); ok && s != "" {
				typ, at = s, v
			}
		}
		if typ != "a" && typ != "c" && typ != "b" {
			c.errorf(at, p+".type", "must be a, c or b, not %q", typ)
			continue
		}
		set(r, "type", str(at, typ))
		for _, k := range []string{"major", "minor"} {
			if v := df[k]; v != nil && !isNull(v) {
				if x, ok := c.integer(v, p+"."+k, -1, 1<<32-1); ok && x >= 0 {
					if typ == "a" {
						c.errorf(v, p+"."+k, "does not apply to type a (every device)")
						continue
					}
					set(r, k, num(v, x))
				}
			}
		}
		if v, ok := df["access"]; !ok || isNull(v) {
			c.errorf(d, p+".access", "is required for an allow rule")
			continue
		} else if s, ok := c.str(v, p+".access"); ok {
			set(r, "access", str(v, s))
		}
		c.paths[index("resources.devices", len(list.Content))] = p
		list.Content = append(list.Content, r)
	}
	if len(list.Content) > 0 {
		c.put(out, "resources.devices", list, path)
	}
}

// limitNode is a memory limit: -1 is no limit.
func limitNode(at *yaml.Node, v int64) *yaml.Node {
	if v < 0 {
		return str(at, "max")
	}
	return num(at, v)
}

// cpu translates linux.resources.cpu.
func (c *conv) cpu(out *yaml.Node, f map[string]*yaml.Node, p string) {
	c.refuse(f, p, map[string]string{
		"realtimeRuntime": "cell does not set real-time CPU time",
		"realtimePeriod":  "cell does not set real-time CPU time",
		"idle":            "cell does not set cpu.idle",
		"burst":           "cell does not set cpu.max.burst",
	})
	if v := f["shares"]; v != nil && !isNull(v) {
		if s, ok := c.integer(v, p+".shares", 2, 262144); ok {
			// Exactly on v1; the cgroup package converts them for v2.
			c.put(out, "resources.cpu.shares", num(v, s), p+".shares")
		}
	}
	q, qok := f["quota"]
	if qok && !isNull(q) {
		quota, ok := c.integer(q, p+".quota", -1, 1<<40)
		period := int64(100000)
		if v := f["period"]; v != nil && !isNull(v) {
			if per, pok := c.integer(v, p+".period", 1000, 1000000); pok {
				period = per
			} else {
				ok = false
			}
		}
		switch {
		case !ok:
		case quota <= 0:
			c.put(out, "resources.cpu.max", str(q, "max"), p+".quota")
		case quota*1000%period != 0:
			c.errorf(q, p+".quota", "quota %d per period %d is not a whole number of thousandths of a CPU, which is what cell sets", quota, period)
		default:
			millis := quota * 1000 / period
			cpus := strconv.FormatInt(millis/1000, 10)
			if r := millis % 1000; r != 0 {
				cpus += "." + strings.TrimRight(fmt.Sprintf("%03d", r), "0")
			}
			c.put(out, "resources.cpu.max", str(q, cpus), p+".quota")
			if period != 100000 {
				c.put(out, "resources.cpu.period", num(f["period"], period), p+".period")
			}
		}
	}
	for _, k := range []struct{ oci, cell string }{{"cpus", "cpus"}, {"mems", "mems"}} {
		if v := f[k.oci]; v != nil && given(v) {
			if s, ok := c.str(v, p+"."+k.oci); ok {
				c.put(out, "resources.cpu."+k.cell, str(v, s), p+"."+k.oci)
			}
		}
	}
}

// seccompActions maps the runtime spec's actions to the profile's.
var seccompActions = map[string]string{
	"SCMP_ACT_ALLOW": "allow", "SCMP_ACT_ERRNO": "errno", "SCMP_ACT_KILL": "kill",
	"SCMP_ACT_KILL_PROCESS": "kill", "SCMP_ACT_KILL_THREAD": "kill", "SCMP_ACT_LOG": "log",
}

// seccompOps maps the runtime spec's comparisons to the profile's.
var seccompOps = map[string]string{
	"SCMP_CMP_EQ": "eq", "SCMP_CMP_NE": "ne", "SCMP_CMP_LT": "lt", "SCMP_CMP_LE": "le",
	"SCMP_CMP_GT": "gt", "SCMP_CMP_GE": "ge", "SCMP_CMP_MASKED_EQ": "maskedEq",
}

// SeccompActions are the runtime spec's seccomp actions cell applies,
// sorted (an OCI runtime's features).
func SeccompActions() []string { return slices.Sorted(maps.Keys(seccompActions)) }

// SeccompOperators are the runtime spec's seccomp comparisons cell
// applies, sorted.
func SeccompOperators() []string { return slices.Sorted(maps.Keys(seccompOps)) }

// BindOptions are the mount options cell applies to a bind (besides
// size and mode, which mount(2) ignores there), and the propagation
// types, for an OCI runtime's features.
func BindOptions() []string {
	opts := append([]string{"bind", "rbind", "ro", "rw", "noexec", "exec", "size", "mode"}, bindFlagOptions...)
	for _, p := range spec.Propagations() {
		opts = append(opts, p.String())
	}
	return opts
}

// bindFlagOptions are the bind options that change no isolation: cell's
// binds are always nosuid and nodev, and access times are the host's.
var bindFlagOptions = []string{"nosuid", "nodev", "relatime", "norelatime", "noatime", "strictatime", "nodiratime", "diratime"}

// seccompAction translates an action and its errnoRet into the fields
// of a rule (or the filter's default) of mode rules.
func (c *conv) seccompAction(into *yaml.Node, actKey, errKey string, act, errnoRet *yaml.Node, p, errPath string) bool {
	s, ok := c.str(act, p)
	if !ok {
		return false
	}
	a, ok := seccompActions[s]
	if !ok {
		c.errorf(act, p, "cell cannot apply seccomp action %s (it applies SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_LOG)", s)
		return false
	}
	set(into, actKey, str(act, a))
	if errnoRet != nil && !isNull(errnoRet) {
		if a != "errno" {
			c.errorf(errnoRet, errPath, "is for SCMP_ACT_ERRNO only")
			return false
		}
		n, ok := c.integer(errnoRet, errPath, 1, 4095)
		if !ok {
			return false
		}
		name := unix.ErrnoName(unix.Errno(n))
		if name == "" {
			c.errorf(errnoRet, errPath, "errno %d has no name cell knows", n)
			return false
		}
		set(into, errKey, str(errnoRet, name))
	}
	return true
}

// seccomp translates linux.seccomp into a filter of mode rules: the
// bundle's own allowlist, not cell's default.
func (c *conv) seccomp(out, n *yaml.Node) {
	const path = "linux.seccomp"
	f := c.fields(n, path)
	if f == nil {
		return
	}
	c.refuse(f, path, map[string]string{
		"flags":            "cell does not set seccomp filter flags",
		"listenerPath":     "cell has no seccomp notify listener",
		"listenerMetadata": "cell has no seccomp notify listener",
	})
	for i, a := range c.items(f["architectures"], path+".architectures") {
		// cell's filter allows x86_64 calls only: the i386 and x32
		// entries of a filter only narrow it further.
		if s, ok := c.str(a, index(path+".architectures", i)); ok && !slices.Contains([]string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}, s) {
			c.errorf(a, index(path+".architectures", i), "cell's filter is for x86_64 (with i386 and x32 calls refused), not %s", s)
		}
	}
	sc := object(n)
	set(sc, "mode", str(n, "rules"))
	act, ok := f["defaultAction"]
	if !ok {
		c.errorf(n, path+".defaultAction", "is required")
		return
	}
	if !c.seccompAction(sc, "defaultAction", "defaultErrno", act, f["defaultErrnoRet"], path+".defaultAction", path+".defaultErrnoRet") {
		return
	}
	rules := array(n)
	for i, e := range c.items(f["syscalls"], path+".syscalls") {
		p := index(path+".syscalls", i)
		sf := c.fields(e, p)
		if sf == nil {
			continue
		}
		r := object(e)
		names := array(e)
		for j, nm := range c.items(sf["names"], p+".names") {
			if s, ok := c.str(nm, index(p+".names", j)); ok {
				names.Content = append(names.Content, str(nm, s))
			}
		}
		if len(names.Content) == 0 {
			c.errorf(e, p+".names", "is required")
			continue
		}
		set(r, "syscalls", names)
		a, ok := sf["action"]
		if !ok {
			c.errorf(e, p+".action", "is required")
			continue
		}
		if !c.seccompAction(r, "action", "errno", a, sf["errnoRet"], p+".action", p+".errnoRet") {
			continue
		}
		args := array(e)
		for k, an := range c.items(sf["args"], p+".args") {
			ap := index(p+".args", k)
			af := c.fields(an, ap)
			if af == nil {
				continue
			}
			arg := object(an)
			if v, ok := af["index"]; ok {
				if x, ok := c.integer(v, ap+".index", 0, 5); ok {
					set(arg, "index", num(v, x))
				}
			}
			opN, ok := af["op"]
			if !ok {
				c.errorf(an, ap+".op", "is required")
				continue
			}
			os, ok := c.str(opN, ap+".op")
			if !ok {
				continue
			}
			op, ok := seccompOps[os]
			if !ok {
				c.errorf(opN, ap+".op", "unknown comparison %q", os)
				continue
			}
			set(arg, "op", str(opN, op))
			var value, two uint64
			if v := af["value"]; v != nil {
				value, _ = c.unsigned(v, ap+".value")
			}
			if v := af["valueTwo"]; v != nil {
				two, _ = c.unsigned(v, ap+".valueTwo")
			}
			if op == "maskedEq" {
				// The runtime spec's value is the mask, valueTwo the
				// value compared.
				set(arg, "mask", unum(an, value))
				set(arg, "value", unum(an, two))
			} else {
				set(arg, "value", unum(an, value))
			}
			args.Content = append(args.Content, arg)
		}
		if len(args.Content) > 0 {
			set(r, "args", args)
		}
		c.paths[index("security.seccomp.rules", len(rules.Content))] = p
		rules.Content = append(rules.Content, r)
	}
	set(sc, "rules", rules)
	c.put(out, "security.seccomp", sc, path)
}

// CgroupName is the name of the sandbox's cgroup that a config.json's
// linux.cgroupsPath gives (its last element), "" without one.
func CgroupName(cgroupsPath string) string {
	if cgroupsPath == "" {
		return ""
	}
	return path.Base(path.Clean("/" + cgroupsPath))
}
