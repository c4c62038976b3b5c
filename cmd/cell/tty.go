package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// pty is the terminal cell makes for an interactive sandbox: the command
// gets the slave as stdin, stdout, stderr and controlling terminal; cell
// copies between the master and its own stdio, with the caller's terminal
// in raw mode, so that Ctrl-C, Ctrl-Z and the like reach the command's
// terminal and not cell.
type pty struct {
	master, slave *os.File
	restore       func()
	copied        sync.WaitGroup
	stop          chan struct{}
}

// isTerminal reports whether fd is a terminal.
func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// openPTY makes a new pty pair.
func openPTY() (*pty, error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("pty number: %w", err)
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	sfd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return &pty{master: os.NewFile(uintptr(mfd), "ptmx"), slave: os.NewFile(uintptr(sfd), name), restore: func() {}, stop: make(chan struct{})}, nil
}

// resize copies the size of the terminal on fd to the pty, which sends
// SIGWINCH to the command's foreground process group.
func (p *pty) resize(fd int) {
	if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
		_ = unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// start puts the caller's terminal (if stdin is one) in raw mode, copies
// the window size now and on every SIGWINCH, and copies between the
// master and cell's stdio until the sandbox's side closes.
func (p *pty) start(stdin, stdout *os.File) error {
	in := int(stdin.Fd())
	if isTerminal(in) {
		old, err := unix.IoctlGetTermios(in, unix.TCGETS)
		if err != nil {
			return err
		}
		raw := *old
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		if err := unix.IoctlSetTermios(in, unix.TCSETS, &raw); err != nil {
			return fmt.Errorf("raw mode: %w", err)
		}
		p.restore = func() { _ = unix.IoctlSetTermios(in, unix.TCSETS, old) }
		p.resize(in)
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, unix.SIGWINCH)
		go func() {
			for {
				select {
				case <-winch:
					p.resize(in)
				case <-p.stop:
					signal.Stop(winch)
					return
				}
			}
		}()
	}
	go func() { _, _ = io.Copy(p.master, stdin) }()
	p.copied.Add(1)
	go func() {
		defer p.copied.Done()
		// EIO when the last holder of the slave is gone: the end.
		_, _ = io.Copy(stdout, p.master)
	}()
	return nil
}

// close restores the caller's terminal after the output is copied; the
// caller closed its copy of the slave after starting the sandbox.
func (p *pty) close() {
	p.copied.Wait()
	close(p.stop)
	p.restore()
	p.master.Close()
}
