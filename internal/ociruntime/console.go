package ociruntime

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// sendConsole makes a pty in the container's own devpts, reached through
// init's root (/proc/PID/root, resolved inside it so that no link of the
// container's leads out), sends its master to the caller's console
// socket as runc does (one SCM_RIGHTS message whose payload is the pty's
// name) and returns the slave, owned by the process's user.
func sendConsole(rec *record, socket string) (*os.File, error) {
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", rec.Pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: fmt.Sprintf("/proc/%d/root", rec.Pid), Err: err}
	}
	defer unix.Close(root)
	m, err := unix.Openat2(root, "dev/pts/ptmx", &unix.OpenHow{Flags: unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return nil, fmt.Errorf("the container's terminal: open /dev/pts/ptmx: %w (the container needs a devpts at /dev/pts)", err)
	}
	master := os.NewFile(uintptr(m), "ptmx")
	defer master.Close()
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		return nil, &os.SyscallError{Syscall: "ioctl TIOCSPTLCK", Err: err}
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		return nil, &os.SyscallError{Syscall: "ioctl TIOCGPTN", Err: err}
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	s, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return nil, &os.SyscallError{Syscall: "ioctl TIOCGPTPEER", Err: errno}
	}
	slave := os.NewFile(s, name)
	if u := rec.Process.User; u.UID != 0 || u.GID != 0 {
		// Where a user namespace maps the IDs the kernel refuses this,
		// and the slave stays root's inside.
		_ = unix.Fchown(int(s), int(u.UID), int(u.GID))
	}
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		slave.Close()
		return nil, fmt.Errorf("console socket: %w", err)
	}
	defer c.Close()
	if _, _, err := c.WriteMsgUnix([]byte(name), unix.UnixRights(m), nil); err != nil {
		slave.Close()
		return nil, fmt.Errorf("console socket: send the terminal: %w", err)
	}
	return slave, nil
}
