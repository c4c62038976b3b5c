// Package term is the caller's side of a sandboxed command's terminal:
// a pty whose master cell copies to and from its own stdio (with raw
// mode, window size and Ctrl-Z job control), the relay that keeps a
// caller's terminal out of a sandbox that outlives the command, and
// job control for a command without a pty. The launcher's supervisor
// (package launcher) uses it; so can any Go program that supervises a
// sandbox itself.
package term

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// PTY is the terminal of an interactive sandbox, seen from cell: the
// command has the slave as stdin, stdout, stderr and controlling terminal;
// cell copies between the master and its own stdio. While cell is in the
// foreground of the caller's terminal, that terminal is raw but for
// Ctrl-Z, so that Ctrl-C and the like reach the command's terminal, and
// Ctrl-Z suspends the sandbox and cell as it would any command of the
// caller's shell.
type PTY struct {
	// Master is cell's end; Slave the command's (nil for a master
	// received from a sandbox, whose devpts made the pair).
	Master, Slave *os.File
	// suspend stops (true) or continues (false) the sandboxed command.
	suspend func(stop bool)
	copied  sync.WaitGroup
	stop    chan struct{}

	mu  sync.Mutex
	in  int            // the caller's terminal, -1 when stdin is none
	old *unix.Termios  // its mode before cell made it raw; nil when not raw
	sig chan os.Signal // SIGWINCH, SIGTSTP, SIGCONT
	// cooked counts the bytes typed before the terminal went raw, still
	// unread: in them the kernel stores an end of file (Ctrl-D) as a
	// NUL byte, which must not reach the command as one.
	cooked int
}

// IsTerminal reports whether fd is a terminal.
func IsTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// Foreground reports whether cell is in the foreground process group of
// the terminal on fd: only then may it change the terminal's mode or read
// it without being stopped (SIGTTOU, SIGTTIN).
func Foreground(fd int) bool {
	pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// Open makes a new pty pair in cell's devpts, for cell exec and pooled
// runs, whose sandbox's init takes no console step.
func Open() (*PTY, error) {
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
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		unix.Close(mfd)
		return nil, fmt.Errorf("open %s: %w", name, errno)
	}
	sfd := int(r)
	p := New(os.NewFile(uintptr(mfd), "ptmx"))
	p.Slave = os.NewFile(uintptr(sfd), name)
	return p, nil
}

// New is the pty whose master is m.
func New(m *os.File) *PTY {
	return &PTY{Master: m, suspend: func(bool) {}, stop: make(chan struct{}), in: -1}
}

// Interactive reports whether the caller's stdin is a terminal, which
// Start follows (its size, its mode, Ctrl-Z).
func (p *PTY) Interactive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.in >= 0
}

// SetSuspend sets how Ctrl-Z stops and continues the command, once it is
// known (after the pty's copying started).
func (p *PTY) SetSuspend(f func(stop bool)) {
	p.mu.Lock()
	p.suspend = f
	p.mu.Unlock()
}

// resize copies the size of the caller's terminal to the pty, which sends
// SIGWINCH to the command's foreground process group.
func (p *PTY) resize() {
	if ws, err := unix.IoctlGetWinsize(p.in, unix.TIOCGWINSZ); err == nil {
		_ = unix.IoctlSetWinsize(int(p.Master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// raw puts the caller's terminal in raw mode, but for Ctrl-Z (VSUSP), which
// still stops cell's process group: the command's own pty gets every other
// byte, Ctrl-C and Ctrl-\ included. It does nothing unless cell is in the
// terminal's foreground.
func (p *PTY) raw() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.in < 0 || p.old != nil || !Foreground(p.in) {
		return nil
	}
	old, err := unix.IoctlGetTermios(p.in, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("raw mode: %w", err)
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.IEXTEN
	raw.Lflag |= unix.ISIG
	raw.Cc[unix.VINTR], raw.Cc[unix.VQUIT] = 0, 0 // _POSIX_VDISABLE
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(p.in, unix.TCSETSW, &raw); err != nil {
		return fmt.Errorf("raw mode: %w", err)
	}
	p.old = old
	if n, err := unix.IoctlGetInt(p.in, unix.TIOCINQ); err == nil {
		p.cooked = n
	}
	p.resize()
	return nil
}

// restore gives the caller's terminal back its mode.
func (p *PTY) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.old != nil {
		_ = unix.IoctlSetTermios(p.in, unix.TCSETSW, p.old)
		p.old = nil
	}
}

// Start makes the caller's terminal (if stdin is one) raw, follows its
// size, handles Ctrl-Z, and copies between the master and cell's stdio
// until the sandbox's side closes. Without a terminal on stdin nobody
// types, so the pty does not echo (as script(1) does); at the end of
// stdin the command reads the end of file (VEOF), as with ssh -t.
func (p *PTY) Start(stdin, stdout *os.File) error {
	if fd := int(stdin.Fd()); IsTerminal(fd) {
		p.in = fd
	} else if t, err := unix.IoctlGetTermios(int(p.Master.Fd()), unix.TCGETS); err == nil {
		t.Lflag &^= unix.ECHO | unix.ECHONL
		_ = unix.IoctlSetTermios(int(p.Master.Fd()), unix.TCSETS, t)
	}
	if p.in >= 0 {
		p.sig = make(chan os.Signal, 4)
		signal.Notify(p.sig, unix.SIGWINCH, unix.SIGTSTP, unix.SIGCONT)
		if err := p.raw(); err != nil {
			signal.Stop(p.sig)
			return err
		}
		go p.signals()
	}
	go p.input(stdin)
	p.copied.Add(1)
	go func() {
		defer p.copied.Done()
		// EIO when the last holder of the slave is gone: the end.
		_, _ = io.Copy(stdout, p.Master)
	}()
	return nil
}

// signals follows the caller's terminal: its size, and Ctrl-Z, which
// stops the sandbox, gives the terminal back its mode and stops cell; the
// shell's fg or bg continues cell, which continues the sandbox and makes
// the terminal raw again if it is in the foreground.
func (p *PTY) signals() {
	for {
		select {
		case s := <-p.sig:
			switch s {
			case unix.SIGWINCH:
				p.resize()
			case unix.SIGTSTP:
				p.mu.Lock()
				suspend := p.suspend
				p.mu.Unlock()
				suspend(true)
				p.restore()
				// cell alone: init is in its process group, and a stopped
				// init could not continue the sandbox.
				_ = unix.Kill(os.Getpid(), unix.SIGSTOP)
			case unix.SIGCONT:
				_ = p.raw()
				p.mu.Lock()
				suspend := p.suspend
				p.mu.Unlock()
				suspend(false)
			}
		case <-p.stop:
			signal.Stop(p.sig)
			return
		}
	}
}

// input copies stdin to the master. A terminal is read only while cell is
// in its foreground: a read from the background would stop cell
// (SIGTTIN), though the command may never read.
func (p *PTY) input(stdin *os.File) {
	fd := int(stdin.Fd())
	veof := byte(4)
	if t, err := unix.IoctlGetTermios(int(p.Master.Fd()), unix.TCGETS); err == nil && t.Cc[unix.VEOF] != 0 {
		veof = t.Cc[unix.VEOF]
	}
	b := make([]byte, 32*1024)
	last := byte('\n')
	for {
		if p.in >= 0 {
			if !Foreground(fd) {
				select {
				case <-p.stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if n, err := unix.Poll(pfd, 100); err != nil && !errors.Is(err, unix.EINTR) {
				return
			} else if n == 0 || errors.Is(err, unix.EINTR) {
				select {
				case <-p.stop:
					return
				default:
				}
				continue
			}
		}
		n, err := stdin.Read(b)
		n = p.dropEOFs(b[:n])
		if n > 0 {
			if _, werr := p.Master.Write(b[:n]); werr != nil {
				return
			}
			last = b[n-1]
		}
		if err != nil {
			if p.in < 0 && errors.Is(err, io.EOF) {
				// A line without its newline needs a VEOF of its own
				// before the one that reads as the end.
				eof := []byte{veof}
				if last != '\n' {
					eof = append(eof, veof)
				}
				_, _ = p.Master.Write(eof)
			}
			return
		}
	}
}

// dropEOFs removes from b the NUL bytes that stand for an end of file in
// what was typed before the terminal went raw, and returns its new length.
func (p *PTY) dropEOFs(b []byte) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cooked == 0 {
		return len(b)
	}
	k := min(p.cooked, len(b))
	p.cooked -= k
	out := b[:0]
	for i, c := range b {
		if i >= k || c != 0 {
			out = append(out, c)
		}
	}
	return len(out)
}

// Close restores the caller's terminal after the output is copied; the
// caller closed its copy of the slave after starting the sandbox.
func (p *PTY) Close() {
	p.copied.Wait()
	close(p.stop)
	p.restore()
	p.Master.Close()
}

// Relayed stands between a sandbox that outlives the command (cell exec,
// a pool) and the caller's terminal: each of stdin, stdout and stderr that
// is a terminal is handed over as a pipe that cell copies, and cell closes
// its ends when the command has ended. A process the command left behind
// then holds a dead pipe, not the caller's terminal, whose keystrokes it
// could otherwise read, and to which it could write, long after.
type Relayed struct {
	child  []*os.File // the sandbox's ends, closed once handed over
	ours   []*os.File // cell's ends
	copies sync.WaitGroup
	stop   chan struct{}
}

// Relay replaces the terminals among *stdio by pipes.
func Relay(stdio [3]**os.File) (*Relayed, error) {
	r := &Relayed{stop: make(chan struct{})}
	for i, f := range stdio {
		if *f == nil || !IsTerminal(int((*f).Fd())) {
			continue
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			r.HandedOver()
			r.Close()
			return nil, fmt.Errorf("pipe for descriptor %d: %w", i, err)
		}
		term := *f
		if i == 0 {
			*f = pr
			r.child, r.ours = append(r.child, pr), append(r.ours, pw)
			// Not waited for: the command need not read its input.
			go func() {
				readTerminal(term, pw, r.stop)
				pw.Close()
			}()
			continue
		}
		*f = pw
		r.child, r.ours = append(r.child, pw), append(r.ours, pr)
		r.copies.Go(func() {
			if _, err := io.Copy(term, pr); errors.Is(err, os.ErrDeadlineExceeded) {
				drain(pr, term)
			}
		})
	}
	return r, nil
}

// HandedOver closes cell's copies of the sandbox's ends.
func (r *Relayed) HandedOver() {
	for _, f := range r.child {
		f.Close()
	}
	r.child = nil
}

// Close ends the relay when the command has ended: what it wrote is
// copied out, then every pipe is closed under whatever still holds it.
func (r *Relayed) Close() {
	close(r.stop)
	for _, f := range r.ours {
		// A pipe's read end: what is buffered is read at once, then the
		// deadline ends the copy even if an orphan keeps the pipe open.
		_ = f.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	}
	r.copies.Wait()
	for _, f := range r.ours {
		f.Close()
	}
}

// drain copies what the pipe r holds now to w, without waiting for more:
// a copy that the deadline ended may not have read what was already
// there (Go checks the deadline before it reads).
func drain(r, w *os.File) {
	_ = r.SetReadDeadline(time.Time{})
	rc, err := r.SyscallConn()
	if err != nil {
		return
	}
	b := make([]byte, 32*1024)
	_ = rc.Read(func(fd uintptr) bool {
		for {
			n, err := unix.Read(int(fd), b)
			if n <= 0 || err != nil {
				return true // EAGAIN: empty, and not waited on
			}
			if _, err := w.Write(b[:n]); err != nil {
				return true
			}
		}
	})
}

// readTerminal copies the terminal in to w while cell is in its
// foreground, until in ends, w breaks or stop is closed.
func readTerminal(in, w *os.File, stop <-chan struct{}) {
	fd := int(in.Fd())
	b := make([]byte, 32*1024)
	for {
		select {
		case <-stop:
			return
		default:
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if !Foreground(fd) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if n, err := unix.Poll(pfd, 100); n <= 0 || err != nil {
			if err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
			continue
		}
		n, err := in.Read(b)
		if n > 0 {
			if _, werr := w.Write(b[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// SuspendWith makes SIGTSTP (Ctrl-Z on the caller's terminal) stop the
// sandbox through suspend and then cell, and SIGCONT (fg, bg) continue the
// sandbox, for a command without a pty in a session of its own, which the
// terminal's signals do not reach. The returned function ends this.
func SuspendWith(suspend func(stop bool)) func() {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, unix.SIGTSTP, unix.SIGCONT)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sig:
				if s == unix.SIGTSTP {
					suspend(true)
					_ = unix.Kill(os.Getpid(), unix.SIGSTOP)
				} else {
					suspend(false)
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(sig); close(done) }
}

// Suspender is how Ctrl-Z stops and continues a run's sandbox.
func Suspender(signal func(unix.Signal) error) func(stop bool) {
	return func(stop bool) {
		if stop {
			_ = signal(unix.SIGSTOP)
		} else {
			_ = signal(unix.SIGCONT)
		}
	}
}
