package diff

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/cellsandbox/cell/spec"
)

// classifier says which way a change of one field moves the boundary,
// and why.
type classifier func(c *Change, old, new *spec.Profile) (Class, string)

// rules maps the pattern of a key (identities replaced by "*", a map's
// entries by ".*") to its classifier. TestEveryFieldClassified fails for a
// field of spec.Profile that has none.
var rules = map[string]classifier{
	"apiVersion":  neutral("the format version"),
	"name":        neutral("the profile's name"),
	"description": neutral("the description"),
	"extends":     neutral("the parents are resolved; their values are compared"),
	"extends[*]":  neutral("the parents are resolved; their values are compared"),

	"namespaces.user":   namespace("user", "the command's credentials are the caller's real ones"),
	"namespaces.mount":  namespace("mount", "the command sees the host's whole file system"),
	"namespaces.pid":    namespace("pid", "the command sees and can signal the host's processes"),
	"namespaces.net":    namespace("net", "the command uses the host's network"),
	"namespaces.uts":    namespace("uts", "the command sees the host's host name"),
	"namespaces.ipc":    namespace("ipc", "the command reaches the host's shared memory and queues"),
	"namespaces.cgroup": namespace("cgroup", "the command sees the host's cgroup tree"),
	"namespaces.time":   namespace("time", "the command shares the host's clocks"),
	"network.mode": func(c *Change, _, _ *spec.Profile) (Class, string) {
		// From least to most reach: loopback only, the user-mode stack
		// (outbound, NATed by a helper), a bridge (the host and its
		// other sandboxes), the host's own network.
		reach := map[string]int{"none": 0, "user": 1, "bridge": 2, "host": 3}
		o, n := reach[def(c.Old, "none")], reach[def(c.New, "none")]
		switch {
		case def(c.New, "none") == "host":
			return Widens, "the command reaches every network the host reaches"
		case def(c.New, "none") == "none":
			return Narrows, "the command's network is its own loopback only"
		case n > o:
			return Widens, "the command reaches more: " + def(c.New, "none") + " instead of " + def(c.Old, "none")
		case n < o:
			return Narrows, "the command reaches less: " + def(c.New, "none") + " instead of " + def(c.Old, "none")
		}
		return Neutral, "the network changes"
	},
	"network.bridge":        neutral("the bridge the sandbox joins"),
	"network.bridge.name":   changedWidens("the sandbox joins another bridge and reaches its sandboxes"),
	"network.bridge.subnet": neutral("the bridge's subnet"),
	"network.nat":           flag(Widens, "the sandbox reaches beyond the host through NAT", "the sandbox no longer reaches beyond the host"),
	"network.ports[*]":      member("published port %s", "a port of the sandbox is reachable from the host's network", "a port is no longer published"),
	"network.dns[*]":        neutral("a name server of the sandbox"),
	"network.hostLoopback":  flag(Widens, "the sandbox reaches the host's loopback services", "the host's loopback is out of reach"),
	"network.egress":        neutral("the egress rules"),
	"network.egress.default": func(c *Change, _, _ *spec.Profile) (Class, string) {
		switch was, is := def(c.Old, "allow"), def(c.New, "allow"); {
		case was == is:
			return Neutral, "the same in effect"
		case is == "deny":
			return Narrows, "connections not on the allow list are refused"
		}
		return Widens, "every destination is allowed again"
	},
	"network.egress.allow[*]":        member("egress to %s", "a destination becomes reachable", "a destination is no longer reachable"),
	"network.egress.allow[*].to":     changedWidens("an allowed destination changes"),
	"network.egress.allow[*].domain": changedWidens("an allowed name changes: the proxy lets the command reach another host"),
	"network.egress.allow[*].sni": func(c *Change, _, _ *spec.Profile) (Class, string) {
		switch was, is := def(c.Old, "required"), def(c.New, "required"); {
		case was == is:
			return Neutral, "the same in effect"
		case is == "optional":
			return Widens, "a tunnel to port 443 need not be TLS naming the host"
		}
		return Narrows, "a tunnel to port 443 must be TLS naming the host"
	},
	"network.egress.allow[*].ports[*]": member("egress port %s", "another port becomes reachable", "a port is no longer reachable"),
	"network.egress.allow[*].proto":    changedWidens("an allowed protocol changes"),
	"hostname":                         neutral("the host name inside"),
	"domainname":                       neutral("the domain name inside"),

	"ids.uid":                  credential("uid"),
	"ids.gid":                  credential("gid"),
	"ids.setgroups":            changedWidens("whether the command's processes may change their supplementary groups"),
	"ids.groups[*]":            member("supplementary group %s", "the command gains the group's access", "the command loses the group's access"),
	"ids.uidMap[*]":            idRange("uid"),
	"ids.gidMap[*]":            idRange("gid"),
	"ids.uidMap[*].*":          idRangeField("uid"),
	"ids.gidMap[*].*":          idRangeField("gid"),
	"filesystem.root.path":     changedWidens("a host directory is the root: the command sees (and, unless read-only, changes) its files"),
	"filesystem.root.size":     size("the root tmpfs"),
	"filesystem.root.mode":     mode("the root directory"),
	"filesystem.root.readOnly": flag(Narrows, "the root becomes read-only", "the root becomes writable"),

	"filesystem.mounts[*]":                  mountGroup,
	"filesystem.mounts[*].type":             mountType,
	"filesystem.mounts[*].target":           neutral("the mount's target"),
	"filesystem.mounts[*].source":           changedWidens("a different host path is visible"),
	"filesystem.mounts[*].device":           neutral("the name the mount table shows as the mount's source"),
	"filesystem.mounts[*].writable":         flag(Widens, "the command can now change the host's files there", "the mount becomes read-only"),
	"filesystem.mounts[*].recursive":        flagDefault("true", Widens, "the host's submounts there become visible", "the host's submounts there are left out"),
	"filesystem.mounts[*].optional":         neutral("whether a missing source is skipped"),
	"filesystem.mounts[*].noexec":           flag(Narrows, "nothing on the mount can be executed", "files on the mount can be executed"),
	"filesystem.mounts[*].size":             size("the tmpfs"),
	"filesystem.mounts[*].mode":             mode("the mount's root"),
	"filesystem.mounts[*].content":          neutral("the file's content"),
	"filesystem.mounts[*].linkTo":           neutral("where the symlink points"),
	"filesystem.mounts[*].followSymlinks":   flag(Widens, "the source may resolve through symlinks a sandbox planted, to anywhere on the host", "the source resolves without following symlinks where a sandbox could have planted them"),
	"filesystem.mounts[*].handBack":         flag(Narrows, "what the command leaves there is checked and becomes the caller's", "what the command leaves there is no longer checked or given to the caller"),
	"filesystem.mounts[*].keepSymlinks":     flag(Widens, "symlinks the command leaves in the outputs stay", "symlinks the command leaves in the outputs are removed"),
	"filesystem.mounts[*].propagation":      neutral("the mount's propagation type among the sandbox's own mounts (cell's are private to the host)"),
	"filesystem.mounts[*].devices[*]":       element(Widens, "a device node is made in the sandbox's /dev", "a device node is no longer made"),
	"filesystem.mounts[*].devices[*].path":  neutral("where the device node is"),
	"filesystem.mounts[*].devices[*].type":  changedWidens("the node is another kind of device"),
	"filesystem.mounts[*].devices[*].major": changedWidens("the node is another device"),
	"filesystem.mounts[*].devices[*].minor": changedWidens("the node is another device"),
	"filesystem.mounts[*].devices[*].mode":  mode("the device node"),
	"filesystem.mounts[*].devices[*].uid":   neutral("the device node's owner"),
	"filesystem.mounts[*].devices[*].gid":   neutral("the device node's group"),
	"filesystem.mounts[*].idmap":            changedWidens("the owners of the mount's files change as the sandbox sees them"),
	"filesystem.mounts[*].idmap.uid[*]":     idRange("uid"),
	"filesystem.mounts[*].idmap.gid[*]":     idRange("gid"),
	"filesystem.mounts[*].idmap.uid[*].*":   idRangeField("uid"),
	"filesystem.mounts[*].idmap.gid[*].*":   idRangeField("gid"),
	"filesystem.mounts[*].lower[*]":         member("overlay lower %s", "a host directory becomes visible (read-only) through the overlay", "a host directory is no longer visible"),
	"filesystem.mounts[*].unmasked":         flag(Widens, "the proc mount loses its hardening (kcore, sysrq-trigger, /proc/sys writable)", "the proc mount is hardened"),

	"process.args":          neutral("the command run by default"),
	"process.env.*":         neutral("a variable set by the profile"),
	"process.passEnv[*]":    member("passEnv %s", "the caller's value is copied in", "the caller's value is no longer copied in"),
	"process.cwd":           neutral("the working directory"),
	"process.umask":         umask,
	"process.inheritFds[*]": member("descriptor %s", "a descriptor of the caller crosses into the sandbox", "the descriptor no longer crosses"),
	"process.newSession":    flagDefault("true", Narrows, "the command gets a session of its own (no TIOCSTI into the caller's terminal)", "the command shares the caller's session and can push keystrokes into its terminal"),

	"resources.parent":              neutral("where the sandbox's cgroup is made"),
	"resources.memory.max":          limit("memory.max"),
	"resources.memory.high":         limit("memory.high"),
	"resources.memory.swap":         limit("memory.swap"),
	"resources.memory.oomGroup":     neutral("whether an OOM kill ends the whole sandbox"),
	"resources.cpu.max":             limit("cpu.max"),
	"resources.cpu.weight":          weight("cpu.weight"),
	"resources.cpu.shares":          shares("cpu.shares"),
	"resources.cpu.period":          neutral("the window over which cpu.max is enforced: the same share of CPU time, in longer or shorter bursts"),
	"resources.cpu.cpus":            cpuset("CPUs"),
	"resources.cpu.mems":            cpuset("memory nodes"),
	"resources.pids.max":            limit("pids.max"),
	"resources.io.weight":           weight("io.weight"),
	"resources.io.devices[*]":       element(Narrows, "a device is throttled", "a device is no longer throttled"),
	"resources.devices[*]":          element(Widens, "a device rule allows the command a device (the first also denies every other)", "a device is no longer allowed"),
	"resources.devices[*].type":     changedWidens("a device rule allows another kind of device"),
	"resources.devices[*].major":    changedWidens("a device rule allows other devices"),
	"resources.devices[*].minor":    changedWidens("a device rule allows other devices"),
	"resources.devices[*].access":   changedWidens("a device rule allows other access"),
	"resources.io.devices[*].path":  neutral("the device throttled"),
	"resources.io.devices[*].rbps":  limit("read bytes per second"),
	"resources.io.devices[*].wbps":  limit("write bytes per second"),
	"resources.io.devices[*].riops": limit("read operations per second"),
	"resources.io.devices[*].wiops": limit("write operations per second"),
	"resources.hugetlb.*":           limit("a huge page limit"),
	"resources.net.classID":         neutral("the traffic class of the sandbox's packets (net_cls.classid): how the host's traffic control treats them"),
	"resources.net.priorities.*":    neutral("the priority of the sandbox's packets on a host interface (net_prio.ifpriomap)"),

	"security.capabilities":                  changedWidens("the capabilities the command keeps, set by set"),
	"security.noNewPrivileges":               flagDefault("true", Narrows, "set-user-ID programs cannot raise privileges", "set-user-ID and file-capability programs can raise privileges"),
	"security.seccomp.mode":                  seccompMode,
	"security.seccomp.defaultAction":         seccompDefault,
	"security.seccomp.defaultErrno":          neutral("the error of the filter's default action"),
	"security.seccomp.allowNestedNamespaces": flag(Widens, "the command can create namespaces (a large kernel surface)", "the command cannot create namespaces"),
	"security.seccomp.rules[*]":              seccompRule,
	"security.seccomp.rules[*].*":            neutral("a seccomp rule changes: review it by hand"),
	"security.seccomp.rules[*].syscalls[*]":  neutral("a system call of a seccomp rule: review the rule by hand"),
	"security.seccomp.rules[*].args[*]":      neutral("an argument condition of a seccomp rule: review the rule by hand"),
	"security.seccomp.rules[*].args[*].*":    neutral("an argument condition of a seccomp rule: review the rule by hand"),
	"security.landlock.mode":                 landlockMode,
	"security.landlock.readOnly[*]":          member("landlock read-only path %s", "the command may read there", "the command may no longer read there"),
	"security.landlock.readWrite[*]":         member("landlock read-write path %s", "the command may write there", "the command may no longer write there"),
	"security.landlock.readExec[*]":          member("landlock read-exec path %s", "the command may execute there", "the command may no longer execute there"),
	"security.landlock.bindTcp[*]":           member("landlock bind port %s", "the command may listen on the port", "the command may no longer listen on the port"),
	"security.landlock.connectTcp[*]":        member("landlock connect port %s", "the command may connect to the port", "the command may no longer connect to the port"),
	"security.landlock.scope[*]":             element(Narrows, "landlock cuts the command off from more of what processes outside offer (abstract Unix sockets, signals)", "landlock no longer cuts the command off from what processes outside offer there"),
	"security.rlimits.*":                     rlimit,
	"namespaces.join":                        changedWidens("the sandbox enters an existing namespace, whose processes and resources it shares"),
	"namespaces.join.*":                      changedWidens("the sandbox enters an existing namespace, whose processes and resources it shares"),
	"sysctl.*":                               changedWidens("a kernel parameter of the sandbox's own namespaces changes"),
	"filesystem.root.propagation":            neutral("the root's propagation type among the sandbox's own mounts (cell's are private to the host)"),
	"security.setIDGuard":                    flagDefault("true", Narrows, "the command cannot leave set-ID or file-capability programs on the host", "the command can leave set-ID or file-capability programs on the host through a writable bind"),
	"security.oomScoreAdj":                   neutral("how willingly the OOM killer picks the command"),
}

// unclassified is the reason given for a field no rule knows.
const unclassified = "unclassified: no rule for this field, review it by hand"

// classify finds the classifier of c by its key's pattern pat.
func classify(c *Change, pat string, old, new *spec.Profile) (Class, string) {
	if r, ok := rules[pat]; ok {
		return r(c, old, new)
	}
	if i := strings.LastIndexByte(pat, '.'); i >= 0 {
		if r, ok := rules[pat[:i]+".*"]; ok {
			return r(c, old, new)
		}
	}
	return Neutral, unclassified
}

// def returns v, or d when v is unset.
func def(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func neutral(why string) classifier {
	return func(*Change, *spec.Profile, *spec.Profile) (Class, string) { return Neutral, why }
}

// namespace classifies a namespace's share: host widens.
func namespace(name, gives string) classifier {
	return func(c *Change, _, _ *spec.Profile) (Class, string) {
		if def(c.New, "new") == "host" {
			return Widens, "the sandbox shares the host's " + name + " namespace: " + gives
		}
		return Narrows, "the sandbox gets a " + name + " namespace of its own"
	}
}

// flag classifies a boolean whose default is false: setting it is class
// on.
func flag(on Class, onWhy, offWhy string) classifier {
	return flagDefault("false", on, onWhy, offWhy)
}

// flagDefault classifies a boolean whose unset value is d: making it true
// is class on, false the opposite.
func flagDefault(d string, on Class, onWhy, offWhy string) classifier {
	return func(c *Change, _, _ *spec.Profile) (Class, string) {
		was, is := def(c.Old, d), def(c.New, d)
		switch {
		case was == is:
			return Neutral, "the same in effect"
		case is == "true":
			return on, onWhy
		}
		return opposite(on), offWhy
	}
}

func opposite(c Class) Class {
	switch c {
	case Neutral:
	case Widens:
		return Narrows
	case Narrows:
		return Widens
	}
	return Neutral
}

// changedWidens classifies any change as widening: a value whose every
// change shows the command something else.
func changedWidens(why string) classifier {
	return func(*Change, *spec.Profile, *spec.Profile) (Class, string) { return Widens, why }
}

// member classifies an element of a set whose elements each grant
// something: adding one widens.
func member(what, addWhy, removeWhy string) classifier {
	return func(c *Change, _, _ *spec.Profile) (Class, string) {
		switch c.Kind {
		case Changed:
		case Added:
			return Widens, fmt.Sprintf(what, c.New) + ": " + addWhy
		case Removed:
			return Narrows, fmt.Sprintf(what, c.Old) + ": " + removeWhy
		}
		return Neutral, fmt.Sprintf(what, c.New)
	}
}

// element classifies a list element with fields, added or removed.
func element(onAdd Class, addWhy, removeWhy string) classifier {
	return func(c *Change, _, _ *spec.Profile) (Class, string) {
		if c.Kind == Removed {
			return opposite(onAdd), removeWhy
		}
		return onAdd, addWhy
	}
}

// credential classifies the command's uid or gid inside: becoming 0 widens.
func credential(what string) classifier {
	return func(c *Change, _, _ *spec.Profile) (Class, string) {
		was, is := def(c.Old, "0"), def(c.New, "0")
		switch {
		case is == "0" && was != "0":
			return Widens, "the command runs with " + what + " 0 (root) inside"
		case was == "0" && is != "0":
			return Narrows, "the command no longer runs with " + what + " 0 inside"
		}
		return Neutral, "the command's " + what + " inside"
	}
}

// idRange classifies a range of an ID map added or removed: a range that
// reaches the host's root widens most, any other added range widens too
// (more host IDs become usable).
func idRange(what string) classifier {
	return func(c *Change, _, _ *spec.Profile) (Class, string) {
		switch {
		case c.Kind == Removed:
			return Narrows, "fewer host " + what + "s are mapped"
		case strings.Contains(c.New, "outside: 0,") || strings.Contains(c.New, "outside: 0}"):
			return Widens, "the host's " + what + " 0 (root) is mapped into the sandbox"
		}
		return Widens, "more host " + what + "s are mapped"
	}
}

// idRangeField classifies a changed field of a range of an ID map.
func idRangeField(what string) classifier {
	return func(c *Change, _, _ *spec.Profile) (Class, string) {
		if strings.HasSuffix(c.Key, ".outside") && def(c.New, "0") == "0" {
			return Widens, "the host's " + what + " 0 (root) is mapped into the sandbox"
		}
		if strings.HasSuffix(c.Key, ".count") {
			return numeric(c.Old, c.New, "0", "more host "+what+"s are mapped", "fewer host "+what+"s are mapped")
		}
		return Widens, "other host " + what + "s are mapped"
	}
}

// numeric compares two decimal numbers, d standing for an unset one:
// larger widens.
func numeric(old, new, d, up, down string) (Class, string) {
	a, err1 := strconv.ParseFloat(def(old, d), 64)
	b, err2 := strconv.ParseFloat(def(new, d), 64)
	switch {
	case err1 != nil || err2 != nil:
		return Neutral, unclassified
	case b > a:
		return Widens, up
	case b < a:
		return Narrows, down
	}
	return Neutral, "the same in effect"
}

// quantity reads a limit: "" and "max" are unlimited.
func quantity(v string) float64 {
	if v == "" || v == "max" || v == "unlimited" {
		return math.Inf(1)
	}
	if s, err := spec.ParseSize(v); err == nil {
		return float64(s)
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return f
	}
	return math.NaN()
}

// limit classifies a limit: raising or removing it widens.
func limit(what string) classifier {
	return func(c *Change, _, _ *spec.Profile) (Class, string) {
		a, b := quantity(c.Old), quantity(c.New)
		switch {
		case math.IsNaN(a) || math.IsNaN(b):
			return Neutral, unclassified
		case b > a && math.IsInf(b, 1):
			return Widens, what + " is no longer limited"
		case b > a:
			return Widens, what + " is raised"
		case b < a && math.IsInf(a, 1):
			return Narrows, what + " is now limited"
		case b < a:
			return Narrows, what + " is lowered"
		}
		return Neutral, "the same in effect"
	}
}

// size classifies the size of a tmpfs, unset being unbounded.
func size(what string) classifier {
	return func(c *Change, _, _ *spec.Profile) (Class, string) {
		cls, _ := limit(what)(c, nil, nil)
		switch cls {
		case Neutral:
		case Widens:
			return Widens, what + " may grow larger"
		case Narrows:
			return Narrows, what + " is smaller"
		}
		return Neutral, "the same in effect"
	}
}

// weight classifies a cgroup weight: a larger share widens.
func weight(what string) classifier {
	return func(c *Change, _, _ *spec.Profile) (Class, string) {
		return numeric(c.Old, c.New, "100", what+" is raised: a larger share under contention", what+" is lowered: a smaller share under contention")
	}
}

// shares classifies cgroup v1's cpu.shares, whose default is 1024.
func shares(what string) classifier {
	return func(c *Change, _, _ *spec.Profile) (Class, string) {
		return numeric(c.Old, c.New, "1024", what+" is raised: a larger share under contention", what+" is lowered: a smaller share under contention")
	}
}

// cpuset classifies a cpuset list: removing it widens, setting it narrows.
func cpuset(what string) classifier {
	return func(c *Change, _, _ *spec.Profile) (Class, string) {
		switch c.Kind {
		case Changed:
		case Added:
			return Narrows, "the sandbox is confined to some " + what
		case Removed:
			return Widens, "the sandbox may use every " + strings.TrimSuffix(what, "s")
		}
		return Neutral, "the sandbox's " + what + " change"
	}
}

// permBits are the permission bits of a mode string; ok is false if v is
// not octal.
func permBits(v, d string) (uint64, bool) {
	n, err := strconv.ParseUint(def(v, d), 8, 32)
	return n, err == nil
}

// mode classifies a permission mode: new permission bits widen.
func mode(what string) classifier {
	return func(c *Change, _, _ *spec.Profile) (Class, string) {
		a, ok1 := permBits(c.Old, "0755")
		b, ok2 := permBits(c.New, "0755")
		switch {
		case !ok1 || !ok2:
			return Neutral, unclassified
		case b&^a != 0:
			return Widens, what + " grants more permissions"
		case a&^b != 0:
			return Narrows, what + " grants fewer permissions"
		}
		return Neutral, "the same in effect"
	}
}

// umask classifies the umask: clearing bits widens (new files are more
// permissive).
func umask(c *Change, _, _ *spec.Profile) (Class, string) {
	a, ok1 := permBits(c.Old, "0022")
	b, ok2 := permBits(c.New, "0022")
	switch {
	case !ok1 || !ok2:
		return Neutral, unclassified
	case a&^b != 0:
		return Widens, "files the command creates are more permissive"
	case b&^a != 0:
		return Narrows, "files the command creates are less permissive"
	}
	return Neutral, "the same in effect"
}

// exposingTypes are mount types that show the command something of the
// host, and what each shows.
var exposingTypes = map[string]string{
	"bind": "a host path",
	"dev":  "device nodes (null, zero, random, tty, ptys)",
	"proc": "process and kernel information",
}

func mountGroup(c *Change, _, _ *spec.Profile) (Class, string) {
	v := c.New
	if c.Kind == Removed {
		v = c.Old
	}
	typ := field(v, "type")
	what, exposing := exposingTypes[typ]
	if typ == "bind" {
		what = "the host's " + field(v, "source")
		if field(v, "writable") == "true" {
			what += ", writable,"
		}
	}
	switch {
	case !exposing:
		return Neutral, "a " + typ + " mount of the sandbox's own"
	case c.Kind == Removed:
		return Narrows, what + " is no longer visible at " + field(v, "target")
	}
	return Widens, what + " becomes visible at " + field(v, "target")
}

func mountType(c *Change, _, _ *spec.Profile) (Class, string) {
	if what, ok := exposingTypes[c.New]; ok {
		return Widens, what + " becomes visible"
	}
	return Neutral, "the mount is now a " + c.New
}

// field returns the value of key in a summary printed by summary.
func field(summary, key string) string {
	s := strings.TrimSuffix(strings.TrimPrefix(summary, "{"), "}")
	for _, part := range strings.Split(s, ", ") {
		if k, v, ok := strings.Cut(part, ": "); ok && k == key {
			return v
		}
	}
	return ""
}

func seccompMode(c *Change, _, _ *spec.Profile) (Class, string) {
	switch def(c.New, "default") {
	case "unconfined":
		return Widens, "no system call filter: the whole kernel interface is reachable"
	case "rules":
		return Widens, "the profile's own rules replace cell's default allowlist, which they may exceed: review them"
	}
	if def(c.Old, "default") == "rules" {
		return Neutral, "cell's default allowlist replaces the profile's own rules: review what they allowed"
	}
	return Narrows, "the default system call filter applies"
}

// seccompDefault classifies the default action of a filter of mode
// rules: allow lets every call no rule names through.
func seccompDefault(c *Change, _, _ *spec.Profile) (Class, string) {
	switch was, is := def(c.Old, ""), def(c.New, ""); {
	case is == "allow" && was != "allow":
		return Widens, "a system call no rule names is allowed"
	case was == "allow" && is != "allow":
		return Narrows, "a system call no rule names is refused"
	}
	return Neutral, "what a system call no rule names gets"
}

func seccompRule(c *Change, _, _ *spec.Profile) (Class, string) {
	v := c.New
	if c.Kind == Removed {
		v = c.Old
	}
	allows := field(v, "action") == "allow"
	switch {
	case allows == (c.Kind == Added):
		return Widens, "the seccomp filter allows more"
	}
	return Narrows, "the seccomp filter allows less"
}

func landlockMode(c *Change, _, _ *spec.Profile) (Class, string) {
	rank := map[string]int{"off": 0, "bestEffort": 1, "require": 2}
	a, b := rank[def(c.Old, "off")], rank[def(c.New, "off")]
	switch {
	case b < a:
		return Widens, "landlock enforces less"
	case b > a:
		return Narrows, "landlock enforces more"
	}
	return Neutral, "the same in effect"
}

func rlimit(c *Change, _, _ *spec.Profile) (Class, string) {
	switch c.Kind {
	case Changed:
	case Added:
		return Narrows, "a resource limit is set"
	case Removed:
		return Widens, "a resource limit is no longer set"
	}
	return Neutral, "a resource limit changes: review it by hand"
}
