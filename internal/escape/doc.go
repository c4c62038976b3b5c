// Package escape builds and reads the escape suite: a small static program
// (cmd/escape) that runs inside a sandbox, tries each known way out of one
// (mounting, nested user namespaces, ptrace of pid 1 and of processes
// outside, the caller's session keyring, keyctl, bpf, perf_event_open,
// kexec, module loading, reboot, raw sockets, MPTCP and SCTP past
// landlock's TCP rules, rare socket families and NETLINK_AUDIT,
// modify_ldt, memfd_secret, writes to /proc/sys and /proc/sysrq-trigger,
// opening pid 1's executable for writing, TIOCSTI, mknod, set-ID files
// left in the working directory for the host, running a program through
// the dynamic loader where execve is refused, the chroot escape,
// /etc/shadow, every signal to pid 1, setuid back to 0, inherited
// descriptors in the command and in pid 1, and working directories that
// lead outside) and prints one line per attempt.
//
// Tests call [Build] for the program's path, run it in a sandbox, and
// hand its output to [Verify], which fails the test on a malformed line,
// an attempt that ESCAPED, or one of [Names] that printed nothing (the
// sandbox died under the program). The package's own tests run the program on
// the host: as an unprivileged user, where every privileged attempt must be
// BLOCKED, and as root in private namespaces, where the same attempts must
// be reported ESCAPED, which shows that the detectors see success.
//
// The package is for tests only; it imports testing.
package escape
