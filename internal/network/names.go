package network

import (
	"fmt"
	"hash/fnv"
	"net/netip"
)

// VethName is the host end of a sandbox's veth pair: "cell" and eight hex
// digits of a hash of the sandbox's name, so that cleanup and `cell gc`
// find it again from the name alone (interface names have 15 bytes).
func VethName(sandbox string) string {
	h := fnv.New32a()
	h.Write([]byte(sandbox))
	return fmt.Sprintf("cell%08x", h.Sum32())
}

// Gateway returns the bridge's own address in subnet, its first, with the
// subnet's prefix length.
func Gateway(subnet string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(subnet)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("subnet %q: want an IPv4 CIDR", subnet)
	}
	return netip.PrefixFrom(p.Masked().Addr().Next(), p.Bits()), nil
}

// The addresses slirp4netns gives a sandbox with its default CIDR
// (10.0.2.0/24) and --configure.
const (
	UserAddr    = "10.0.2.100"
	UserGateway = "10.0.2.2"
	UserDNS     = "10.0.2.3"
	UserTap     = "tap0"
)

// The placeholders in a user network step's arguments: init's pid and
// the API socket, which the executor makes in a directory of its own.
const (
	InitPID   = "{init}"
	APISocket = "{api}"
)
