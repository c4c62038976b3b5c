// Package seccomp holds cell's seccomp policy: a model of rules (syscall
// names, an action, conditions on arguments), the default policy, a
// compiler from a policy to a classic BPF program. It makes no syscall,
// so a plan carries policies without pulling in code that touches the
// kernel; the subpackage filter installs a compiled program. It is pure
// Go (no libseccomp, so cell stays static) and x86_64 only.
//
// # Model
//
// A Policy is a default Action, Rules, and AllowNestedNamespaces. A Rule
// names syscalls, an Action (Allow, Errno(n), Kill, Log, Trap) and Conds
// that must all hold: eq, ne, lt, le, gt, ge over the whole 64-bit
// argument, and masked-eq, masked-ne with a mask, which is how a rule
// compares only the low 32 bits of an argument the kernel reads as an
// int (ioctl's request: TIOCSTI|1<<32 must not slip past a TIOCSTI rule).
// Rules added later take precedence; see Policy for the whole order.
// Every syscall name is checked against the x86_64 table (LookupSyscall):
// an unknown name is an error that names it and the closest known name,
// never ignored.
//
// Default is Docker's default profile for a process without
// capabilities, less the rare socket families, NETLINK_AUDIT, modify_ldt
// and memfd_secret, plus the rules for TIOCSTI and TIOCLINUX, clone3
// (ENOSYS) and nested namespaces. Policy.LandlockTCP adds the refusal of
// the inet sockets that landlock's TCP port rules do not mediate (MPTCP,
// SCTP, raw). Summary and String print a policy for cell
// plan; the printed form is part of the API and tested.
//
// # Compiler
//
// Compile checks the architecture first (anything but x86_64, that is
// i386 through int 0x80, is killed; x32 syscall numbers fail with ENOSYS),
// then finds the syscall by binary search over ranges of numbers with one
// outcome, then tests each argument as two 32-bit words. The program is
// built from its end, so every jump's target is placed before the jump
// and a target beyond a conditional jump's 8-bit reach goes through an
// unconditional jump. The tests run the programs in a small BPF
// interpreter against the policy's own meaning, and in the kernel.
// github.com/elastic/go-seccomp-bpf was not used: it has no masked
// comparison (so no TIOCSTI rule on the low 32 bits), cannot order a
// conditional rule before an unconditional one on the same syscall, and
// compares syscall numbers one by one.
//
// # Installing
//
// Init installs the filter last, on its locked OS thread, right before it
// forks the command (syscall.ForkExec): the filter must allow the fork
// (clone without namespace flags) and what Go's child does before execve,
// and it does. filter.Install applies the filter to the calling thread only;
// init's other threads are unaffected, and the command inherits it.
package seccomp
