package lint

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/cellsandbox/cell/spec"
	"github.com/cellsandbox/cell/spec/access"
)

// Rule is one check. Its ID and Name never change meaning; a rule that
// is withdrawn leaves its ID unused.
type Rule struct {
	// ID is the stable identifier, "CELL" and three digits.
	ID string `json:"id"`
	// Name is a short kebab-case name, such as "host-network".
	Name string `json:"name"`
	// Severity is the usual severity of a finding; a rule may report a
	// graver or milder one for some values.
	Severity Severity `json:"severity"`
	// Summary says in one line what the rule finds.
	Summary string `json:"summary"`
	// Help says why it matters and what to do instead.
	Help string `json:"help"`
	// check reports the rule's findings on a profile.
	check func(ps *pass)
}

// Rules returns the rules in ID order. The values are copies.
func Rules() []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = *r
	}
	return out
}

// The ID ranges: 001-009 namespaces and network, 010-029 the file system
// and IDs, 030-039 the process's environment, descriptors and session,
// 040-049 capabilities, no_new_privs and seccomp, 050-059 resource limits,
// 060-069 namespaces again (001-009 are taken).
var rules = []*Rule{
	{
		ID: "CELL001", Name: "host-network", Severity: High,
		Summary: "The sandbox uses the host's network.",
		Help:    "With the host's network namespace the command can reach every service the host can, listen on its interfaces and use abstract Unix sockets of the host. Use network.mode: none (the default) unless the command must talk to the network.",
		check:   hostNetwork,
	},
	{
		ID: "CELL002", Name: "shared-user-namespace", Severity: High,
		Summary: "The sandbox shares the host's user namespace.",
		Help:    "Without a user namespace of its own the command runs with the caller's real credentials; a caller that is root runs it as the host's root. Keep namespaces.user: new.",
		check:   sharedNamespace("CELL002"),
	},
	{
		ID: "CELL003", Name: "shared-pid-namespace", Severity: High,
		Summary: "The sandbox shares the host's PID namespace.",
		Help:    "The command sees every process of the host and can signal and inspect those of its own user. Keep namespaces.pid: new.",
		check:   sharedNamespace("CELL003"),
	},
	{
		ID: "CELL004", Name: "shared-ipc-namespace", Severity: Medium,
		Summary: "The sandbox shares the host's IPC namespace.",
		Help:    "The command can attach to the host's System V shared memory, semaphores and message queues. Keep namespaces.ipc: new.",
		check:   sharedNamespace("CELL004"),
	},
	{
		ID: "CELL005", Name: "shared-mount-namespace", Severity: Critical,
		Summary: "The sandbox shares the host's mount namespace.",
		Help:    "The command sees the host's whole file system as the caller does; filesystem.root and filesystem.mounts cannot apply. Keep namespaces.mount: new.",
		check:   sharedNamespace("CELL005"),
	},
	{
		ID: "CELL006", Name: "shared-minor-namespace", Severity: Low,
		Summary: "The sandbox shares the host's UTS, cgroup or time namespace.",
		Help:    "The host's host name, cgroup paths or clocks are visible (and a process with capabilities there could change them). Keep them new unless the kernel lacks them.",
		check:   minorNamespaces,
	},
	{
		ID: "CELL007", Name: "open-egress", Severity: Low,
		Summary: "The sandbox has a network beyond loopback and no egress allow list.",
		Help:    "With network.mode bridge or user and no network.egress rules the command can connect anywhere its network reaches: exfiltration and downloads are unrestricted. Set network.egress.default: deny and list the destinations it needs (allow the name server too).",
		check:   openEgress,
	},
	{
		ID: "CELL008", Name: "host-loopback", Severity: Medium,
		Summary: "The sandbox reaches the host's loopback services.",
		Help:    "With network.hostLoopback the user-mode network forwards 10.0.2.2 to the host's 127.0.0.1, where databases, debuggers, container and agent sockets often listen without authentication. Leave it off, or restrict the ports with network.egress.",
		check:   hostLoopback,
	},
	{
		ID: "CELL009", Name: "broad-domain", Severity: Medium,
		Summary: "An egress rule allows every name under a top-level domain, or every port of a name.",
		Help:    "A domain rule \"*.com\" (one label after \"*.\") lets the command reach any host under it, including one its author registers to receive what it sends; a domain rule without ports lets it reach every service of the host. Name the hosts, or the organisation's domain (\"*.githubusercontent.com\"), and the ports (443).",
		check:   broadDomain,
	},
	{
		ID: "CELL010", Name: "writable-system-path", Severity: High,
		Summary: "A host system directory is bound writable.",
		Help:    "A writable bind of /, /etc, /usr, /var or another system directory lets the command change what the host runs and how it is configured. Bind system directories read-only (the default) and make only the project directory writable.",
		check:   writableSystemPath,
	},
	{
		ID: "CELL011", Name: "writable-home", Severity: High,
		Summary: "A home directory is bound writable.",
		Help:    "A writable home lets the command plant start-up files (.bashrc, .profile, .config/autostart) that run outside the sandbox later, and change keys and tokens. Bind the project directory writable instead, and the dotfiles the command needs read-only.",
		check:   writableHome,
	},
	{
		ID: "CELL012", Name: "secrets-visible", Severity: Medium,
		Summary: "A home directory or a directory of secrets is bound.",
		Help:    "Even read-only, a bind of a home directory shows the caller's SSH keys, cloud credentials and tokens to the command. Bind only the files the command needs.",
		check:   secretsVisible,
	},
	{
		ID: "CELL013", Name: "host-root-visible", Severity: High,
		Summary: "The host's root directory is bound.",
		Help:    "A bind of / shows the command every file the caller can read, including other users' readable files, keys and the sockets of host services. Bind /usr, /lib and the directories the command needs instead.",
		check:   hostRootVisible,
	},
	{
		ID: "CELL014", Name: "host-socket", Severity: High,
		Summary: "A socket, or a directory of sockets, of the host is bound.",
		Help:    "A Unix socket is reachable through a read-only bind too: connect(2) needs no write access. The container engine's socket is root on the host; /run and /var/run hold the sockets of D-Bus, systemd and other services. Bind no socket the command does not need, and never the container engine's.",
		check:   hostSocket,
	},
	{
		ID: "CELL015", Name: "writable-exec-mount", Severity: Low,
		Summary: "A mount is both writable and executable.",
		Help:    "A command that can write a file and execute it can run programs that are not part of the reviewed image. Add noexec: true to writable binds and tmpfs mounts nothing is run from.",
		check:   writableExec,
	},
	{
		ID: "CELL016", Name: "unbounded-tmpfs", Severity: Medium,
		Summary: "A writable tmpfs has no size limit.",
		Help:    "A tmpfs lives in memory and swap; without size the kernel lets it grow to half of RAM, which a runaway command can fill. Set size on every tmpfs, and on filesystem.root unless it is read-only.",
		check:   unboundedTmpfs,
	},
	{
		ID: "CELL017", Name: "writable-root", Severity: Low,
		Summary: "The sandbox's root directory stays writable.",
		Help:    "With filesystem.root.readOnly false the command can create files anywhere no mount covers, such as /etc or /usr when they are not bound. Set readOnly: true and give writable mounts for what must change.",
		check:   writableRoot,
	},
	{
		ID: "CELL018", Name: "host-kernel-interface", Severity: Medium,
		Summary: "The host's /proc or /sys is bound.",
		Help:    "A bind of the host's /proc or /sys shows the host's processes, kernel settings and hardware; writable, it can change them. Use a mount of type proc for the sandbox's own /proc.",
		check:   hostKernelInterface,
	},
	{
		ID: "CELL019", Name: "host-devices", Severity: Medium,
		Summary: "The host's /dev, or a node under it, is bound.",
		Help:    "The host's /dev holds its disks, terminals and shared memory (binds are nodev, but /dev/shm and /dev/pts stay usable). Use a mount of type dev, which makes only null, zero, full, random, urandom and tty.",
		check:   hostDevices,
	},
	{
		ID: "CELL020", Name: "root-mapped-to-host-root", Severity: Critical,
		Summary: "An ID inside is mapped to the host's root.",
		Help:    "A uid mapped to the host's uid 0 owns the host's root-owned files in every bind, and a process that escapes is root on the host. Map to a subordinate range (ids.uidMap: {inside: 0, outside: 100000, count: 65536}) or to the caller.",
		check:   rootMapped,
	},
	{
		ID: "CELL021", Name: "root-inside", Severity: Info,
		Summary: "The command runs as uid 0 inside its user namespace.",
		Help:    "The command holds no capabilities (cell empties every set and sets no_new_privs), but it owns the files of the namespace as root and tools behave as for root. Run as the caller's uid unless root is needed.",
		check:   rootInside,
	},
	{
		ID: "CELL022", Name: "proc-unmasked", Severity: Medium,
		Summary: "A proc mount is unmasked.",
		Help:    "An unmasked /proc shows kcore, keys and timer lists and leaves /proc/sys and sysrq-trigger writable to a process with the rights. Keep proc mounts masked (the default).",
		check:   procUnmasked,
	},
	{
		ID: "CELL023", Name: "host-secret-file", Severity: High,
		Summary: "A file of the host's secrets, or a directory holding one, is bound.",
		Help:    "/etc/shadow and /etc/gshadow hold the host's password hashes, /etc/sudoers and /etc/sudoers.d who may become root, /etc/ssh the host's private SSH keys; a bind of /etc shows them all. Bind only the files of /etc the command needs (passwd, group, resolv.conf, ssl/certs...), never these; writable, they make the command root on the host.",
		check:   hostSecretFile,
	},
	{
		ID: "CELL024", Name: "writable-etc-as-host-root", Severity: Critical,
		Summary: "The host's /etc is writable by an ID that is the host's root.",
		Help:    "A writable bind of /etc (or of its passwd, shadow, sudoers...) to a sandbox whose uid 0 is the host's uid 0 (an explicit map to outside 0, or the default map for a caller that is root) lets the command add a root account or a sudo rule: it is root on the host. Bind /etc read-only, or map the sandbox to a subordinate range.",
		check:   writableEtcAsRoot,
	},
	{
		ID: "CELL025", Name: "writable-git-hooks", Severity: High,
		Summary: "A writable project bind leaves the repository's hooks and config writable.",
		Help:    "Git runs .git/hooks/* and the programs named by core.hooksPath, core.fsmonitor and core.sshCommand in .git/config on the host, at the caller's next commit or fetch: a sandbox that can write them runs code outside itself later. After the writable bind of the project, bind its .git onto itself (so it cannot be renamed away), and .git/hooks and .git/config read-only, all optional.",
		check:   writableGitHooks,
	},
	{
		ID: "CELL026", Name: "set-id-guard-off", Severity: High,
		Summary: "The set-ID guard is off beside a writable bind.",
		Help:    "What the command makes in a writable bind stays on the host, owned by the host ID the sandbox's IDs map to; nosuid on the sandbox's mount stops only execution inside. Without cell's set-ID guard the command can leave there a set-user-ID program, or give one file capabilities (CAP_SETFCAP), that another user later runs on the host with those rights: the host's root, for a sandbox whose root is the host's. An OCI bundle always reads as security.setIDGuard: false (the runtime spec has no such guard). Keep the guard (remove setIDGuard: false), make the bind read-only, or map the sandbox to a subordinate range and drop CAP_SETFCAP.",
		check:   setIDGuardOff,
	},
	{
		ID: "CELL029", Name: "writable-bind-follows-symlinks", Severity: High,
		Summary: "A writable bind's source is resolved through symlinks.",
		Help:    "cell resolves a writable bind's source without following symlinks, because a sandbox that could write there may have replaced a component by a link to anywhere on the host (out -> /etc), which the next sandbox would then get writable. followSymlinks: true turns that off. Bind the path the link points to instead.",
		check:   writableFollowsSymlinks,
	},
	{
		ID: "CELL030", Name: "secret-env", Severity: High,
		Summary: "A variable that looks like a secret enters the sandbox.",
		Help:    "A token or password in the environment is readable by everything the command runs, and shown by cell plan when set in process.env. Pass secrets through a file bound read-only, or not at all.",
		check:   secretEnv,
	},
	{
		ID: "CELL031", Name: "loader-env", Severity: Medium,
		Summary: "A variable that decides what code runs is taken from the caller.",
		Help:    "PATH, LD_PRELOAD, PYTHONPATH, NODE_OPTIONS and their like choose the programs and libraries that run; copied from the caller they name host paths and can inject code. Set them in process.env instead.",
		check:   loaderEnv,
	},
	{
		ID: "CELL032", Name: "host-service-env", Severity: Medium,
		Summary: "A variable that points at a host service is taken from the caller.",
		Help:    "SSH_AUTH_SOCK, DBUS_SESSION_BUS_ADDRESS, DOCKER_HOST, DISPLAY and their like lead the command to the caller's agents and servers; with the socket bound it can use them. Pass them only on purpose.",
		check:   hostServiceEnv,
	},
	{
		ID: "CELL033", Name: "inherited-fds", Severity: Low,
		Summary: "Descriptors of the caller cross into the sandbox.",
		Help:    "An inherited descriptor reaches whatever it refers to (a socket, a directory outside the sandbox, a pipe to a privileged process) regardless of the mounts. Inherit only descriptors made for the sandbox.",
		check:   inheritedFDs,
	},
	{
		ID: "CELL034", Name: "shared-session", Severity: Medium,
		Summary: "The command shares the caller's terminal session.",
		Help:    "With process.newSession: false the command can push keystrokes into the caller's terminal (TIOCSTI on kernels that allow it) and run them outside the sandbox. Keep newSession unset (true).",
		check:   sharedSession,
	},
	{
		ID: "CELL040", Name: "kept-capabilities", Severity: Medium,
		Summary: "The command keeps capabilities.",
		Help:    "Capabilities, even in the sandbox's own user namespace, open kernel interfaces (raw sockets, mounts, ptrace) that have held most container escapes. Keep security.capabilities empty unless the command cannot work without one.",
		check:   keptCapabilities,
	},
	{
		ID: "CELL041", Name: "cap-sys-admin", Severity: High,
		Summary: "The command keeps CAP_SYS_ADMIN.",
		Help:    "CAP_SYS_ADMIN is most of root: mounts, namespaces, BPF, and the largest kernel surface. Remove it; a nested sandbox needs seccomp.allowNestedNamespaces, not this.",
		check:   capSysAdmin,
	},
	{
		ID: "CELL042", Name: "seccomp-off", Severity: High,
		Summary: "The system call filter is off or widened.",
		Help:    "security.seccomp.mode: unconfined exposes every system call of the kernel, including those behind most kernel exploits; allowNestedNamespaces opens namespace creation. Keep the default filter and add narrow rules.",
		check:   seccompOff,
	},
	{
		ID: "CELL043", Name: "no-new-privs-off", Severity: High,
		Summary: "no_new_privs is off.",
		Help:    "Without no_new_privs a set-user-ID or file-capability program in the sandbox raises the command's rights. Keep security.noNewPrivileges unset (true).",
		check:   noNewPrivsOff,
	},
	{
		ID: "CELL050", Name: "no-memory-limit", Severity: Medium,
		Summary: "The sandbox has no memory limit.",
		Help:    "Without resources.memory.max the command can take the host's memory until the OOM killer picks a victim, which need not be the command. Set resources.memory.max (and memory.swap) to what the job needs.",
		check:   noMemoryLimit,
	},
	{
		ID: "CELL051", Name: "no-pids-limit", Severity: Medium,
		Summary: "The sandbox has no limit on its number of processes.",
		Help:    "Without resources.pids.max a fork bomb in the sandbox exhausts the host's process table. Set resources.pids.max, such as 512.",
		check:   noPidsLimit,
	},
	{
		ID: "CELL052", Name: "no-cpu-limit", Severity: Low,
		Summary: "The sandbox has no CPU limit.",
		Help:    "Without resources.cpu.max the command can keep every CPU of the host busy. Set resources.cpu.max to a number of CPUs, or a cpu.weight below 100.",
		check:   noCPULimit,
	},
	{
		ID: "CELL060", Name: "joined-namespace", Severity: High,
		Summary: "The sandbox enters an existing namespace instead of making its own.",
		Help:    "namespaces.join puts the command into a namespace that another process made: it shares that namespace's mounts, processes, network, host name, IPC objects or cgroup view with whatever else runs there, and a path under /proc/1/ns is the host's own. Join only the namespaces of a sandbox made for this purpose (an engine's pod), never the host's.",
		check:   joinedNamespace,
	},
}

// mountPath is the field path of mount i.
func mountPath(i int) string { return fmt.Sprintf("filesystem.mounts[%d]", i) }

// covers reports whether the clean absolute path dir is p or a directory
// above it.
func covers(dir, p string) bool {
	if dir == "/" || dir == p {
		return true
	}
	rest, ok := strings.CutPrefix(p, dir)
	return ok && strings.HasPrefix(rest, "/")
}

// binds calls f with each bind mount of p and its path.
func binds(p *spec.Profile, f func(at string, m *spec.Mount)) {
	if p.Namespaces.Mount == spec.Host {
		return
	}
	for i := range p.Filesystem.Mounts {
		if m := &p.Filesystem.Mounts[i]; m.Type == spec.MountBind {
			f(mountPath(i), m)
		}
	}
}

func hostNetwork(ps *pass) {
	l := &ps.p.Security.Landlock
	switch {
	case ps.p.Network.Mode == spec.NetHost && l.Mode == spec.LandlockRequire && len(l.ConnectTCP) > 0:
		open := "UDP, and binding to ports, stay open"
		if access.AbstractUnix(ps.p).Allowed {
			open = "UDP, binding to ports and the host's abstract Unix sockets stay open"
		}
		ps.reportAs(Medium, "network.mode", "set network.mode: none, or user with network.egress, unless the command needs the host's network",
			"the sandbox uses the host's network, but landlock lets it connect only to TCP ports %s (%s)", ports(l.ConnectTCP), open)
	case ps.p.Network.Mode == spec.NetHost:
		ps.report("network.mode", "set network.mode: none and namespaces.net: new (the defaults)",
			"the sandbox uses the host's network: every service the host reaches is reachable")
	case ps.p.Namespaces.Net == spec.Host:
		ps.report("namespaces.net", "set namespaces.net: new (the default)",
			"the sandbox shares the host's network namespace")
	}
}

func openEgress(ps *pass) {
	n := &ps.p.Network
	if (n.Mode == spec.NetBridge || n.Mode == spec.NetUser) && n.Egress.Default != spec.EgressDeny {
		ps.report("network.mode", "add network.egress: {default: deny, allow: [...]} with the destinations the command needs",
			"the sandbox's network (%s) has no egress allow list: it can connect anywhere that network reaches", n.Mode)
	}
}

func broadDomain(ps *pass) {
	n := &ps.p.Network
	if n.Egress.Default != spec.EgressDeny {
		return
	}
	for i, a := range n.Egress.Allow {
		if a.Domain == "" {
			continue
		}
		at := fmt.Sprintf("network.egress.allow[%d]", i)
		if suffix, ok := strings.CutPrefix(a.Domain, "*."); ok && !strings.Contains(suffix, ".") {
			ps.report(at+".domain", "name the hosts the command needs, or its organisation's domain",
				"%s allows every host under the top-level domain %s", a.Domain, suffix)
			continue
		}
		if len(a.Ports) == 0 {
			ps.reportAs(Low, at, "add ports: [443] (or the ports the command needs)",
				"%s is allowed on every port", a.Domain)
		}
	}
}

func hostLoopback(ps *pass) {
	n := &ps.p.Network
	if n.Mode != spec.NetUser || !n.HostLoopback {
		return
	}
	allowsGateway := false
	for _, a := range n.Egress.Allow {
		if p, err := a.Prefix(); err == nil && p.Contains(netip.MustParseAddr("10.0.2.2")) {
			allowsGateway = true
		}
	}
	if n.Egress.Default == spec.EgressDeny && !allowsGateway {
		return // the egress rules keep 10.0.2.2 out of reach anyway
	}
	ps.report("network.hostLoopback", "remove network.hostLoopback, or allow only the ports needed with network.egress",
		"10.0.2.2 reaches every service on the host's loopback")
}

// ports prints a list of ports: "443, 80".
func ports(ps []uint16) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ", ")
}

// namespaceOf names, for each rule of sharedNamespace, the namespace it
// checks and what sharing it gives away.
var namespaceOf = map[string]struct {
	name, gives string
	get         func(*spec.Namespaces) spec.Share
}{
	"CELL002": {"user", "the command runs with the caller's real credentials", func(n *spec.Namespaces) spec.Share { return n.User }},
	"CELL003": {"pid", "the command sees every process of the host and can signal the caller's", func(n *spec.Namespaces) spec.Share { return n.PID }},
	"CELL004": {"ipc", "the command can use the host's shared memory and message queues", func(n *spec.Namespaces) spec.Share { return n.IPC }},
	"CELL005": {"mount", "the command sees the host's whole file system as the caller does", func(n *spec.Namespaces) spec.Share { return n.Mount }},
}

// sharedNamespace returns the check of a rule of namespaceOf.
func sharedNamespace(id string) func(*pass) {
	return func(ps *pass) {
		ns := namespaceOf[id]
		if ns.get(&ps.p.Namespaces) != spec.Host {
			return
		}
		gives := ns.gives
		if id == "CELL005" && ps.p.Filesystem.Root.Path != "" {
			// Critical still: the root directory is no boundary.
			gives = "the command is chrooted into " + ps.p.Filesystem.Root.Path +
				", which is no boundary for a process with CAP_SYS_CHROOT (it can chroot out of it to the host's whole file system), and cell makes the sandbox's mounts under that directory in the host's mount table (unmounted after the sandbox)"
		}
		ps.report("namespaces."+ns.name, "set namespaces."+ns.name+": new (the default)",
			"namespaces.%s is host: %s", ns.name, gives)
	}
}

// joinedNamespace reports each namespace the profile joins, graver for
// the kinds whose sharing the host-namespace rules rate graver, and
// critical for the host's own (a path under /proc/1/ns, pid 1 of the
// caller's PID namespace).
func joinedNamespace(ps *pass) {
	sev := map[string]Severity{"mount": Critical, "pid": High, "net": High, "ipc": Medium, "uts": Low, "cgroup": Low}
	gives := map[string]string{
		"mount":  "the command's mounts are made in it and it sees that namespace's file system",
		"pid":    "the command sees and can signal that namespace's processes",
		"net":    "the command uses that namespace's interfaces, addresses and listening sockets",
		"ipc":    "the command can use that namespace's shared memory and message queues",
		"uts":    "the command shares that namespace's host name",
		"cgroup": "the command sees cgroup paths from that namespace's root",
	}
	for _, k := range ps.p.Namespaces.Join.Kinds() {
		kind, p := k[0], k[1]
		s, whose := sev[kind], ""
		if strings.HasPrefix(path.Clean(p), "/proc/1/ns/") {
			s, whose = Critical, " (the host's own: pid 1's)"
		}
		ps.reportAs(s, "namespaces.join."+kind, "join only a namespace made for the sandbox, or remove namespaces.join."+kind,
			"namespaces.join.%s enters %s%s: %s", kind, p, whose, gives[kind])
	}
}

func minorNamespaces(ps *pass) {
	n := &ps.p.Namespaces
	for _, c := range []struct {
		name  string
		share spec.Share
		sev   Severity
		gives string
	}{
		{"uts", n.UTS, Low, "the command sees the host's host name"},
		{"cgroup", n.Cgroup, Low, "the command sees the host's cgroup hierarchy"},
		{"time", n.Time, Info, "the command shares the host's monotonic and boot clocks"},
	} {
		if c.share == spec.Host {
			ps.reportAs(c.sev, "namespaces."+c.name, "set namespaces."+c.name+": new (the default) where the kernel has it",
				"namespaces.%s is host: %s", c.name, c.gives)
		}
	}
}

// systemDirs are host directories whose writable bind changes the host.
var systemDirs = []string{"/bin", "/boot", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/sbin", "/srv", "/usr", "/var"}

func writableSystemPath(ps *pass) {
	binds(ps.p, func(at string, m *spec.Mount) {
		if !m.Writable {
			return
		}
		switch {
		case m.Source == "/":
			ps.reportAs(Critical, at+".writable", "bind only the directories the command needs, read-only, and the project directory writable",
				"writable bind of the host's root: the command can change every file the caller can")
		case isSocketPath(m.Source) || underAny(m.Source, []string{"/proc", "/sys", "/dev"}):
			// host-socket, host-kernel-interface or host-devices says it.
		default:
			for _, d := range systemDirs {
				if covers(d, m.Source) || covers(m.Source, d) {
					ps.report(at+".writable", "drop writable: true; bind a directory made for the sandbox's output instead",
						"writable bind of %s, a host system directory: the command can change what the host runs", m.Source)
					return
				}
			}
		}
	})
}

// homes returns the directories treated as home directories.
func (ps *pass) homes() []string {
	h := []string{"/home", "/root"}
	if home := path.Clean(ps.opts.Home); path.IsAbs(home) && home != "/" && !slices.Contains(h, home) {
		h = append(h, home)
	}
	return h
}

// isHome reports whether dir is one of homes, a directory holding one
// (other than /), or a direct child of /home.
func (ps *pass) isHome(dir string) bool {
	if dir == "/" {
		return false
	}
	if path.Dir(dir) == "/home" {
		return true
	}
	for _, h := range ps.homes() {
		if covers(dir, h) {
			return true
		}
	}
	return false
}

// secretDirs are the places under a home directory that hold credentials.
var secretDirs = []string{
	".ssh", ".gnupg", ".aws", ".azure", ".config/gcloud", ".kube", ".docker",
	".netrc", ".npmrc", ".pypirc", ".git-credentials", ".config/gh", ".password-store",
}

// secretDir returns the secret place of secretDirs that src is or is
// under, in one of the homes or a directory of /home.
func (ps *pass) secretDir(src string) (string, bool) {
	homes := ps.homes()
	if rest, ok := strings.CutPrefix(src, "/home/"); ok {
		if user, _, ok := strings.Cut(rest, "/"); ok {
			homes = append(homes, "/home/"+user)
		}
	}
	for _, h := range homes {
		for _, s := range secretDirs {
			if d := path.Join(h, s); covers(d, src) {
				return d, true
			}
		}
		// A directory of a home that holds one, such as ~/.config for
		// ~/.config/gcloud; the home itself is writable-home's or
		// secrets-visible's home finding.
		if src == h || !covers(h, src) {
			continue
		}
		for _, s := range secretDirs {
			if d := path.Join(h, s); covers(src, d) {
				return d, true
			}
		}
	}
	return "", false
}

func writableHome(ps *pass) {
	binds(ps.p, func(at string, m *spec.Mount) {
		if m.Writable && ps.isHome(m.Source) {
			ps.report(at+".writable", "bind the project directory writable instead, and the dotfiles the command needs read-only",
				"writable bind of %s, a home directory: the command can plant start-up files and change keys", m.Source)
		}
	})
}

func secretsVisible(ps *pass) {
	binds(ps.p, func(at string, m *spec.Mount) {
		if d, ok := ps.secretDir(m.Source); ok {
			ps.reportAs(High, at+".source", "bind only the one file the command needs, or hand it a token made for it",
				"bind of %s shows the caller's credentials (%s) to the command", m.Source, d)
			return
		}
		if !m.Writable && ps.isHome(m.Source) {
			ps.report(at+".source", "bind only the files of the home directory the command needs",
				"bind of %s shows the caller's home, with its keys and tokens, to the command", m.Source)
		}
	})
}

func hostRootVisible(ps *pass) {
	binds(ps.p, func(at string, m *spec.Mount) {
		if m.Source == "/" && !m.Writable {
			ps.report(at+".source", "bind /usr, /lib and the directories the command needs instead",
				"bind of the host's root: the command can read every file the caller can")
		}
	})
}

// engineSockets are the sockets of container engines: control of one is
// root on the host.
var engineSockets = []string{
	"/run/docker.sock", "/var/run/docker.sock",
	"/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock",
	"/run/podman/podman.sock", "/var/run/podman/podman.sock",
	"/run/crio/crio.sock", "/var/run/crio/crio.sock",
	"/run/buildkit/buildkitd.sock",
}

// socketDirs are directories that hold the sockets of host services.
var socketDirs = []string{"/run", "/var/run", "/tmp/.X11-unix", "/tmp/.ICE-unix"}

// isSocketPath reports whether src is a socket or under a socket directory.
func isSocketPath(src string) bool {
	return strings.HasSuffix(src, ".sock") || strings.HasSuffix(src, ".socket") || underAny(src, socketDirs)
}

// underAny reports whether p is one of dirs or under one.
func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if covers(d, p) {
			return true
		}
	}
	return false
}

// userEngineSockets are the sockets of rootless container engines in a
// user's runtime directory ($XDG_RUNTIME_DIR, /run/user/UID): control of
// one is control of that user's containers, and of all the user reaches.
var userEngineSockets = []string{"podman/podman.sock", "docker.sock", "containerd/containerd.sock", "buildkit/buildkitd.sock"}

// holdsUserEngineSocket returns the rootless engine socket that src is or
// holds ("*" stands for every user's directory).
func holdsUserEngineSocket(src string) (string, bool) {
	for _, base := range []string{"/run/user", "/var/run/user"} {
		rest, ok := strings.CutPrefix(src, base)
		if !ok || rest != "" && rest[0] != '/' {
			continue
		}
		user, _, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
		if user == "" {
			user = "*"
		}
		for _, s := range userEngineSockets {
			if sock := path.Join(base, user, s); user == "*" || covers(src, sock) {
				return sock, true
			}
		}
	}
	return "", false
}

func hostSocket(ps *pass) {
	binds(ps.p, func(at string, m *spec.Mount) {
		if m.Source == "/" {
			return // host-root-visible says it
		}
		if s, ok := holdsUserEngineSocket(m.Source); ok {
			ps.reportAs(Critical, at+".source", "remove the bind: no sandbox should hold a container engine's socket",
				"bind of %s gives the command the rootless container engine's socket %s, which controls the user's containers and everything the user can reach", m.Source, s)
			return
		}
		for _, s := range engineSockets {
			if covers(m.Source, s) {
				ps.reportAs(Critical, at+".source", "remove the bind: no sandbox should hold the container engine's socket",
					"bind of %s gives the command the container engine's socket %s, which is root on the host", m.Source, s)
				return
			}
		}
		var holds string
		for _, d := range socketDirs {
			if covers(m.Source, d) {
				holds = d
				break
			}
		}
		switch {
		case holds != "":
			ps.report(at+".source", "bind only the one socket the command needs, or none",
				"bind of %s shows the command the sockets of host services in %s; read-only does not stop connect(2)", m.Source, holds)
		case isSocketPath(m.Source):
			ps.report(at+".source", "bind only the one socket the command needs, or none",
				"bind of %s gives the command a host service's socket; read-only does not stop connect(2)", m.Source)
		}
	})
}

// writableExec reports the mounts where the command can write a file and
// then run it, by what the mount table and landlock enforce together.
func writableExec(ps *pass) {
	paths := access.Files(ps.p)
	for i, a := range paths {
		m := &ps.p.Filesystem.Mounts[i]
		at := mountPath(i)
		what := m.Target
		// The cases not named share the default.
		//exhaustive:ignore
		switch m.Type {
		case spec.MountBind:
			at += ".writable"
		case spec.MountTmpfs, spec.MountOverlay:
			what = m.Type.String() + " " + m.Target
		default:
			continue
		}
		hint := "add noexec: true if nothing is run from " + m.Target
		switch {
		case !a.Write.Allowed:
		case a.Exec.Allowed && slices.Contains(a.Exec.By, access.Landlock):
			ps.report(at, hint, "%s is writable and executable, by the mount and by landlock: the command can write a program and run it", what)
		case a.Exec.Allowed:
			ps.report(at, hint, "%s is writable and executable: the command can write a program and run it", what)
		case !slices.Contains(a.Exec.By, access.Mount):
			ps.report(at, hint, "%s is writable, and only landlock refuses execve there: the dynamic loader can still run a program written there (ld.so ./prog)", what)
		}
	}
}

func unboundedTmpfs(ps *pass) {
	p := ps.p
	if p.Namespaces.Mount == spec.Host {
		return
	}
	if r := p.Filesystem.Root; r.Size == 0 && !r.ReadOnly && r.Path == "" {
		ps.report("filesystem.root.size", "set filesystem.root.size (16Mi is plenty for mount points), or readOnly: true",
			"the writable root tmpfs has no size: the command can fill memory up to the kernel's default of half of RAM")
	}
	for i, m := range p.Filesystem.Mounts {
		if m.Type == spec.MountTmpfs && m.Size == 0 {
			ps.report(mountPath(i), "set size, such as size: 256Mi",
				"tmpfs %s has no size: the command can fill memory up to the kernel's default of half of RAM", m.Target)
		}
	}
}

func writableRoot(ps *pass) {
	if r := ps.p.Filesystem.Root; ps.p.Namespaces.Mount == spec.New && !r.ReadOnly && r.Path != "" {
		// Not a tmpfs that goes with the sandbox: the host's files.
		ps.reportAs(High, "filesystem.root.path", "set filesystem.root.readOnly: true (root.readonly in config.json) and give writable mounts for what must change",
			"the root is the host's directory %s, writable: the command can change its files on the host", r.Path)
		return
	}
	if ps.p.Namespaces.Mount == spec.New && !ps.p.Filesystem.Root.ReadOnly {
		ps.report("filesystem.root.readOnly", "set filesystem.root.readOnly: true and give writable mounts for what must change",
			"the sandbox's root stays writable: the command can create files wherever no mount covers")
	}
}

func hostKernelInterface(ps *pass) {
	binds(ps.p, func(at string, m *spec.Mount) {
		if m.Source == "/" || !underAny(m.Source, []string{"/proc", "/sys"}) {
			return
		}
		sev, how := Medium, "shows"
		if m.Writable {
			sev, how = High, "lets the command change"
		}
		ps.reportAs(sev, at+".source", "use a mount of type proc for the sandbox's own /proc; bind nothing of /sys",
			"bind of the host's %s %s the host's processes and kernel settings", m.Source, how)
	})
}

func hostDevices(ps *pass) {
	binds(ps.p, func(at string, m *spec.Mount) {
		if m.Source == "/" || !covers("/dev", m.Source) {
			return
		}
		sev := Medium
		if m.Writable {
			sev = High
		}
		ps.reportAs(sev, at+".source", "use a mount of type dev, which makes only null, zero, full, random, urandom and tty",
			"bind of the host's %s gives the command host device nodes, shared memory or terminals", m.Source)
	})
}

func rootMapped(ps *pass) {
	ids := &ps.p.IDs
	if ps.p.Namespaces.User == spec.Host {
		return
	}
	for _, m := range []struct {
		field  string
		ranges []spec.IDRange
		sev    Severity
		what   string
	}{
		{"ids.uidMap", ids.UIDMap, Critical, "uid"},
		{"ids.gidMap", ids.GIDMap, High, "gid"},
	} {
		for i, r := range m.ranges {
			if r.Outside != 0 {
				continue
			}
			at := fmt.Sprintf("%s[%d].outside", m.field, i)
			who := fmt.Sprintf("%s %d inside is", m.what, r.Inside)
			if r.Inside == 0 {
				who = fmt.Sprintf("%s 0 inside (root) is", m.what)
			}
			ps.reportAs(m.sev, at, "map to a subordinate range, such as {inside: 0, outside: 100000, count: 65536}",
				"%s the host's %s 0: it owns the host's root files in every bind", who, m.what)
		}
	}
}

func rootInside(ps *pass) {
	if ps.p.Namespaces.User == spec.New && ps.p.IDs.UID == 0 {
		ps.report("ids.uid", "set ids.uid: ${UID} to run as the caller",
			"the command runs as uid 0 inside its user namespace (with no capabilities)")
	}
}

var (
	// secretNameRE matches variable names that usually hold secrets.
	secretNameRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|_AUTH$|^AUTH_)`)
	})
	// loaderNames are variables that choose the code that runs.
	loaderNames = []string{
		"PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GCONV_PATH", "BASH_ENV", "ENV",
		"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "NODE_OPTIONS", "NODE_PATH",
		"PERL5LIB", "PERL5OPT", "RUBYLIB", "RUBYOPT", "CLASSPATH", "JAVA_TOOL_OPTIONS",
		"GIT_EXEC_PATH", "GIT_SSH_COMMAND",
	}
	// serviceNames are variables that point at the caller's services.
	serviceNames = []string{
		"SSH_AUTH_SOCK", "GPG_AGENT_INFO", "DBUS_SESSION_BUS_ADDRESS", "DOCKER_HOST",
		"XDG_RUNTIME_DIR", "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "KUBECONFIG",
		"CONTAINER_HOST", "PULSE_SERVER",
	}
)

// isSecretName reports whether name looks like a secret's and is not
// covered by a more specific rule.
func isSecretName(name string) bool {
	return secretNameRE().MatchString(name) && !slices.Contains(serviceNames, name)
}

func secretEnv(ps *pass) {
	for i, name := range ps.p.Process.PassEnv {
		if isSecretName(name) {
			ps.report(fmt.Sprintf("process.passEnv[%d]", i), "do not pass "+name+"; give the command a file with a token made for it",
				"passEnv copies %s, which looks like a secret, from the caller", name)
		}
	}
	for _, name := range sortedKeys(ps.p.Process.Env) {
		if isSecretName(name) {
			ps.reportAs(Medium, "process.env."+name, "do not put secrets in the profile; bind a file with the secret read-only",
				"process.env sets %s, which looks like a secret: cell plan shows it and every process inside reads it", name)
		}
	}
}

func loaderEnv(ps *pass) {
	for i, name := range ps.p.Process.PassEnv {
		if slices.Contains(loaderNames, name) {
			ps.report(fmt.Sprintf("process.passEnv[%d]", i), "set "+name+" in process.env to a value that is right inside",
				"passEnv copies %s from the caller: the caller's value decides what code runs inside", name)
		}
	}
}

func hostServiceEnv(ps *pass) {
	for i, name := range ps.p.Process.PassEnv {
		if slices.Contains(serviceNames, name) {
			ps.report(fmt.Sprintf("process.passEnv[%d]", i), "pass "+name+" only if the command must use that service",
				"passEnv copies %s, which leads the command to a service of the caller", name)
		}
	}
}

func inheritedFDs(ps *pass) {
	for i, fd := range ps.p.Process.InheritFDs {
		ps.report(fmt.Sprintf("process.inheritFds[%d]", i), "inherit only descriptors opened for the sandbox",
			"descriptor %d of the caller crosses into the sandbox, whatever it refers to", fd)
	}
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func noMemoryLimit(ps *pass) {
	if m := ps.p.Resources.Memory.Max; m == nil || m.Max {
		ps.report("resources.memory.max", "set resources.memory.max, such as 2Gi",
			"no memory limit: the command can take the host's memory")
	}
}

func noPidsLimit(ps *pass) {
	if m := ps.p.Resources.Pids.Max; m == nil || m.Max {
		ps.report("resources.pids.max", "set resources.pids.max, such as 512",
			"no limit on processes: a fork bomb exhausts the host's process table")
	}
}

func noCPULimit(ps *pass) {
	c := &ps.p.Resources.CPU
	if (c.Max == nil || c.Max.Max) && (c.Weight == 0 || c.Weight >= 100) && c.Cpus == "" {
		ps.report("resources.cpu.max", "set resources.cpu.max to a number of CPUs, such as 2",
			"no CPU limit: the command can keep every CPU of the host busy")
	}
}

func procUnmasked(ps *pass) {
	for i, m := range ps.p.Filesystem.Mounts {
		if m.Type == spec.MountProc && m.Unmasked {
			ps.report(mountPath(i)+".unmasked", "remove unmasked: true",
				"proc at %s is unmasked: kernel memory and settings are exposed", m.Target)
		}
	}
}

func writableFollowsSymlinks(ps *pass) {
	binds(ps.p, func(at string, m *spec.Mount) {
		if m.Writable && m.FollowSymlinks {
			ps.report(at+".followSymlinks", "remove followSymlinks: true and bind the path the link points to",
				"writable bind of %s follows symlinks: a link a sandbox planted there sends the bind anywhere on the host", m.Source)
		}
	})
}

func sharedSession(ps *pass) {
	if !ps.p.Process.IsNewSession() {
		ps.report("process.newSession", "remove newSession: false",
			"the command shares the caller's session and can push keystrokes into its terminal")
	}
}

func keptCapabilities(ps *pass) {
	for _, c := range ps.p.Security.Capabilities.Kept() {
		if c != "CAP_SYS_ADMIN" {
			ps.report("security.capabilities", "remove "+string(c)+" unless the command cannot work without it",
				"the command keeps %s", c)
		}
	}
}

func capSysAdmin(ps *pass) {
	for _, c := range ps.p.Security.Capabilities.Kept() {
		if c == "CAP_SYS_ADMIN" {
			ps.report("security.capabilities", "remove CAP_SYS_ADMIN; for nested sandboxes set seccomp.allowNestedNamespaces instead",
				"the command keeps CAP_SYS_ADMIN, most of root's power in its namespaces")
		}
	}
}

func seccompOff(ps *pass) {
	sc := &ps.p.Security.Seccomp
	if sc.Mode == spec.SeccompUnconfined {
		ps.report("security.seccomp.mode", "remove mode: unconfined and add rules for the system calls the command needs",
			"no system call filter: every system call of the kernel is reachable")
	}
	if sc.AllowNestedNamespaces {
		ps.reportAs(Medium, "security.seccomp.allowNestedNamespaces", "allow nested namespaces only for a command that makes sandboxes itself",
			"the command may create namespaces, a large kernel surface")
	}
}

func noNewPrivsOff(ps *pass) {
	if !ps.p.Security.NoNewPrivs() {
		ps.report("security.noNewPrivileges", "remove noNewPrivileges: false",
			"no_new_privs is off: set-user-ID programs can raise the command's rights")
	}
}

// secretFiles are the host's files of secrets under /etc, and what each
// holds.
var secretFiles = []struct{ path, what string }{
	{"/etc/shadow", "password hashes"},
	{"/etc/shadow-", "password hashes"},
	{"/etc/gshadow", "group password hashes"},
	{"/etc/gshadow-", "group password hashes"},
	{"/etc/sudoers", "sudo rules"},
	{"/etc/sudoers.d", "sudo rules"},
	{"/etc/ssh", "SSH host keys"},
	{"/etc/security/opasswd", "old password hashes"},
	{"/etc/ssl/private", "TLS private keys"},
	{"/etc/krb5.keytab", "Kerberos keys"},
}

func hostSecretFile(ps *pass) {
	binds(ps.p, func(at string, m *spec.Mount) {
		if m.Source == "/" {
			return // host-root-visible says it
		}
		var names, whats []string
		for _, f := range secretFiles {
			if covers(m.Source, f.path) || covers(f.path, m.Source) {
				names = append(names, f.path)
				if !slices.Contains(whats, f.what) {
					whats = append(whats, f.what)
				}
			}
		}
		if len(names) == 0 {
			return
		}
		sev, how := High, "shows"
		if m.Writable {
			sev, how = Critical, "lets the command change"
		}
		if len(names) > 3 {
			names = append(names[:3], "...")
		}
		ps.reportAs(sev, at+".source", "bind only the files of /etc the command needs (passwd, group, resolv.conf, ssl/certs), never these",
			"bind of %s %s the host's %s (%s)", m.Source, how, strings.Join(whats, ", "), strings.Join(names, ", "))
	})
}

// etcFiles are the files of /etc whose change makes a user root.
var etcFiles = []string{"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/sudoers", "/etc/sudoers.d", "/etc/pam.d", "/etc/ld.so.preload", "/etc/crontab", "/etc/cron.d", "/etc/systemd"}

// rootIsHostRoot says whether uid 0 inside can be the host's uid 0: an
// explicit map to outside 0, or no map at all, which maps the command to
// the caller (root, when root runs it).
func rootIsHostRoot(p *spec.Profile) (string, bool) {
	if p.Namespaces.User == spec.Host {
		return "the sandbox shares the host's user namespace", true
	}
	if len(p.IDs.UIDMap) == 0 {
		return "the default map makes the command the caller, the host's root when root runs it", true
	}
	for _, r := range p.IDs.UIDMap {
		if r.Outside == 0 {
			return "ids.uidMap maps an ID to the host's uid 0", true
		}
	}
	return "", false
}

func writableEtcAsRoot(ps *pass) {
	why, ok := rootIsHostRoot(ps.p)
	if !ok {
		return
	}
	binds(ps.p, func(at string, m *spec.Mount) {
		if !m.Writable || m.Source == "/" {
			return // writable-system-path says it, critically, for /
		}
		for _, f := range etcFiles {
			if covers(m.Source, f) {
				ps.report(at+".writable", "bind /etc (and its files) read-only, or map the sandbox to a subordinate range",
					"writable bind of %s lets the command change %s, and %s: it can make itself root on the host", m.Source, f, why)
				return
			}
		}
	})
}

// setIDGuardOff reports each writable bind of a profile without the
// set-ID guard: critically when the sandbox's root is the host's.
func setIDGuardOff(ps *pass) {
	if ps.p.Security.GuardsSetID() {
		return
	}
	sev, who := High, "the host IDs the sandbox's map to"
	if why, ok := rootIsHostRoot(ps.p); ok {
		sev, who = Critical, "the host's root ("+why+")"
	}
	binds(ps.p, func(at string, m *spec.Mount) {
		if m.Writable {
			ps.reportAs(sev, at+".writable", "remove security.setIDGuard: false, or bind it read-only",
				"without the set-ID guard the command can leave set-user-ID or file-capability programs in %s that run on the host as %s", m.Source, who)
		}
	})
}

// writableGitHooks reports a writable bind of the working directory (or of
// a directory that holds it) that leaves the repository's hooks and
// config writable.
func writableGitHooks(ps *pass) {
	pwd := ps.opts.PWD
	if pwd == "" || !path.IsAbs(pwd) {
		return
	}
	mounts := ps.p.Filesystem.Mounts
	binds(ps.p, func(at string, m *spec.Mount) {
		if !m.Writable || m.Source == "/" || !covers(m.Source, pwd) {
			return
		}
		git := path.Join(m.Target, strings.TrimPrefix(pwd, m.Source), ".git")
		has := func(target string, writable bool) bool {
			return slices.ContainsFunc(mounts, func(o spec.Mount) bool {
				return o.Type == spec.MountBind && o.Target == target && o.Writable == writable
			})
		}
		var open []string
		if !has(git, true) && !has(git, false) {
			open = append(open, git+" (can be renamed away and replaced)")
		}
		for _, f := range []string{"hooks", "config"} {
			if !has(path.Join(git, f), false) {
				open = append(open, path.Join(git, f))
			}
		}
		if len(open) == 0 {
			return
		}
		ps.report(at+".writable", fmt.Sprintf("after this bind add {type: bind, source: %q, target: %q, writable: true, noexec: true, optional: true} and read-only optional binds of its hooks and config", path.Join(m.Source, strings.TrimPrefix(pwd, m.Source), ".git"), git),
			"writable bind of %s leaves %s writable: the command can plant git hooks (hooks/*, core.hooksPath, core.fsmonitor) that the host runs at the caller's next commit", m.Source, strings.Join(open, ", "))
	})
}
