package state

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Signal sends sig to the process that supervises the record's sandbox
// (its CellPid), which relays it to the command; SIGKILL, which it
// cannot catch, takes the sandbox with it.
func (r *Record) Signal(sig unix.Signal) error {
	if err := unix.Kill(r.CellPid, sig); err != nil {
		return fmt.Errorf("kill %s: %w", r.Name, err)
	}
	return nil
}

// WaitCell waits until the process that supervises the record's sandbox
// has ended (it ends once the sandbox is torn down).
func (r *Record) WaitCell() error {
	fd, err := unix.PidfdOpen(r.CellPid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("wait %s: pidfd_open: %w", r.Name, err)
	}
	defer unix.Close(fd)
	for {
		_, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, -1)
		if err == nil || !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
