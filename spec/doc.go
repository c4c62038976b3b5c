// Package spec reads cell's sandbox profiles: YAML files that declare, for
// one sandbox, its namespaces, ID maps, root file system and mounts,
// process environment and network.
//
// Parse is the package's one entry point, and it does four things in order:
//
//  1. decode: the YAML text becomes a yaml.Node tree, which must be one
//     document holding a mapping;
//  2. override: each --set KEY=VALUE of Options.Sets replaces or appends a
//     node of that tree (the VALUE is YAML too), before anything is typed;
//  3. expand: a reflective walker turns the tree into a Profile, replacing
//     ${HOME}, ${UID}, ${env:NAME} and the other variables of Vars in every
//     string scalar just before the scalar is typed, so that "uid: ${UID}"
//     works; keys are never expanded;
//  4. validate: validate tags on the Profile's fields and the registered
//     struct-level rules of validate.go check the result as a whole.
//
// Every step records where each value was written (Profile.At) and keeps
// going after an error, so that one run reports every problem of a file as
// an ErrorList of "file:line:col: path: message" lines, sorted by position.
// A value given by --set is positioned in the pseudo file "--set", its line
// being the argument's number.
//
// The package does no host I/O: it opens no file, reads no environment
// variable and asks nothing of the kernel. The caller passes the file's
// bytes, the values of the variables and the overrides in; whether a bind
// source exists or the kernel has user namespaces is for the packages that
// act on a Profile to find out.
//
// JSONSchema derives the JSON Schema of profiles from the same Go types,
// for editors; schemas/profile.v1.schema.json is its checked-in output
// (cell schema prints it).
package spec
