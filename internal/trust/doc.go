// Package trust decides whether cell may use a profile it found by
// itself: the nearest .cell.yaml in the working directory or above, which
// any sandbox that can write that directory could have written.
//
// Three rules, checked in this order, guard such a file:
//
//   - Ownership, as ssh's StrictModes and git's safe.directory: the file
//     must be a regular file owned by the caller (by root when the caller
//     is root) and writable by no one else, and every directory from the
//     file's up to / must be owned by the caller or root and be writable
//     by group and others only when sticky (as /tmp). Otherwise another
//     user could have written or replaced it.
//   - Pinning, as `direnv allow`: the caller must have trusted the file,
//     and every local file it extends, with this exact content. The store
//     keeps one SHA-256 per file, in sha256sum's format, in the caller's
//     configuration directory (see Dir), so a changed file needs trusting
//     again.
//   - Reach: the store must lie outside every writable bind of the sandbox
//     about to run (see Covering), or the sandbox could trust its own next
//     profile.
//
// The checks read a file once, from one descriptor, and hand back the
// bytes they checked, so that what runs is what was checked.
package trust
