// Package plan is the plan of one sandbox: the ordered steps that set it
// up and start its command, which `cell plan` prints and `cell run`
// executes, byte for byte the same value.
//
// A Step is a Side (the process that runs it: cell, the sandbox's init,
// or the command init forks), the profile position that produced it, and
// an Action: one Go type per op (actions.go), holding only the arguments
// that op takes, named for what they are. The set of types is closed (the
// interface has an unexported method); each prints itself as the
// syscalls it makes, and the executors in internal/sandbox switch on the
// type, refusing one they do not run.
//
// One table (ops.go) says, for each op, its name, the sides that may run
// it with the window of setup phases for each, and whether it runs only
// in cleanup; the printer, the JSON codec and Check read it. Check
// enforces the order of setup (check.go).
//
// The JSON form (codec.go) is versioned: a plan carries "version" first,
// and Decode refuses another version, an unknown op and an unknown field.
// Init decodes it with decode.go's decoder, which reads the few kinds of
// value the plan's types hold in one pass, faster than encoding/json at
// the start of every sandbox.
//
// plan imports no concern package: the data of the steps that belong to
// a concern (cgroups, nftables rules, landlock rules, rlimits, the
// seccomp filter) are plan's own types (models.go), which the concern
// packages use or convert from.
package plan
