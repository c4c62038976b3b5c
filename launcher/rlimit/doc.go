// Package rlimit sets the command's resource limits and its OOM score
// adjustment.
//
// A [Resource] is one of the kernel's RLIMIT_* resources, named as in a
// profile ("nofile", "as", ...); its zero value is invalid, so a forgotten
// field cannot silently mean RLIMIT_CPU, whose number is 0. A [Limit] is a
// soft and a hard value, [Unlimited] for RLIM_INFINITY.
//
// [Apply] runs in the sandbox's init before it forks the command: resource
// limits belong to the process and are inherited across fork and execve.
// It goes through the syscall package's prlimit, which tells Go's fork
// not to restore in the command the RLIMIT_NOFILE soft limit that Go
// raised at start-up. [OOMScoreAdj] writes
// /proc/self/oom_score_adj, which the command inherits the same way.
package rlimit
