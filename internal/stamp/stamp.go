// Package stamp records when a process reached each phase of its life
// (its runtime ready, main, probe, parse, ... exit), for cell run
// --trace: a whole-life trace that starts before main and covers both
// cell and the sandbox's init.
//
// The record is process-wide, unlike the rest of cell's state, which is
// passed in: its first stamp is taken by a package initialiser, before
// any code of cell's could be handed a recorder, and the phases it marks
// are spread over packages (spec, sandbox, cmd/cell) whose signatures
// should not grow a parameter for a trace. A mark costs a clock read and
// an append under a mutex, so the hooks stay in the launch path whether
// or not a trace is asked for; what is recorded is printed only with
// --trace.
//
// Stamps are wall-clock times (CLOCK_REALTIME) in nanoseconds: cell and
// init compare theirs, and a time namespace offsets only the monotonic
// and boot clocks, never the wall clock.
package stamp

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Stamp is the moment a process finished one phase of its life.
type Stamp struct {
	// Name is the phase that ended ("probe": the host was probed).
	Name string `json:"name"`
	// Side is the process: "cell" or "init".
	Side string `json:"side,omitempty"`
	// Unix is the wall-clock time in nanoseconds since the epoch.
	Unix int64 `json:"ns"`
}

// Runtime is the name of the first stamp, taken as this package is
// initialised: the Go runtime has started and the packages this one
// depends on (time, sync, os) are initialised; the rest of the
// program's initialisers run after it.
const Runtime = "runtime"

var (
	mu    sync.Mutex
	marks = append(make([]Stamp, 0, 32), Stamp{Name: Runtime, Unix: time.Now().UnixNano()})
)

// maxMarks bounds the stamps kept between two Takes: a long-lived
// process that parses profiles again and again (a pool, a program using
// spec) and never takes them keeps the first ones and drops the rest,
// rather than growing without end.
const maxMarks = 64

// Mark records that the phase name ended now.
func Mark(name string) {
	t := time.Now().UnixNano()
	mu.Lock()
	if len(marks) < maxMarks {
		marks = append(marks, Stamp{Name: name, Unix: t})
	}
	mu.Unlock()
}

// Take returns the stamps recorded since the last Take, in the order
// they were marked, with Side set to side, and forgets them.
func Take(side string) []Stamp {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Stamp, len(marks))
	for i, s := range marks {
		s.Side = side
		out[i] = s
	}
	marks = marks[:0]
	return out
}

// ProcessStart is when the kernel started this process (its fork), in
// wall-clock nanoseconds since the epoch, from the start time in
// /proc/self/stat and the boot clock. The kernel gives it in clock ticks
// of 10 ms (USER_HZ is 100 on every Linux architecture), so it may be up
// to 10 ms early; a tool that forks the process knows the moment better.
func ProcessStart() (int64, error) {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	ticks, err := startTicks(data)
	if err != nil {
		return 0, fmt.Errorf("read /proc/self/stat: %w", err)
	}
	var boot unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot); err != nil {
		return 0, os.NewSyscallError("clock_gettime(CLOCK_BOOTTIME)", err)
	}
	now := time.Now().UnixNano()
	age := boot.Nano() - int64(ticks)*(int64(time.Second)/userHZ)
	return now - age, nil
}

// userHZ is the unit of times in /proc/PID/stat, per second.
const userHZ = 100

// startTicks reads the start time (field 22) out of a /proc/PID/stat
// line. The command name (field 2) may hold spaces and parentheses, so
// fields are counted from its last closing parenthesis.
func startTicks(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name in %q", stat)
	}
	fields := bytes.Fields(stat[i+1:])
	// fields[0] is field 3 (the state), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 20", len(fields))
	}
	return strconv.ParseUint(string(fields[19]), 10, 64)
}
