// Package link makes the links of a sandbox with netlink: the bridge,
// the veth pair, addresses and routes, and brings links up.
package link

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// EnsureBridge makes the bridge name with the address gw, up, unless it
// exists. An existing link of that name must be a bridge; its addresses
// are left as they are, but gw must be one of them.
func EnsureBridge(name string, gw netip.Prefix) error {
	l, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		// A bridge without an address of its own takes the lowest of
		// its ports', so it would change as sandboxes come and go, and
		// the sandboxes still running would send to the old one (their
		// ARP entry for the gateway) and lose packets for seconds. A
		// random, locally administered unicast address set here stays.
		mac := make(net.HardwareAddr, 6)
		if _, err := rand.Read(mac); err != nil {
			return err
		}
		mac[0] = mac[0]&^1 | 2
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mac}}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add bridge %s: %w", name, err)
		}
		if l, err = netlink.LinkByName(name); err != nil {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
	case err != nil:
		return fmt.Errorf("bridge %s: %w", name, err)
	case l.Type() != "bridge":
		return fmt.Errorf("%s is a %s link, not a bridge", name, l.Type())
	}
	addr := &netlink.Addr{IPNet: ipNet(gw)}
	if err := netlink.AddrAdd(l, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add address %s to %s: %w", gw, name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// AddVeth makes a veth pair: host on the bridge, up, and peer in the
// network namespace of process pid.
func AddVeth(host, bridge, peer string, pid int) error {
	return AddVethMAC(host, bridge, peer, pid, nil)
}

// AddVethMAC is AddVeth with the peer's hardware address set to mac (nil:
// the kernel picks one). A restored sandbox gets its old address back, so
// that its neighbours' ARP entries and its connections stay valid.
func AddVethMAC(host, bridge, peer string, pid int, mac net.HardwareAddr) error {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", bridge, err)
	}
	v := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: host, MasterIndex: br.Attrs().Index},
		PeerName:         peer,
		PeerNamespace:    netlink.NsPid(pid),
		PeerHardwareAddr: mac,
	}
	if err := netlink.LinkAdd(v); err != nil {
		return fmt.Errorf("add veth %s (peer %s in INIT's namespace): %w", host, peer, err)
	}
	if err := netlink.LinkSetUp(v); err != nil {
		return fmt.Errorf("set %s up: %w", host, err)
	}
	return nil
}

// ForgetNeighbor deletes the neighbour (ARP) entry of addr on the link
// name, if there is one: a sandbox that held the address before left its
// MAC there, and until the entry went stale the host would send the new
// holder's packets to the old MAC.
func ForgetNeighbor(name string, addr netip.Addr) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	err = netlink.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4, IP: addr.AsSlice()})
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete neighbour %s on %s: %w", addr, name, err)
	}
	return nil
}

// Delete deletes the link name; a missing link is not an error (a
// veth goes with its namespace when the sandbox ends).
func Delete(name string) error {
	l, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// AddrAdd gives the link name the address addr (with its prefix length)
// and sets it up, in the calling thread's network namespace.
func AddrAdd(name, addr string) error {
	p, err := netip.ParsePrefix(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
		return fmt.Errorf("add address %s to %s: %w", addr, name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// DefaultRoute adds the default route via gw on the link name.
func DefaultRoute(name, gw string) error {
	a, err := netip.ParseAddr(gw)
	if err != nil {
		return fmt.Errorf("gateway %q: %w", gw, err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: a.AsSlice()}); err != nil {
		return fmt.Errorf("add default route via %s on %s: %w", gw, name, err)
	}
	return nil
}

// Up sets IFF_UP on the interface name in the calling thread's network
// namespace.
func Up(name string) error {
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

// InNetns runs f on a thread in the network namespace of process pid.
// The thread is not given back to the Go runtime: it ends with f.
func InNetns(pid int, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- os.NewSyscallError("setns CLONE_NEWNET", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Inspect returns the IPv4 addresses (with their prefix lengths) and the
// hardware address of the link name in the calling thread's network
// namespace.
func Inspect(name string) ([]netip.Prefix, net.HardwareAddr, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, nil, fmt.Errorf("link %s: %w", name, err)
	}
	as, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil, nil, fmt.Errorf("addresses of %s: %w", name, err)
	}
	var out []netip.Prefix
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		if !ok {
			continue
		}
		bits, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip, bits))
	}
	return out, l.Attrs().HardwareAddr, nil
}
