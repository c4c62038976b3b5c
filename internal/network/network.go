// Package network is the model of a sandbox's network that a plan
// carries: cell's nftables rules (a small rule model, printed as nft
// syntax), the names of the host's veth ends, a bridge's gateway address,
// and the addresses and placeholders of the user-mode network. It does no
// I/O, so that compiling and printing a plan needs no netlink. Its
// subpackages touch the kernel: link (links, addresses and routes with
// netlink; loopback with mode none, which the kernel gives its 127.0.0.1
// and ::1 as it comes up), nft (installs the rules), lease (the bridge's
// address leases) and slirp (the slirp4netns helper).
package network
