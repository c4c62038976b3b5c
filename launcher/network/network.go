// Package network makes the network a sandbox sees: loopback (with
// mode none, only that; the kernel gives lo its 127.0.0.1 and ::1 as it
// comes up), and for the bridge and user modes the host's bridge, the
// veth, addresses and routes (netlink), cell's nftables rules on the host
// and the egress rules in the sandbox (nft.go), the bridge's address
// leases (lease.go), and the slirp4netns helper (slirp.go).
package network

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// LinkUp sets IFF_UP on the interface name in the calling thread's network
// namespace.
func LinkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket AF_INET: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("interface %q: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("ioctl SIOCGIFFLAGS %s: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("ioctl SIOCSIFFLAGS %s: %w", name, err)
	}
	return nil
}
