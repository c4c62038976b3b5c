package compile

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/spec"
)

// sandboxIf is the sandbox's end of its veth pair.
const sandboxIf = "eth0"

// netSetup is what the network section compiles to, in the three places
// of the plan where its steps go.
type netSetup struct {
	name   string // the sandbox's name: owner of its lease and rules
	bridge string
	subnet string
	gw     netip.Prefix
	// dns are the name servers of the sandbox's /etc/resolv.conf.
	dns []string
	// upstream are the name servers the egress proxy asks (domain
	// rules), ADDRESS:53.
	upstream []string
}

// checkNetwork refuses what the host or the caller cannot give the
// profile's network, before any step is added.
func (c *compiler) checkNetwork(name string) (*netSetup, error) {
	n := &c.p.Network
	ns := &netSetup{name: name}
	switch n.Mode {
	case spec.NetNone, spec.NetHost:
	case spec.NetBridge:
		if c.host.Rootless() {
			return nil, c.errorf("network.mode", "bridge needs root: it makes a bridge, a veth and nftables rules on the host; an unprivileged caller uses network.mode user")
		}
		if name == "" {
			return nil, c.errorf("network.mode", "a bridged sandbox needs a name (cell gives one)")
		}
		ns.bridge, ns.subnet = n.Bridge.BridgeName(), n.Bridge.BridgeSubnet()
		gw, err := network.Gateway(ns.subnet)
		if err != nil {
			return nil, c.errorf("network.bridge.subnet", "%v", err)
		}
		ns.gw = gw
	case spec.NetUser:
		if c.host.UserNetHelper == "" {
			return nil, c.errorf("network.mode", "user needs slirp4netns, which is not installed here (Debian and Ubuntu package: slirp4netns)")
		}
		if !c.host.TunAccess {
			return nil, c.errorf("network.mode", "user needs /dev/net/tun, which this user may not open (most distributions make it mode 0666; here it is not)")
		}
	}
	if n.Egress.Default == spec.EgressDeny {
		for _, k := range c.p.Security.Capabilities.Kept() {
			if k == "CAP_NET_ADMIN" {
				return nil, c.errorf("network.egress.default", "the command keeps CAP_NET_ADMIN (security.capabilities), with which it could delete the egress rules; drop it or the egress rules")
			}
		}
	}
	if n.Egress.HasDomains() {
		// The sandbox asks the proxy's name server, which asks the
		// host's from the host: the host's loopback ones do too.
		if err := c.checkProxy(ns); err != nil {
			return nil, err
		}
		return ns, nil
	}
	dns, err := c.nameservers()
	if err != nil {
		return nil, err
	}
	ns.dns = dns
	return ns, nil
}

// checkProxy picks the name servers of a sandbox with domain rules: its
// /etc/resolv.conf names the proxy's name server on its loopback, which
// forwards allowed names to network.dns, or else to the host's own name
// servers (loopback ones too: the proxy runs on the host's network).
func (c *compiler) checkProxy(ns *netSetup) error {
	n := &c.p.Network
	at := "network.dns"
	servers := n.DNS
	if len(servers) == 0 {
		at, servers = "network.egress", c.host.Nameservers
	}
	for _, s := range servers {
		if a, err := netip.ParseAddr(s); err == nil {
			ns.upstream = append(ns.upstream, netip.AddrPortFrom(a, 53).String())
		}
	}
	if len(ns.upstream) == 0 {
		return c.errorf(at, "domain rules need a name server for the proxy to ask, and the host's /etc/resolv.conf names none; set network.dns")
	}
	ns.dns = []string{"127.0.0.1", "::1"}
	return nil
}

// nameservers are the name servers of the sandbox's /etc/resolv.conf:
// the profile's, or the host's that a sandbox can reach.
func (c *compiler) nameservers() ([]string, error) {
	n := &c.p.Network
	if len(n.DNS) > 0 {
		return n.DNS, nil
	}
	switch n.Mode {
	case spec.NetNone, spec.NetHost:
	case spec.NetUser:
		return []string{network.UserDNS}, nil
	case spec.NetBridge:
		var out []string
		for _, s := range c.host.Nameservers {
			if a, err := netip.ParseAddr(s); err == nil && !a.IsLoopback() {
				out = append(out, s)
			}
		}
		if len(out) == 0 {
			return nil, c.errorf("network.mode", "the host's /etc/resolv.conf names no name server that a bridged sandbox can reach (%s; loopback ones are the host's own); set network.dns",
				orNone(c.host.Nameservers))
		}
		return out[:min(len(out), 3)], nil
	}
	return nil, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// nft adds an nftables step of side.
func (c *compiler) nft(at string, side plan.Side, r network.Rule) {
	c.add(at, side, &plan.Nft{Rule: r})
}

// netHost adds the steps made on the host before the clone: the lease,
// the bridge and the host's rules.
func (c *compiler) netHost(ns *netSetup) {
	n := &c.p.Network
	if n.Mode != spec.NetBridge {
		return
	}
	br := ns.bridge
	if n.NAT {
		c.add("network.nat", plan.Parent, &plan.Require{File: "/proc/sys/net/ipv4/ip_forward", Value: "1"})
	}
	c.add("network.mode", plan.Parent, &plan.NetLease{Bridge: br, Subnet: ns.subnet, Sandbox: ns.name})
	c.add("network.mode", plan.Parent, &plan.Bridge{Name: br, Address: ns.gw.String()})
	host := func(chain string) network.Rule {
		return network.Rule{Family: "ip", Table: network.HostTable, Chain: chain}
	}
	chain := func(at, name, typ, hook string, prio int32) {
		r := host(name)
		r.Type, r.Hook, r.Priority, r.Policy = typ, hook, prio, "accept"
		c.nft(at, plan.Parent, r)
	}
	rule := func(at string, r network.Rule) { c.nft(at, plan.Parent, r) }
	// Traffic from the bridge to anywhere but the bridge and the host is
	// dropped unless a sandbox's NAT lets it out; replies pass.
	chain("network.mode", "forward", "filter", "forward", 0)
	est := host("forward")
	est.Established, est.Verdict, est.Owner = true, "accept", "bridge:"+br+":established"
	rule("network.mode", est)
	iso := host("forward")
	iso.IIF, iso.NotOIF, iso.Verdict, iso.Owner = br, br, "drop", "bridge:"+br+":isolate"
	rule("network.mode", iso)
	if n.NAT {
		chain("network.nat", "postrouting", "nat", "postrouting", 100)
		out := host("forward")
		out.Insert, out.IIF, out.Saddr, out.Verdict, out.Owner = true, br, network.Lease, "accept", ns.name
		rule("network.nat", out)
		masq := host("postrouting")
		masq.Saddr, masq.NotOIF, masq.Verdict, masq.Owner = network.Lease, br, "masquerade", ns.name
		rule("network.nat", masq)
	}
	if len(n.Ports) > 0 {
		chain("network.ports", "prerouting", "nat", "prerouting", -100)
		chain("network.ports", "output", "nat", "output", -100)
		for i, p := range n.Ports {
			at := fmt.Sprintf("network.ports[%d]", i)
			for _, ch := range []string{"prerouting", "output"} {
				r := host(ch)
				r.LocalDaddr, r.Proto, r.Dport = true, p.Proto, p.Host
				r.Verdict, r.To, r.Owner = "dnat", fmt.Sprintf("%s:%d", network.Lease, p.Sandbox), ns.name
				rule(at, r)
			}
		}
	}
}

// netStart adds the parent's steps between init's exec and its plan: the
// veth into init's namespace, or the user-mode helper.
func (c *compiler) netStart(ns *netSetup) {
	n := &c.p.Network
	switch n.Mode {
	case spec.NetNone, spec.NetHost:
	case spec.NetBridge:
		c.add("network.mode", plan.Parent, &plan.Veth{Host: network.VethName(ns.name), Bridge: ns.bridge, Guest: sandboxIf})
	case spec.NetUser:
		args := []string{"--configure", "--mtu=65520"}
		if !n.HostLoopback {
			args = append(args, "--disable-host-loopback")
		}
		if !c.host.Rootless() {
			// Its own mount namespace and pivot_root into an empty root;
			// slirp4netns 1.2 fails to set that up unprivileged (setegid).
			args = append(args, "--enable-sandbox")
		}
		args = append(args, "--enable-seccomp", "--ready-fd=3", "--exit-fd=4")
		if len(n.Ports) > 0 {
			args = append(args, "--api-socket="+network.APISocket)
		}
		if c.p.Namespaces.User == spec.New {
			args = append(args, "--userns-path=/proc/"+network.InitPID+"/ns/user")
		}
		args = append(args, "--netns-type=path", "/proc/"+network.InitPID+"/ns/net", network.UserTap)
		c.add("network.mode", plan.Parent, &plan.UserNet{Helper: c.host.UserNetHelper, Args: args})
		for i, p := range n.Ports {
			c.add(fmt.Sprintf("network.ports[%d]", i), plan.Parent, &plan.UserNetPort{Proto: p.Proto, HostPort: uint16(p.Host), GuestPort: uint16(p.Sandbox)})
		}
	}
}

// netInit adds init's steps in its network namespace: loopback, the
// sandbox's address and route, and the egress rules.
func (c *compiler) netInit(ns *netSetup) {
	n := &c.p.Network
	if !n.Mode.OwnNamespace() {
		return
	}
	c.add("network.mode", plan.Init, &plan.LinkUp{Interface: "lo"})
	if n.Mode == spec.NetBridge {
		c.add("network.mode", plan.Init, &plan.AddrAdd{Interface: sandboxIf, Address: fmt.Sprintf("%s/%d", network.Lease, ns.gw.Bits())})
		c.add("network.mode", plan.Init, &plan.RouteAdd{Interface: sandboxIf, Gateway: ns.gw.Addr().String()})
	}
	if n.Egress.Default != spec.EgressDeny {
		return
	}
	const at = "network.egress"
	mine := func() network.Rule {
		return network.Rule{Family: "inet", Table: network.HostTable, Chain: "egress", Owner: "egress"}
	}
	ch := mine()
	ch.Owner, ch.Type, ch.Hook, ch.Policy = "", "filter", "output", "drop"
	c.nft(at, plan.Init, ch)
	lo := mine()
	lo.OIF, lo.Verdict = "lo", "accept"
	c.nft(at, plan.Init, lo)
	est := mine()
	est.Established, est.Verdict = true, "accept"
	c.nft(at, plan.Init, est)
	for i, a := range n.Egress.Allow {
		if a.Domain != "" {
			continue // the proxy's, on loopback
		}
		pos := fmt.Sprintf("network.egress.allow[%d]", i)
		prefix, _ := a.Prefix() // validated
		protos := []string{a.Proto}
		if a.Proto == "" && len(a.Ports) > 0 {
			protos = []string{"tcp", "udp"}
		}
		ports := a.Ports
		if len(ports) == 0 {
			ports = []uint16{0}
		}
		for _, proto := range protos {
			for _, port := range ports {
				r := mine()
				r.Daddr, r.Proto, r.Dport, r.Verdict = prefix.String(), proto, port, "accept"
				c.nft(pos, plan.Init, r)
			}
		}
	}
	rst := mine()
	rst.Proto, rst.Verdict = "tcp", "reject"
	c.nft(at+".default", plan.Init, rst)
	rej := mine()
	rej.Verdict = "reject"
	c.nft(at+".default", plan.Init, rej)
	c.egressProxy(ns)
}

// egressProxy adds the step that makes the egress proxy's sockets on the
// sandbox's loopback, which the egress chain lets through as it lets all
// of loopback, and hands them to cell's proxy process. Address rules are
// the proxy's too, for SOCKS5 and CONNECT by address.
func (c *compiler) egressProxy(ns *netSetup) {
	n := &c.p.Network
	if !n.Egress.HasDomains() {
		return
	}
	p := network.Proxy{Listen: network.ProxyListens(), Upstream: ns.upstream, Default: c.pos("network.egress.default").String(), Sandbox: ns.name}
	for i, a := range n.Egress.Allow {
		r := network.ProxyRule{Domain: network.CanonicalName(a.Domain), Ports: a.Ports, SNIOptional: a.SNI == "optional", Pos: c.pos(fmt.Sprintf("network.egress.allow[%d]", i)).String()}
		if a.Domain == "" {
			if a.Proto == "udp" {
				continue
			}
			prefix, _ := a.Prefix() // validated
			r.Prefix = prefix.String()
		}
		p.Rules = append(p.Rules, r)
	}
	if !c.host.Rootless() {
		// Root's proxy needs no privilege: it runs as nobody.
		p.UID, p.GID = 65534, 65534
	}
	c.add("network.egress", plan.Init, &plan.EgressProxy{Proxy: p})
}

// proxyEnv are the variables that point the command's clients at the
// egress proxy, when the profile has domain rules.
func (c *compiler) proxyEnv() map[string]string {
	if !c.p.Network.Egress.HasDomains() {
		return nil
	}
	env := map[string]string{}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY"} {
		env[k], env[strings.ToLower(k)] = network.ProxyURL, network.ProxyURL
	}
	env["ALL_PROXY"], env["all_proxy"] = network.SocksURL, network.SocksURL
	env["NO_PROXY"], env["no_proxy"] = "localhost,127.0.0.1,::1", "localhost,127.0.0.1,::1"
	return env
}

// netFiles writes the sandbox's /etc/resolv.conf and /etc/hosts, for the
// modes with a network beyond loopback. They replace binds of the same
// targets (skipMount).
func (c *compiler) netFiles(ns *netSetup) {
	n := &c.p.Network
	if !c.hasNetFiles() {
		return
	}
	var conf strings.Builder
	for _, s := range ns.dns {
		fmt.Fprintf(&conf, "nameserver %s\n", s)
	}
	at := "network.dns"
	switch {
	case n.Egress.HasDomains():
		at = "network.egress"
	case len(n.DNS) == 0:
		at = "network.mode"
	}
	c.add(at, plan.Init, &plan.WriteFile{Root: newRoot, Target: "/etc/resolv.conf", Mode: 0o644, Content: conf.String()})
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if h := c.p.Hostname; h != "" && c.p.Namespaces.UTS == spec.New {
		addr := network.Lease
		if n.Mode == spec.NetUser {
			addr = network.UserAddr
		}
		hosts += fmt.Sprintf("%s\t%s\n", addr, h)
	}
	c.add("network.mode", plan.Init, &plan.WriteFile{Root: newRoot, Target: "/etc/hosts", Mode: 0o644, Content: hosts})
}

// netWrites lists the files netFiles writes, which no mount may cover.
func (c *compiler) netWrites() []string {
	if c.hasNetFiles() && c.p.Namespaces.Mount == spec.New {
		return []string{"/etc/hosts", "/etc/resolv.conf"}
	}
	return nil
}

// hasNetFiles reports whether the sandbox gets its own /etc/hosts and
// /etc/resolv.conf: with a network beyond loopback, or the egress
// proxy's name server on it.
func (c *compiler) hasNetFiles() bool {
	n := &c.p.Network
	return n.Mode == spec.NetBridge || n.Mode == spec.NetUser || n.Mode == spec.NetNone && n.Egress.HasDomains()
}

// netCleanup adds the steps that undo the network when the sandbox ends.
func (c *compiler) netCleanup(ns *netSetup) {
	n := &c.p.Network
	add := func(a plan.Action) {
		s := plan.Step{Side: plan.Parent, Pos: c.pos("network.mode"), Do: a}
		c.cleanup = append(c.cleanup, s)
	}
	switch n.Mode {
	case spec.NetNone, spec.NetHost:
	case spec.NetBridge:
		add(&plan.NftDelete{Table: "ip " + network.HostTable, Owner: ns.name})
		add(&plan.LeaseRelease{Bridge: ns.bridge, Sandbox: ns.name})
	case spec.NetUser:
		add(&plan.UserNetStop{})
	}
}

// skipMount reports whether the mount target is a file that the network
// writes instead.
func (c *compiler) skipMount(target string) bool {
	return slices.Contains(c.netWrites(), target)
}
