// Package oci reads an OCI runtime-spec bundle (config.json and its
// rootfs) as a cell profile, so that cell's review tools and compiler
// treat the specs an engine generates the way they treat profiles.
//
// config.json is read with yaml.v3, which parses JSON and keeps every
// value's line and column. The reader translates the JSON tree into the
// node tree of the equivalent profile, each node carrying the position of
// the JSON value it came from, and hands it to spec.ParseNode: every
// error and every finding about the profile is then placed in config.json.
//
// The translation fails closed. A value cell cannot apply (a mount type
// it has not, joining an existing namespace, a sysctl of the whole host,
// a device rule that denies part of what one before it allows, an
// AppArmor profile) is an error naming its JSON path and position, never
// dropped. Unknown keys are ignored, as the
// runtime spec requires of a runtime, and so are annotations. All errors
// are reported at once, sorted by position.
//
// Where the runtime spec's default differs from cell's, the profile says
// the runtime spec's: a namespace absent from linux.namespaces is the
// host's, no seccomp object means no filter, noNewPrivileges is off
// unless set, and cell's set-ID guard is off (security.setIDGuard).
//
// The package reads the host only for the bundle: Load reads the file it
// is given, and masked and read-only paths outside /proc are looked up in
// the bundle's rootfs (or the host's /sys, a bind's source) to know what
// they are.
package oci
