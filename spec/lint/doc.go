// Package lint reviews a validated profile for choices that widen what a
// sandboxed command can reach: host namespaces, writable binds of system
// paths or the home directory, sockets of host services, unbounded tmpfs,
// IDs mapped to the host's root, secrets passed in the environment.
//
// Each rule has a stable ID (CELL001, ...) that never changes meaning, a
// default severity, a one-line message and a fix hint, and reports each
// finding at the profile position (spec.Profile.At) of the value that
// caused it. Rules are a table (Rules): a rule is one function over a
// profile, so a rule for a field that arrives later is one more entry.
//
// Profile runs every rule and adds an exposure score from 0 to 10 in the
// spirit of systemd-analyze security: every finding removes a share of
// the protection that is left, so the score grows with each finding and
// never passes 10. Write, WriteJSON and WriteSARIF print reports as text,
// JSON and SARIF 2.1.0 (for code scanning services).
//
// Like spec, the package does no host I/O: what it knows of the caller
// (the home and working directories) comes in through Options. cell lint
// reads every profile as the same reviewer (ReviewerVars,
// ReviewerOptions), so that its findings do not depend on the machine.
// What a rule says of reading, writing and executing comes from
// spec/access, which weighs the mounts and landlock together.
package lint
