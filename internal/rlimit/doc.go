// Package rlimit models the command's resource limits.
//
// A [Resource] is one of the kernel's RLIMIT_* resources, named as in a
// profile ("nofile", "as", ...); its zero value is invalid, so a forgotten
// field cannot silently mean RLIMIT_CPU, whose number is 0. A [Limit] is a
// soft and a hard value, [Unlimited] for RLIM_INFINITY.
//
// The package only models and prints limits; the subpackage prlimit
// applies them.
package rlimit
