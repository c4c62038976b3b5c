// Package access works out what a sandboxed command can do from the
// enforcement a profile compiles to, and which mechanism decides each
// answer: the mount table (what is bound, read-only, noexec), landlock
// (path rules, TCP port rules, scopes), the namespaces (network, pid) and
// the sandbox's nftables egress rules. cell explain and cell lint both ask
// it, so that neither says more, or less, than the kernel will enforce.
//
// It mirrors what internal/compile makes of a profile (binds read-only
// unless writable, noexec only when asked, landlock's rights granted by
// every rule whose path holds the object); a test in internal/compile
// compares its answers with the compiled plans of the built-in profiles.
// Like spec, it does no host I/O.
package access

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cellsandbox/cell/spec"
)

// Mechanism is what decides an answer.
type Mechanism string

// The mechanisms.
const (
	// Mount is the sandbox's mount table: what is bound, read-only or
	// noexec.
	Mount Mechanism = "mount"
	// Landlock is the landlock ruleset (paths, TCP ports, scopes).
	Landlock Mechanism = "landlock"
	// Namespace is a namespace of the sandbox's own (network, pid).
	Namespace Mechanism = "namespace"
	// Egress is the nftables output chain in the sandbox's network
	// namespace (network.egress).
	Egress Mechanism = "egress"
	// Network is the network mode's reach (bridge without NAT, user-mode
	// stack without host loopback).
	Network Mechanism = "network"
)

// Verdict is one answer: whether the command can, and what decides it.
type Verdict struct {
	// Allowed says whether the command can.
	Allowed bool `json:"allowed"`
	// By names the mechanisms that refuse it, or that let it through.
	By []Mechanism `json:"by"`
	// Note adds a limit of the answer, such as what landlock cannot stop.
	Note string `json:"note,omitempty"`
}

func (v Verdict) String() string {
	word := "denied"
	if v.Allowed {
		word = "allowed"
	}
	by := make([]string, len(v.By))
	for i, m := range v.By {
		by[i] = string(m)
	}
	s := word + " by " + strings.Join(by, " and ")
	if v.Note != "" {
		s += " (" + v.Note + ")"
	}
	return s
}

func allowed(by ...Mechanism) Verdict { return Verdict{Allowed: true, By: by} }
func denied(by ...Mechanism) Verdict  { return Verdict{By: by} }

// Path is what the command can do with one mount of the profile.
type Path struct {
	// Path is the mount's target inside the sandbox.
	Path string `json:"path"`
	// Source is the host path of a bind (or the topmost lower directory
	// of an overlay); empty for the sandbox's own file systems.
	Source string `json:"source,omitempty"`
	// Type is the mount's type (bind, tmpfs, overlay, proc, dev, dir,
	// file, symlink).
	Type string `json:"type"`
	// Optional is set when the mount is skipped if its source is missing.
	Optional bool `json:"optional,omitempty"`
	// Read, Write and Exec say whether the command can read, change and
	// execve files there.
	Read  Verdict `json:"read"`
	Write Verdict `json:"write"`
	Exec  Verdict `json:"exec"`
}

// loaderNote is what landlock's execute right cannot stop.
const loaderNote = "landlock refuses execve only: the dynamic loader can still map and run a program from here (ld.so ./prog); a noexec mount stops that"

// landlockFS reports whether landlock restricts file access.
func landlockFS(l *spec.Landlock) bool {
	return l.Mode != spec.LandlockOff && len(l.ReadOnly)+len(l.ReadWrite)+len(l.ReadExec) > 0
}

// within reports whether p is dir or beneath it.
func within(p, dir string) bool {
	if dir == "/" || p == dir {
		return true
	}
	rest, ok := strings.CutPrefix(p, dir)
	return ok && strings.HasPrefix(rest, "/")
}

// rights returns what landlock grants at p: each list whose path holds p
// adds its rights, as the kernel's path-beneath rules do.
func rights(l *spec.Landlock, p string) (read, write, exec bool) {
	for _, d := range l.ReadOnly {
		if within(p, d) {
			read = true
		}
	}
	for _, d := range l.ReadExec {
		if within(p, d) {
			read, exec = true, true
		}
	}
	for _, d := range l.ReadWrite {
		if within(p, d) {
			read, write = true, true
		}
	}
	return
}

// Files returns, for each mount of p in order, what the command can do
// there. A mount namespace shared with the host gives nil: the mounts do
// not apply.
func Files(p *spec.Profile) []Path {
	if p.Namespaces.Mount == spec.Host {
		return nil
	}
	l := &p.Security.Landlock
	ll := landlockFS(l)
	var out []Path
	for _, m := range p.Filesystem.Mounts {
		e := Path{Path: m.Target, Type: m.Type.String(), Optional: m.Optional}
		var mountRO, mountNoExec bool
		switch m.Type {
		case spec.MountInvalid:
		case spec.MountBind:
			e.Source = m.Source
			mountRO, mountNoExec = !m.Writable, m.NoExec
		case spec.MountOverlay:
			if len(m.Lower) > 0 {
				e.Source = m.Lower[0]
			}
			mountNoExec = m.NoExec
		case spec.MountTmpfs:
			mountNoExec = m.NoExec
		case spec.MountProc:
			// A proc mount is always noexec; what of it is writable is
			// the kernel's choice (sys and sysrq-trigger are read-only
			// unless unmasked).
			mountNoExec = true
		case spec.MountDev:
			// The dev tmpfs is noexec; its nodes are bound one by one.
			mountNoExec = true
		case spec.MountSysfs, spec.MountCgroup:
			mountRO, mountNoExec = true, true
		case spec.MountMqueue:
			mountNoExec = true
		case spec.MountDir, spec.MountFile, spec.MountSymlink:
			// Made on the root, which is read-only when it says so.
			mountRO = p.Filesystem.Root.ReadOnly
		}
		lr, lw, lx := rights(l, m.Target)
		note := ""
		if l.Mode == spec.LandlockBestEffort {
			note = "landlock in best-effort mode: only where the kernel has landlock ABI 3 or later"
		}
		e.Read = allowed(Mount)
		if ll {
			if lr {
				e.Read = allowed(Mount, Landlock)
			} else {
				e.Read = Verdict{By: []Mechanism{Landlock}, Note: note}
			}
		}
		switch {
		case mountRO:
			e.Write = denied(Mount)
		case ll && !lw:
			e.Write = Verdict{By: []Mechanism{Landlock}, Note: note}
		case ll:
			e.Write = allowed(Mount, Landlock)
		default:
			e.Write = allowed(Mount)
		}
		switch {
		case mountNoExec && ll && !lx:
			e.Exec = denied(Mount, Landlock)
		case mountNoExec:
			e.Exec = denied(Mount)
		case ll && !lx:
			e.Exec = Verdict{By: []Mechanism{Landlock}, Note: strings.Trim(loaderNote+"; "+note, "; ")}
		case ll:
			e.Exec = allowed(Mount, Landlock)
		default:
			e.Exec = allowed(Mount)
		}
		out = append(out, e)
	}
	return out
}

// Reach is one kind of network or process access from inside.
type Reach struct {
	// What names the access: "tcp-connect", "udp-send", "tcp-bind",
	// "abstract-unix", "signal".
	What string `json:"what"`
	// To is where: "outside" (an address beyond the host), "host" (the
	// host's own services), or "host-process".
	To string `json:"to"`
	// Port is the port of a TCP or UDP access, 0 for any other.
	Port uint16 `json:"port,omitempty"`
	// Verdict says whether it works and what decides.
	Verdict
}

func (r Reach) String() string {
	s := r.What + " " + r.To
	if r.Port != 0 {
		s += fmt.Sprintf(" port %d", r.Port)
	}
	return s + ": " + r.Verdict.String()
}

// hostNet reports whether the sandbox shares the host's network.
func hostNet(p *spec.Profile) bool {
	// A joined network namespace is another process's, whose reach the
	// profile does not say: claimed as the host's, the widest it can be.
	return p.Network.Mode == spec.NetHost || p.Namespaces.Net == spec.Host || p.Namespaces.Join.Net != ""
}

// scoped reports whether landlock (require or best effort) scopes what.
func scoped(l *spec.Landlock, what spec.LandlockScope) bool {
	return l.Mode != spec.LandlockOff && slices.Contains(l.Scope, what)
}

// AbstractUnix says whether the command can connect to an abstract Unix
// socket that a process of the host bound.
func AbstractUnix(p *spec.Profile) Verdict {
	l := &p.Security.Landlock
	switch {
	case !hostNet(p) && scoped(l, spec.ScopeAbstractUnix):
		return denied(Namespace, Landlock)
	case !hostNet(p):
		return denied(Namespace)
	case scoped(l, spec.ScopeAbstractUnix):
		return denied(Landlock)
	}
	return allowed(Namespace)
}

// Signal says whether the command can signal a process of the host.
func Signal(p *spec.Profile) Verdict {
	l := &p.Security.Landlock
	own := p.Namespaces.PID != spec.Host
	switch {
	case own && scoped(l, spec.ScopeSignal):
		return denied(Namespace, Landlock)
	case own:
		return denied(Namespace)
	case scoped(l, spec.ScopeSignal):
		return denied(Landlock)
	}
	return allowed(Namespace)
}

// egressAllows reports whether the egress rules let a packet of proto to
// port out to an address beyond the host, and whether there are rules.
func egressAllows(n *spec.Network, proto string, port uint16) (ok, filtered bool) {
	if n.Egress.Default != spec.EgressDeny {
		return true, false
	}
	for _, a := range n.Egress.Allow {
		if a.Proto != "" && a.Proto != proto {
			continue
		}
		if len(a.Ports) > 0 && !slices.Contains(a.Ports, port) {
			continue
		}
		pre, err := a.Prefix()
		if err != nil || pre.Bits() != 0 {
			// Only a rule for every address admits an arbitrary
			// destination beyond the host.
			continue
		}
		return true, true
	}
	return false, true
}

// Connect says whether the command can reach port of an address beyond
// the host (to "outside") with proto "tcp" (a connect) or "udp" (a
// datagram that leaves the sandbox).
func Connect(p *spec.Profile, proto string, port uint16) Verdict {
	n := &p.Network
	l := &p.Security.Landlock
	if proto == "tcp" && l.Mode != spec.LandlockOff && len(l.ConnectTCP) > 0 && !slices.Contains(l.ConnectTCP, port) {
		if hostNet(p) {
			return denied(Landlock)
		}
		if ok, filtered := egressAllows(n, proto, port); filtered && !ok {
			return denied(Egress, Landlock)
		}
		return denied(Landlock)
	}
	if hostNet(p) {
		by := []Mechanism{Namespace}
		if proto == "tcp" && l.Mode != spec.LandlockOff && len(l.ConnectTCP) > 0 {
			by = append(by, Landlock)
		}
		return allowed(by...)
	}
	switch {
	case n.Mode == spec.NetNone:
		return denied(Namespace)
	case n.Mode == spec.NetBridge && !n.NAT:
		return denied(Network)
	}
	ok, filtered := egressAllows(n, proto, port)
	switch {
	case filtered && !ok:
		return denied(Egress)
	case filtered:
		return allowed(Network, Egress)
	}
	return allowed(Network)
}

// Bind says whether the command can listen on a TCP port where the host's
// network can reach it: in a network namespace of its own it listens
// only there, and a port reaches it only when published.
func Bind(p *spec.Profile, port uint16) Verdict {
	l := &p.Security.Landlock
	if l.Mode != spec.LandlockOff && len(l.BindTCP) > 0 && !slices.Contains(l.BindTCP, port) {
		return denied(Landlock)
	}
	if !hostNet(p) {
		return denied(Namespace)
	}
	return allowed(Namespace)
}

// Ports are the ports Reaches probes: the allowed web ports, a name
// server's, and two that no profile should need (ssh and a high one).
var Ports = []uint16{443, 80, 53, 22, 9999}

// Reaches lists what the command can reach on the network and which host
// processes it can signal, for the ports of Ports.
func Reaches(p *spec.Profile) []Reach {
	var out []Reach
	for _, port := range Ports {
		out = append(out, Reach{What: "tcp-connect", To: "outside", Port: port, Verdict: Connect(p, "tcp", port)})
	}
	for _, port := range Ports {
		out = append(out, Reach{What: "udp-send", To: "outside", Port: port, Verdict: Connect(p, "udp", port)})
	}
	out = append(out,
		Reach{What: "tcp-bind", To: "host", Port: 9999, Verdict: Bind(p, 9999)},
		Reach{What: "abstract-unix", To: "host", Verdict: AbstractUnix(p)},
		Reach{What: "signal", To: "host-process", Verdict: Signal(p)},
	)
	return out
}
