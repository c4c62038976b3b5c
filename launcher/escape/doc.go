// Package escape builds and reads the escape suite: a small static program
// (cmd/escape) that runs inside a sandbox, tries each known way out of one
// (mounting, nested user namespaces, ptrace of pid 1 and of processes
// outside, keyctl, bpf, perf_event_open, kexec, module loading, reboot,
// raw sockets, writes to /proc/sys and /proc/sysrq-trigger, opening pid
// 1's executable for writing, TIOCSTI, mknod, set-ID files left in the
// working directory for the host, the chroot escape, setuid back to 0,
// /etc/shadow, inherited descriptors in the command and in pid 1, and
// working directories that lead outside) and prints one line per attempt.
//
// Tests call [Build] for the program's path, run it in a sandbox, and
// hand its output to [Verify], which fails the test on a malformed line
// or an attempt that ESCAPED. The package's own tests run the program on
// the host: as an unprivileged user, where every privileged attempt must be
// BLOCKED, and as root in private namespaces, where the same attempts must
// be reported ESCAPED, which shows that the detectors see success.
//
// The package is for tests only; it imports testing.
package escape
