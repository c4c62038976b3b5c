package sandbox

import (
	"os"
	"os/signal"
	"runtime/debug"
	"unsafe"

	"golang.org/x/sys/unix"
)

// faultSignals are the signals that the Go runtime turns into a crash
// with a goroutine dump when they do not come from kill or tgkill: a
// process that sends one with rt_sigqueueinfo and si_code SI_QUEUE is
// taken for a fault of init's own, whatever signal.Notify says.
// (SIGABRT and SIGQUIT, which the runtime also ends a program with, reach
// signal.Notify whatever their si_code.)
var faultSignals = []unix.Signal{
	unix.SIGILL, unix.SIGTRAP, unix.SIGBUS, unix.SIGFPE, unix.SIGSEGV, unix.SIGSTKFLT, unix.SIGSYS,
}

// initEnv is init's whole environment. GOTRACEBACK=none keeps a crash of
// init from printing its goroutines, with addresses, on the caller's
// terminal; debug.SetTraceback cannot go below the level the environment
// set when the program started.
var initEnv = []string{"GOTRACEBACK=none"}

// ignoreSignals makes init immune to the signals the command can send it
// (init uses none: cell relays signals over the socket, and the
// parent-death signal is SIGKILL). It must run before the command is
// forked.
//
//   - Every signal is handled and discarded (signal.Notify), not ignored:
//     a handled signal is reset to its default in the forked command, an
//     ignored one (SIG_IGN) would stay ignored in it.
//   - The fault signals get their default action back. The kernel drops a
//     signal whose action is the default when it is sent to the init of a
//     pid namespace from inside that namespace (SIGNAL_UNKILLABLE), by any
//     means and with any si_code; from cell's namespace it still works.
//     A real fault in init then ends it without a dump.
//   - No goroutine dump, if init ever crashes, reaches the caller's
//     terminal: tracebacks are off (initEnv; SetTraceback for an init
//     started some other way, such as by a test).
//
// Where init is not the init of a pid namespace (namespaces.pid: host),
// the command can end init anyway: SIGKILL is never blocked.
func ignoreSignals() {
	debug.SetTraceback("none")
	discard := make(chan os.Signal, 16)
	signal.Notify(discard)
	go func() {
		for range discard {
		}
	}()
	for _, sig := range faultSignals {
		setDefault(sig)
	}
}

// kernelSigaction is struct sigaction as rt_sigaction takes it on x86_64.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// setDefault sets sig's action to SIG_DFL behind the Go runtime's back;
// the runtime installs its handlers once, at start, and signal.Notify does
// not reinstall them for the fault signals. It cannot fail for a valid
// signal number.
func setDefault(sig unix.Signal) {
	act := kernelSigaction{} // handler 0 is SIG_DFL
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, unsafe.Sizeof(act.mask), 0, 0)
}
