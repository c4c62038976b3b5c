// Package explain describes a resolved profile in plain words for a
// reviewer who does not read YAML profiles every day: who the command is
// inside and outside, what of the host it can read, write and execute,
// what it can reach on the network, its limits, and which defences are on
// and off, ending with lint's exposure score.
//
// Profile builds an Explanation, a list of sections of short sentences;
// Write prints it as text and WriteMarkdown as Markdown. The package does
// no host I/O: what it says of the caller comes in through Options.
package explain

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/cellsandbox/cell/spec"
	"github.com/cellsandbox/cell/spec/access"
	"github.com/cellsandbox/cell/spec/lint"
)

// Options describe the caller, whose IDs the sandbox's map to by default.
type Options struct {
	// UID and GID are the caller's IDs.
	UID, GID uint32
	// User is the caller's login name; Home its home directory; PWD its
	// working directory (the project).
	User, Home, PWD string
	// Host says what the profile compiles to on this host where that
	// differs by host: what of its landlock rules the kernel enforces, or
	// why cell refuses it here. Empty says nothing.
	Host string
}

// Section is one topic of an Explanation.
type Section struct {
	// Title names the topic, such as "Files".
	Title string `json:"title"`
	// Lines are sentences, each one item.
	Lines []string `json:"lines"`
}

// Explanation is a profile described in plain words.
type Explanation struct {
	// File and Name identify the profile; Description is its own.
	File        string `json:"file"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Sections are, in order: identity, files, network, environment,
	// limits, defences and review.
	Sections []Section `json:"sections"`
	// Claims are what the sentences of Files and Network say, in a form
	// that a program can check against a running sandbox.
	Claims Claims `json:"claims"`
}

// Claims are an explanation's statements of access, each with the
// mechanism that enforces it.
type Claims struct {
	// Files says, for each mount in order, whether the command can read,
	// write and execute there.
	Files []access.Path `json:"files"`
	// Network says what it can connect to, listen on and signal.
	Network []access.Reach `json:"network"`
}

// Profile explains p to a reviewer.
func Profile(p *spec.Profile, opts Options) *Explanation {
	e := &Explanation{File: p.File, Name: p.Name, Description: p.Description}
	e.Claims = Claims{Files: access.Files(p), Network: access.Reaches(p)}
	e.Sections = []Section{
		{"Who the command is", identity(p, opts)},
		{"Files", files(p, e.Claims.Files)},
		{"Network", network(p)},
		{"Environment", environment(p)},
		{"Limits", limits(p)},
		{"Defences", append(defences(p), hostLine(opts.Host)...)},
		{"Review", review(p, opts)},
	}
	return e
}

func identity(p *spec.Profile, o Options) []string {
	ids := &p.IDs
	if p.Namespaces.User == spec.Host {
		return []string{
			fmt.Sprintf("There is no user namespace: the command runs as the caller, uid %d and gid %d, with the caller's real rights on the host.", o.UID, o.GID),
		}
	}
	var out []string
	who := fmt.Sprintf("uid %d", ids.UID)
	if ids.UID == 0 {
		who += " (root)"
	}
	out = append(out, fmt.Sprintf("Inside, the command runs as %s and gid %d%s.", who, ids.GID, groups(ids.Groups)))
	out = append(out, mapping("uid", ids.UIDMap, ids.UID, o.UID)...)
	out = append(out, mapping("gid", ids.GIDMap, ids.GID, o.GID)...)
	sec := &p.Security
	caps := "It holds no capabilities: cell empties every capability set before the command starts"
	if kept := sec.Capabilities.Kept(); len(kept) > 0 {
		names := make([]string, len(kept))
		for i, c := range kept {
			names[i] = string(c)
		}
		caps = "It keeps the capabilities " + strings.Join(names, ", ") + " (in its own user namespace) and no other"
		if sec.Capabilities.Sets {
			caps += ", set by set: " + sec.Capabilities.String()
		}
	}
	if sec.NoNewPrivs() {
		caps += "; no_new_privs is set, so set-user-ID programs cannot raise its rights."
	} else {
		caps += "; no_new_privs is off, so set-user-ID programs can raise its rights."
	}
	return append(out, caps)
}

func groups(gs []uint32) string {
	if len(gs) == 0 {
		return ", with no supplementary groups"
	}
	s := make([]string, len(gs))
	for i, g := range gs {
		s[i] = fmt.Sprint(g)
	}
	return ", with supplementary groups " + strings.Join(s, ", ")
}

// mapping says what the ID map m makes of the command's id inside.
func mapping(what string, m []spec.IDRange, id, caller uint32) []string {
	if len(m) == 0 {
		return []string{fmt.Sprintf("Outside, %s %d is the caller's %s %d; no other %s is mapped, so files of other owners show as nobody.", what, id, what, caller, what)}
	}
	var out []string
	for _, r := range m {
		last := uint64(r.Inside) + uint64(r.Count) - 1
		line := fmt.Sprintf("%ss %d-%d inside are %ss %d-%d outside", what, r.Inside, last, what, r.Outside, uint64(r.Outside)+uint64(r.Count)-1)
		if r.Count == 1 {
			line = fmt.Sprintf("%s %d inside is %s %d outside", what, r.Inside, what, r.Outside)
		}
		switch {
		case r.Outside.Subordinate():
			line = fmt.Sprintf("%ss %d-%d inside are %d %ss of the caller's subordinate range (/etc/sub%s) outside", what, r.Inside, last, r.Count, what, what)
		case r.Outside.Picked():
			line = fmt.Sprintf("%ss %d-%d inside are %d %ss outside that this sandbox alone holds while it runs (picked when it starts; for an unprivileged caller its own %s, then its subordinate range)", what, r.Inside, last, r.Count, what, what)
		case id >= r.Inside && uint64(id) <= last:
			line += fmt.Sprintf(" (the command is %s %d outside)", what, uint64(r.Outside)+uint64(id-r.Inside))
		}
		if r.Outside == 0 {
			line += "; this includes the host's root"
		}
		out = append(out, upper(line)+".")
	}
	return out
}

// upper capitalises the first letter of s.
func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// hostFiles describes the file system of a sandbox without a mount
// namespace: the host's, or a root directory it is chrooted into, with
// mounts cell makes under it on the host.
func hostFiles(p *spec.Profile) []string {
	r := p.Filesystem.Root
	if r.Path == "" {
		return []string{"There is no mount namespace: the command sees the host's whole file system as the caller does, and can write wherever the caller can."}
	}
	access := "writable: the command can change its files on the host"
	if r.ReadOnly {
		access = "read-only once the mounts are made (a read-only bind of it that cell makes on the host)"
	}
	out := []string{
		"There is no mount namespace: the command is chrooted into the host's directory " + r.Path + ", " + access + ".",
		"A chroot is no boundary: a process with CAP_SYS_CHROOT can leave it for the host's whole file system, where it can write wherever the caller can.",
	}
	if len(p.Filesystem.Mounts) > 0 {
		var targets []string
		for _, m := range p.Filesystem.Mounts {
			targets = append(targets, m.Target+" ("+m.Type.String()+")")
		}
		out = append(out, "cell makes its mounts under "+r.Path+" in the host's mount table, where the host's processes see them, and unmounts them when the sandbox ends: "+strings.Join(targets, ", ")+".")
	}
	return out
}

func files(p *spec.Profile, paths []access.Path) []string {
	if p.Namespaces.Mount == spec.Host {
		return hostFiles(p)
	}
	var out []string
	if j := p.Namespaces.Join.Mount; j != "" {
		out = append(out, fmt.Sprintf("Its root and mounts are made in the existing mount namespace %s, which other processes share: they see what is made there, and what they mount there later, the command sees.", j))
	}
	r := p.Filesystem.Root
	root := "The root is a fresh, empty tmpfs"
	if r.Size != 0 {
		root += " of " + r.Size.String()
	}
	switch {
	case r.Path != "" && r.ReadOnly:
		root = "The root is the host's directory " + r.Path + ", read-only once the mounts are made: the command sees its files and, of the rest of the host, only what is listed here."
	case r.Path != "":
		root = "The root is the host's directory " + r.Path + ", writable: the command can change its files on the host; of the rest of the host it sees only what is listed here."
	case r.ReadOnly:
		root += ", read-only once the mounts are made: nothing of the host is visible except what is listed here."
	default:
		root += ", writable: nothing of the host is visible except what is listed here."
	}
	out = append(out, root)
	var ro, rw, own, special, hidden, kept []string
	var execs []string
	var noExec = map[string][]string{}
	var noExecOrder []string
	for i, m := range p.Filesystem.Mounts {
		a := paths[i]
		opt := ""
		if m.Optional {
			opt = " (if it exists)"
		}
		switch m.Type {
		case spec.MountInvalid:
		case spec.MountBind:
			where := m.Source
			if m.Target != m.Source {
				where += " at " + m.Target
			}
			switch {
			case !a.Read.Allowed:
				hidden = append(hidden, where+opt)
			case a.Write.Allowed:
				rw = append(rw, where+opt)
			default:
				ro = append(ro, where+opt)
				if m.Writable {
					kept = append(kept, m.Target)
				}
			}
		case spec.MountTmpfs, spec.MountOverlay:
			size := "no size limit"
			if m.Size != 0 {
				size = m.Size.String()
			}
			what := fmt.Sprintf("%s (%s, %s", m.Target, m.Type, size)
			if m.Type == spec.MountOverlay {
				what += ", over " + strings.Join(m.Lower, ", ")
			}
			if !a.Write.Allowed {
				what += ", read-only by " + mechanisms(a.Write.By)
			}
			own = append(own, what+")")
		case spec.MountProc:
			special = append(special, m.Target+" shows the sandbox's own processes")
		case spec.MountDev:
			special = append(special, m.Target+" holds only null, zero, full, random, urandom, tty and a private pts and shm")
		case spec.MountSysfs:
			special = append(special, m.Target+" is a read-only sysfs (the kernel's devices; the network's are the sandbox's own with a network namespace)")
		case spec.MountMqueue:
			special = append(special, m.Target+" holds the message queues of the sandbox's IPC namespace")
		case spec.MountCgroup:
			if p.Resources.Any() {
				special = append(special, m.Target+" shows the sandbox's own cgroups, read-only")
			} else {
				special = append(special, m.Target+" is empty: the sandbox has no cgroup of its own without a limit")
			}
		case spec.MountDir, spec.MountFile, spec.MountSymlink:
			special = append(special, fmt.Sprintf("%s is a %s made for the sandbox", m.Target, m.Type))
		}
		switch {
		case m.Type == spec.MountDir || m.Type == spec.MountFile || m.Type == spec.MountSymlink:
		case a.Exec.Allowed:
			execs = append(execs, m.Target)
		default:
			by := mechanisms(a.Exec.By)
			if _, ok := noExec[by]; !ok {
				noExecOrder = append(noExecOrder, by)
			}
			noExec[by] = append(noExec[by], m.Target)
		}
	}
	list := func(what string, items []string, none string) {
		if len(items) == 0 {
			if none != "" {
				out = append(out, none)
			}
			return
		}
		out = append(out, what+": "+strings.Join(items, ", ")+".")
	}
	list("It can read, not write, the host's", ro, "It reads nothing of the host.")
	list("It can read and write the host's", rw, "It can change no file of the host.")
	list("Landlock keeps these writable mounts read-only", kept, "")
	list("Landlock hides these binds (no read)", hidden, "")
	list("Its own scratch space, gone when it ends", own, "It has no scratch space of its own.")
	if len(special) > 0 {
		out = append(out, upper(strings.Join(special, "; "))+".")
	}
	list("It can execute programs from", execs, "It can execute nothing from the mounts.")
	for _, by := range noExecOrder {
		line := "Execution is refused by " + strings.Replace(by, "the mount", "a noexec mount", 1) + " in: " + strings.Join(noExec[by], ", ") + "."
		if by == string(access.Landlock) {
			line = "Execution is refused by landlock (execve only: the dynamic loader can still run a program from these, as in ld.so ./prog; only a noexec mount stops that) in: " + strings.Join(noExec[by], ", ") + "."
		}
		out = append(out, line)
	}
	out = append(out, "Host binds are nosuid and nodev: set-user-ID bits and device nodes in them have no effect.")
	return out
}

// mechanisms names mechanisms for a sentence: "a noexec mount and
// landlock".
func mechanisms(ms []access.Mechanism) string {
	words := make([]string, len(ms))
	for i, m := range ms {
		switch m {
		case access.Mount:
			words[i] = "the mount"
		case access.Landlock:
			words[i] = "landlock"
		case access.Namespace:
			words[i] = "the namespace"
		case access.Egress:
			words[i] = "the egress rules"
		case access.Network:
			words[i] = "the network mode"
		default:
			words[i] = string(m)
		}
	}
	return strings.Join(words, " and ")
}

func network(p *spec.Profile) []string {
	n := &p.Network
	l := &p.Security.Landlock
	var out []string
	if j := p.Namespaces.Join.Net; j != "" && n.Mode != spec.NetHost {
		out = append(out, fmt.Sprintf("It enters the existing network namespace %s instead of one of its own: it has that namespace's interfaces and reaches what they reach, which the profile does not say; read the rest as if it were the host's.", j))
	}
	if n.Mode == spec.NetHost || p.Namespaces.Net == spec.Host || p.Namespaces.Join.Net != "" {
		line := "It uses the host's network namespace: "
		if p.Namespaces.Join.Net != "" {
			line = "At worst (the host's): "
		}
		if v := access.Connect(p, "tcp", 0); !v.Allowed {
			line += fmt.Sprintf("landlock lets it connect only to TCP ports %s (UDP, MPTCP and every other protocol are not restricted by landlock), ", portList(l.ConnectTCP))
		} else {
			line += "it reaches everything the host reaches, "
		}
		if v := access.Bind(p, 0); v.Allowed {
			line += "can listen on the host's ports"
		} else {
			line += fmt.Sprintf("can listen only on the host's TCP ports %s", portList(l.BindTCP))
		}
		if access.AbstractUnix(p).Allowed {
			line += " and can use the host's abstract Unix sockets."
		} else {
			line += "; landlock keeps the host's abstract Unix sockets out of reach."
		}
		return append(out, line)
	}
	switch n.Mode {
	case spec.NetHost:
	case spec.NetNone:
		if n.Egress.HasDomains() {
			out = append(out, "It has a network of its own with only loopback (127.0.0.1): nothing outside the sandbox is reachable but the names that cell's proxy lets it reach (below).")
		} else {
			out = append(out, "It has a network of its own with only loopback (127.0.0.1): nothing outside the sandbox is reachable over the network.")
		}
	case spec.NetBridge:
		line := fmt.Sprintf("It is on the host's bridge %s (subnet %s) with an address of its own: it reaches the host (at the bridge's address) and the other sandboxes on that bridge", n.Bridge.BridgeName(), n.Bridge.BridgeSubnet())
		if n.NAT {
			line += ", and, through NAT behind the host's address, everything the host reaches."
		} else {
			line += "; nothing beyond the host (no NAT)."
		}
		out = append(out, line)
	case spec.NetUser:
		line := "It reaches everything the host reaches, through a user-mode network stack (slirp4netns) that makes its connections as the caller"
		if n.Egress.Default == spec.EgressDeny {
			line = "Its connections leave through a user-mode network stack (slirp4netns) that makes them as the caller, where the egress rules below let them"
		}
		if n.HostLoopback {
			line += ", including the host's loopback services at 10.0.2.2."
		} else {
			line += "; the host's loopback services are out of reach."
		}
		out = append(out, line)
	}
	if n.Mode != spec.NetNone {
		out = append(out, "Its loopback, its ports and its abstract Unix sockets are its own network namespace's: the host's abstract Unix sockets are out of reach, and it listens where only published ports reach it.")
	}
	for _, port := range n.Ports {
		out = append(out, fmt.Sprintf("Its %s port %d is published on the host's port %d: others can connect to it.", port.Proto, port.Sandbox, port.Host))
	}
	if n.Egress.Default == spec.EgressDeny {
		var to, names []string
		for _, a := range n.Egress.Allow {
			ports := "every port"
			if len(a.Ports) > 0 {
				ports = "port " + portList(a.Ports)
			}
			if a.Domain != "" {
				if a.SNI == "optional" {
					ports += ", TLS server name not required"
				}
				names = append(names, fmt.Sprintf("%s (%s)", domainWords(a.Domain), ports))
				continue
			}
			proto := a.Proto
			if proto == "" {
				proto = "tcp and udp"
			}
			dest := a.To
			switch a.To {
			case "0.0.0.0/0":
				dest = "any IPv4 address"
			case "::/0":
				dest = "any IPv6 address"
			}
			to = append(to, fmt.Sprintf("%s (%s, %s)", dest, proto, ports))
		}
		if len(to) == 0 {
			out = append(out, "Egress rules refuse every connection beyond loopback; the command cannot change them (it has no CAP_NET_ADMIN).")
		} else {
			out = append(out, "Egress rules let it connect only to "+strings.Join(to, "; ")+", and loopback; the command cannot change them (it has no CAP_NET_ADMIN).")
		}
		if len(names) > 0 {
			out = append(out, "Through cell's filtering proxy, which runs outside the sandbox and which it finds on its own loopback (HTTP_PROXY, HTTPS_PROXY and ALL_PROXY point at it), it reaches only "+strings.Join(names, "; ")+
				". A TLS connection must name the host it asked the proxy for; a name that resolves to a loopback or link-local address is not connected to; its name server answers only these names; every decision is logged with the rule that made it.")
		}
	}
	if l.Mode != spec.LandlockOff && len(l.ConnectTCP) > 0 {
		out = append(out, fmt.Sprintf("Landlock lets it connect only to TCP ports %s, loopback included.", portList(l.ConnectTCP)))
	}
	return out
}

// domainWords says what a domain rule names.
func domainWords(d string) string {
	if suffix, ok := strings.CutPrefix(d, "*."); ok {
		return "any name under " + suffix
	}
	return d
}

// portList prints ports: "443, 80".
func portList(ps []uint16) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ", ")
}

func environment(p *spec.Profile) []string {
	pr := &p.Process
	var out []string
	if len(pr.Args) > 0 {
		out = append(out, fmt.Sprintf("Unless told otherwise it runs %q.", strings.Join(pr.Args, " ")))
	}
	cwd := pr.Cwd
	if cwd == "" {
		cwd = "/"
	}
	out = append(out, "It starts in "+cwd+".")
	if len(pr.Env) == 0 {
		out = append(out, "Its environment sets no variable of its own.")
	} else {
		keys := make([]string, 0, len(pr.Env))
		for k := range pr.Env {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out = append(out, "Its environment sets "+strings.Join(keys, ", ")+".")
	}
	if len(pr.PassEnv) == 0 {
		out = append(out, "Nothing of the caller's environment is passed in.")
	} else {
		out = append(out, "From the caller's environment only these are passed in, when set: "+strings.Join(pr.PassEnv, ", ")+".")
	}
	if len(pr.InheritFDs) > 0 {
		fds := make([]string, len(pr.InheritFDs))
		for i, fd := range pr.InheritFDs {
			fds[i] = fmt.Sprint(fd)
		}
		out = append(out, "It receives the caller's descriptors "+strings.Join(fds, ", ")+", whatever they refer to.")
	} else {
		out = append(out, "It receives only standard input, output and error of the caller's descriptors.")
	}
	return out
}

func limits(p *spec.Profile) []string {
	r := &p.Resources
	var out []string
	lim := func(what string, l *spec.Limit, none string) {
		if l == nil || l.Max {
			out = append(out, none)
			return
		}
		out = append(out, fmt.Sprintf("%s: at most %s.", what, l))
	}
	lim("Memory", r.Memory.Max, "Memory: no limit.")
	if r.Memory.Swap != nil && !r.Memory.Swap.Max {
		out = append(out, fmt.Sprintf("Swap: at most %s.", r.Memory.Swap))
	}
	lim("Processes and threads", r.Pids.Max, "Processes: no limit.")
	switch {
	case r.CPU.Max != nil && !r.CPU.Max.Max:
		out = append(out, fmt.Sprintf("CPU: at most %s CPUs' worth of time.", r.CPU.Max))
	default:
		out = append(out, "CPU: no limit.")
	}
	if r.CPU.Cpus != "" {
		out = append(out, "It runs only on CPUs "+r.CPU.Cpus+".")
	}
	// Huge pages smallest first; an unlimited size says so.
	for _, size := range r.HugePageSizes() {
		if l := r.HugeTLB[size]; l.Max {
			out = append(out, fmt.Sprintf("Huge pages of %s: no limit.", size))
		} else {
			out = append(out, fmt.Sprintf("Huge pages of %s: at most %s.", size, l))
		}
	}
	if id := r.Net.ClassID; id != 0 {
		out = append(out, fmt.Sprintf("Its packets carry traffic class %x:%x (net_cls, for the host's traffic control; needs cgroup v1).", id>>16, id&0xffff))
	}
	if len(r.Net.Priorities) > 0 {
		var ps []string
		for _, name := range slices.Sorted(maps.Keys(r.Net.Priorities)) {
			ps = append(ps, fmt.Sprintf("%s %d", name, r.Net.Priorities[name]))
		}
		out = append(out, "Its packets get priorities on the host's interfaces "+strings.Join(ps, ", ")+" (net_prio; needs cgroup v1).")
	}
	return out
}

func defences(p *spec.Profile) []string {
	ns := &p.Namespaces
	var own, shared []string
	for _, n := range []struct {
		name string
		s    spec.Share
	}{
		{"user", ns.User}, {"mount", ns.Mount}, {"pid", ns.PID}, {"net", ns.Net},
		{"uts", ns.UTS}, {"ipc", ns.IPC}, {"cgroup", ns.Cgroup}, {"time", ns.Time},
	} {
		if n.s == spec.Host {
			shared = append(shared, n.name)
		} else {
			own = append(own, n.name)
		}
	}
	var out []string
	if len(own) > 0 {
		out = append(out, "On: namespaces of its own: "+strings.Join(own, ", ")+".")
	}
	if len(shared) > 0 {
		out = append(out, "Off: it shares the host's "+strings.Join(shared, ", ")+" namespaces.")
	}
	if p.Namespaces.Mount == spec.Host && p.Filesystem.Root.Path != "" {
		out = append(out, "Off: a root of its own: the root is a chroot, which CAP_SYS_CHROOT leaves.")
	}
	if p.Namespaces.Mount == spec.New {
		if p.Filesystem.Root.ReadOnly {
			out = append(out, "On: a read-only root.")
		} else {
			out = append(out, "Off: the root stays writable.")
		}
	}
	sec := &p.Security
	onOff := func(on bool, yes, no string) {
		if on {
			out = append(out, "On: "+yes+".")
		} else {
			out = append(out, "Off: "+no+".")
		}
	}
	onOff(sec.Capabilities.Empty(), "no capabilities", "capabilities are kept (see Who the command is)")
	onOff(sec.NoNewPrivs(), "no_new_privs", "no_new_privs")
	if !sec.GuardsSetID() && slices.ContainsFunc(p.Filesystem.Mounts, func(m spec.Mount) bool { return m.Type == spec.MountBind && m.Writable }) {
		out = append(out, "Off: the set-ID guard: the command can leave set-user-ID and file-capability programs in its writable binds, which run with their rights on the host.")
	}
	switch {
	case sec.Seccomp.Mode == spec.SeccompUnconfined:
		out = append(out, "Off: no system call filter.")
	case sec.Seccomp.AllowNestedNamespaces || len(sec.Seccomp.Rules) > 0:
		nested := ""
		if sec.Seccomp.AllowNestedNamespaces {
			nested = " and allowing nested namespaces"
		}
		out = append(out, fmt.Sprintf("On: the default system call filter, changed by %d rules%s.", len(sec.Seccomp.Rules), nested))
	default:
		out = append(out, "On: the default system call filter.")
	}
	if l := sec.Landlock; l.Mode != spec.LandlockOff {
		line := fmt.Sprintf("On: landlock (%s): read-only %s; read-write %s; read-exec %s", l.Mode,
			listOr(l.ReadOnly), listOr(l.ReadWrite), listOr(l.ReadExec))
		if len(l.ConnectTCP) > 0 {
			line += "; TCP connect " + portList(l.ConnectTCP)
		}
		if len(l.BindTCP) > 0 {
			line += "; TCP bind " + portList(l.BindTCP)
		}
		if len(l.Scope) > 0 {
			sc := make([]string, len(l.Scope))
			for i, x := range l.Scope {
				sc[i] = x.String()
			}
			line += "; scoped (" + strings.Join(sc, ", ") + "): the host's abstract Unix sockets and processes are out of reach"
		}
		out = append(out, line+".")
	} else {
		out = append(out, "Off: landlock (the mounts alone decide what is reachable).")
	}
	if n := &p.Network; n.Egress.Default == spec.EgressDeny {
		out = append(out, "On: egress rules (nftables in its own network namespace) refuse what they do not list (see Network).")
	}
	onOff(p.Process.IsNewSession(), "a session of its own (no keystrokes pushed into the caller's terminal)", "the command shares the caller's terminal session")
	out = append(out,
		"On: a non-dumpable init, and every inherited descriptor beyond those listed closed.",
		"On: the sandbox dies with cell (parent-death signal).")
	if !p.Resources.Any() {
		out = append(out, "Off: no cgroup limits.")
	} else {
		out = append(out, "On: cgroup limits (see Limits).")
	}
	return out
}

// hostLine is the Defences line of what this host enforces.
func hostLine(h string) []string {
	if h == "" {
		return nil
	}
	return []string{"On this host: " + strings.TrimSuffix(h, ".") + "."}
}

// listOr joins paths, or says "nothing".
func listOr(paths []string) string {
	if len(paths) == 0 {
		return "nothing"
	}
	return strings.Join(paths, ", ")
}

func review(p *spec.Profile, o Options) []string {
	r := lint.Profile(p, lint.Options{Home: o.Home, PWD: o.PWD})
	out := []string{fmt.Sprintf("Exposure %.1f/10 (%s).", r.Score, r.Verdict)}
	for _, f := range r.Findings {
		if f.Severity > lint.Info {
			out = append(out, fmt.Sprintf("%s %s at %s: %s.", f.Severity, f.Rule, f.Pos, f.Message))
		}
	}
	if len(out) == 1 {
		out = append(out, "cell lint finds nothing that widens the sandbox.")
	}
	return out
}

// Write prints e as text: a heading, then each section's title and its
// sentences, one per line.
func Write(w io.Writer, e *Explanation) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", e.Name, e.File)
	if e.Description != "" {
		fmt.Fprintf(&b, ": %s", e.Description)
	}
	b.WriteString("\n")
	for _, s := range e.Sections {
		fmt.Fprintf(&b, "\n%s:\n", s.Title)
		for _, l := range s.Lines {
			fmt.Fprintf(&b, "  - %s\n", l)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints e as indented JSON, claims included.
func WriteJSON(w io.Writer, e *Explanation) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteMarkdown prints e as Markdown: a heading per section and a bullet
// per sentence.
func WriteMarkdown(w io.Writer, e *Explanation) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## Sandbox `%s` (`%s`)\n", e.Name, e.File)
	if e.Description != "" {
		fmt.Fprintf(&b, "\n%s\n", e.Description)
	}
	for _, s := range e.Sections {
		fmt.Fprintf(&b, "\n### %s\n\n", s.Title)
		for _, l := range s.Lines {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
