package proto

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/stamp"
	"github.com/cellsandbox/cell/launcher/plan"
)

// InitVersion is the version of the parent↔init protocol that this build
// speaks. It changes with any change that an init or a cell of another
// build would misread: a message's field renamed or given another meaning,
// another order, another framing. The "protocol" field of cell's first
// message keeps its name and meaning in every version (not "version":
// the plan has a field of that name, and a plan sent first must not pass
// for a run-time message).
const InitVersion = 1

// VersionError is a peer that speaks another version of a protocol.
type VersionError struct {
	// Protocol names it: "parent↔init" or "pool".
	Protocol string
	// Ours is the version of the side that found the mismatch, named by
	// Us; Theirs the peer's, named by Them. Theirs 0 is a peer that sent
	// none.
	Us, Them     string
	Ours, Theirs int
}

func (e *VersionError) Error() string {
	theirs := fmt.Sprintf("version %d", e.Theirs)
	if e.Theirs == 0 {
		theirs = "no version"
	}
	return fmt.Sprintf("%s protocol version mismatch: %s speaks version %d, %s sent %s (cell and cell-init must come from the same build)", e.Protocol, e.Us, e.Ours, e.Them, theirs)
}

// Message is one record on the socket between cell and init; each sets
// one field (see the package documentation for their order).
type Message struct {
	// Version, from cell, is InitVersion, in its first message (Mapped
	// or Runtime).
	Version int `json:"protocol,omitempty"`
	// Signal, from cell, is a signal to deliver to the command.
	Signal int `json:"signal,omitempty"`
	// Mapped, from cell, says the ID map helpers have written init's maps.
	Mapped bool `json:"mapped,omitempty"`
	// Ready, from init, says it reads its socket with recvmsg now: a
	// message that carries descriptors sent before that would lose them
	// to the plan decoder's plain reads.
	Ready bool `json:"ready,omitempty"`
	// Socket, from init, says a new socket comes with it: init made it in
	// its own network namespace, and from here on both ends talk over it
	// (cell's socket belongs to the host's namespace, where CRIU, dumping
	// the sandbox's, would not find it). cell puts it at the old one's
	// number, which closes the old one.
	Socket bool `json:"socket,omitempty"`
	// Failure, from init, says a step failed; init then exits.
	Failure *Failure `json:"failure,omitempty"`
	// Exit, from init, says how the command ended.
	Exit *Status `json:"exit,omitempty"`
	// Trace, from init, says a step ran (plans with Trace).
	Trace *Trace `json:"trace,omitempty"`
	// Exec, from cell, asks for one more command in the sandbox, its
	// stdio passed with the message.
	Exec *ExecRequest `json:"exec,omitempty"`
	// ExecSignal, from cell, is a signal for an exec'd command.
	ExecSignal *ExecSignal `json:"execSignal,omitempty"`
	// ExecExit, from init, says how an exec'd command ended.
	ExecExit *ExecExit `json:"execExit,omitempty"`
	// ExecConsole, from init, answers an exec request's Console.
	ExecConsole *ExecConsole `json:"execConsole,omitempty"`
	// Console, from init, names the pty it made in the sandbox's devpts
	// ("/dev/pts/0"), whose master comes with the message.
	Console string `json:"console,omitempty"`
	// Runtime, from cell, is what only the run decides, sent right
	// before the plan.
	Runtime *Runtime `json:"runtime,omitempty"`
	// Egress, from init, lists the sockets of the egress proxy that it
	// made in the sandbox's network namespace, which come with the
	// message in this order.
	Egress []plan.ProxyListen `json:"egress,omitempty"`
}

// FDs is how many descriptors travel with m.
func (m *Message) FDs() int {
	switch {
	case m.Exec != nil:
		return 3
	case len(m.Egress) > 0:
		return len(m.Egress)
	case m.Console != "", m.ExecConsole != nil && m.ExecConsole.Name != "", m.Socket:
		return 1
	}
	return 0
}

// Runtime is what init needs beside the plan that is known only when the
// sandbox starts; the plan itself is the same for every run of an
// invocation, and init receives it byte for byte as compiled.
type Runtime struct {
	// Trace asks init to report each step as it runs, with its duration,
	// the phases of its life and the hash of the plan it received (cell
	// run --trace).
	Trace bool `json:"trace,omitempty"`
	// Lease is the address the parent leased on the sandbox's bridge
	// (a net-lease step), "" without one. Init's steps write it as
	// {lease} (plan.Lease): the executor puts it in their place when it
	// runs them.
	Lease string `json:"lease,omitempty"`
}

// Trace is one executed step or run of steps, for cell run --trace: steps
// First to Last (0-based, often the same) took Micros µs.
type Trace struct {
	First  int   `json:"first"`
	Last   int   `json:"last"`
	Micros int64 `json:"us"`
	// Phases, when not empty, are the ends of phases of a process's life
	// (see internal/stamp) instead of a step: init sends its own once
	// the command has been exec'd.
	Phases []stamp.Stamp `json:"phases,omitempty"`
	// PlanSHA256, when not empty, is the hex SHA-256 of the plan's bytes
	// as init received them, instead of a step: what init runs, to
	// compare with what `cell plan --json` prints.
	PlanSHA256 string `json:"planSHA256,omitempty"`
}

// Failure is init's report of what ended it before the command's exit.
type Failure struct {
	// Step indexes Plan.Steps; -1 is no step: init refused what cell
	// sent (another protocol version, a plan it cannot decode).
	Step  int    `json:"step"`
	Errno int    `json:"errno,omitempty"` // 0 when the cause is not a syscall
	Err   string `json:"err"`
}

// Status is how the command ended: its exit code, or the signal that
// killed it.
type Status struct {
	Pid    int `json:"pid"` // the command's pid inside the sandbox
	Code   int `json:"code"`
	Signal int `json:"signal,omitempty"`
}

// ExitCode is the status a shell would report: the code, or 128+signal.
func (s Status) ExitCode() int {
	if s.Signal != 0 {
		return 128 + s.Signal
	}
	return s.Code
}

func (s Status) String() string {
	if s.Signal != 0 {
		return fmt.Sprintf("killed by %s", unix.SignalName(unix.Signal(s.Signal)))
	}
	return fmt.Sprintf("exit status %d", s.Code)
}

// ExecRequest asks a running sandbox for one more command: init forks it
// from its own thread, the one that forked the sandbox's command, so it
// shares every defence of it (namespaces, root, cgroup, credentials,
// capabilities, no_new_privs, landlock, seccomp). Its stdin, stdout and
// stderr travel with the request as descriptors.
type ExecRequest struct {
	ID   int      `json:"id"`
	Args []string `json:"args"`
	// TTY makes the command's stdin its controlling terminal.
	TTY bool `json:"tty,omitempty"`
	// Console asks init for a new pty in the sandbox's own devpts as the
	// command's stdin, stdout, stderr and controlling terminal, whose
	// master comes back. When init cannot make one the request's
	// descriptors are used, with TTY.
	Console bool `json:"console,omitempty"`
	// Env are the caller's variables, KEY=VALUE; init takes only those
	// that the plan's PassEnv names. Dir, when set, is the working
	// directory instead of the plan's.
	Env []string `json:"env,omitempty"`
	Dir string   `json:"dir,omitempty"`
}

// ExecExit is how an exec'd command ended.
type ExecExit struct {
	ID     int    `json:"id"`
	Status Status `json:"status"`
	// Err is set when the command could not be started, with its errno.
	Err   string `json:"err,omitempty"`
	Errno int    `json:"errno,omitempty"`
}

// ExecConsole, from init, answers an exec request's Console: the pty's
// name, whose master comes with the message, or why there is none.
type ExecConsole struct {
	ID   int    `json:"id"`
	Name string `json:"name,omitempty"`
	Err  string `json:"err,omitempty"`
}

// ExecSignal asks init to deliver a signal to an exec'd command.
type ExecSignal struct {
	ID     int `json:"id"`
	Signal int `json:"signal"`
}

// Next reads the next Message and takes the descriptors that came with
// it.
func (r *Reader) Next() (Message, []int, error) {
	var m Message
	line, err := r.Line()
	if err != nil {
		return m, nil, err
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return m, nil, fmt.Errorf("bad message %.80q: %w", line, err)
	}
	n := m.FDs()
	if n == 0 {
		return m, nil, nil
	}
	fds, err := r.Take(n)
	if err != nil {
		return m, nil, fmt.Errorf("message %.80q: %w", line, err)
	}
	return m, fds, nil
}

// checkFirst checks that line is cell's first message, of this version.
func checkFirst(line []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("bad first message %.80q: %w", line, err)
	}
	if m.Version == 0 && m.Runtime == nil && !m.Mapped {
		return m, fmt.Errorf("expected cell's first message (the run-time message or the ID maps' word), got %.80q", line)
	}
	if m.Version != InitVersion {
		return m, &VersionError{Protocol: "parent↔init", Us: "cell-init", Them: "cell", Ours: InitVersion, Theirs: m.Version}
	}
	return m, nil
}

// CheckMapped checks the line that init's first life waits for (without
// its newline): the word that its ID maps exist, of this version.
func CheckMapped(line []byte) error {
	m, err := checkFirst(line)
	if err != nil {
		return err
	}
	if !m.Mapped {
		return fmt.Errorf("expected the ID maps, got %.80q", line)
	}
	return nil
}

// ReadStart reads what cell sends init before init runs a step: the
// run-time message, of this version, then the plan's bytes (without their
// newline), which it does not decode.
func ReadStart(in *bufio.Reader) (*Runtime, []byte, error) {
	line, err := readLine(in, MaxMessage)
	if err != nil {
		return nil, nil, fmt.Errorf("read the run-time message: %w", err)
	}
	m, err := checkFirst(line)
	if err != nil {
		return nil, nil, err
	}
	if m.Runtime == nil {
		return nil, nil, fmt.Errorf("expected the run-time message, got %.80q", line)
	}
	b, err := readLine(in, MaxPlan)
	if err != nil {
		return nil, nil, fmt.Errorf("read plan: %w", err)
	}
	return m.Runtime, b, nil
}

// readLine reads one line of at most max bytes, without its newline.
func readLine(in *bufio.Reader, max int) ([]byte, error) {
	var b []byte
	for {
		part, err := in.ReadSlice('\n')
		if len(b)+len(part) > max+1 {
			return nil, &TooLongError{Max: max}
		}
		b = append(b, part...)
		switch {
		case err == nil:
			return b[:len(b)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(b) > 0:
			return nil, &TruncatedError{Len: len(b)}
		default:
			return nil, err
		}
	}
}
