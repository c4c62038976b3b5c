// Package landlock models how the command's access to files and TCP ports
// is restricted with the kernel's Landlock LSM; the subpackage lsm makes
// the system calls.
//
// A [Rules] value is what a profile asks for: directories (or files) that
// stay readable, readable and executable, or writable, and the TCP ports
// that may be bound or connected to. Everything else of a kind of access
// that the rules mention is denied: filesystem rights when any path list is
// non-empty, TCP bind when BindTCP is non-empty, TCP connect when
// ConnectTCP is non-empty. To deny all TCP, give the sandbox its own
// network namespace; Landlock does not cover UDP, or MPTCP, SCTP and raw
// sockets, which the compiler has the seccomp filter refuse whenever port
// rules are set (see [Rules.RestrictsTCP]). Scope (ABI 6) cuts the
// command off from the abstract Unix sockets and the signals of processes
// outside its domain.
//
// What the kernel can enforce depends on its Landlock ABI version (lsm.ABI).
// The compiler calls [Rules.Check] with the host's version, so that a
// profile in [Require] mode is refused before anything starts when the
// kernel lacks a feature the rules need, and prints [Rules.Effective] in
// the plan, so that [BestEffort] mode never weakens a policy silently:
// the plan says what is enforced, what was dropped and what this ABI
// cannot control. lsm.Restrict runs in the sandbox's init, on the locked OS
// thread that then forks the command, after no_new_privs and before
// seccomp.
//
// The three system calls are made in lsm rather than through
// github.com/landlock-lsm/go-landlock: that library restricts every thread
// of the process (through libpsx, which under cgo links C code and wraps
// pthread_create in the whole binary), keeps its downgraded ruleset to
// itself, so the plan could not print what is really enforced, and grants
// execute with every read-only rule. Here one function decides the
// handled and granted rights at an ABI version: [Rules.Effective] prints
// it and [Rules.Ruleset], which lsm.Restrict makes, is it, so the plan and
// the kernel cannot disagree.
package landlock
