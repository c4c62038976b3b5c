// Package network configures the network a sandbox sees from inside its
// network namespace. With mode none that is only loopback, brought up so
// that local services inside the sandbox work; the kernel gives lo its
// 127.0.0.1 and ::1 addresses as it comes up.
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
