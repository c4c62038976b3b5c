// Package checkpoint writes a running sandbox to a directory with CRIU and
// rebuilds it from there: on this host (a restore) or on another one (a
// migration, after iterative pre-dumps and a final dump while frozen).
//
// The directory holds CRIU's images and a manifest: the profile the
// sandbox was built from and its hash, the plan and its hash, the host
// facts the images depend on (kernel, architecture, cgroup version),
// CRIU's version, what the images take from outside the sandbox (the
// descriptors cell must hand back) and the SHA-256 of every image file. A
// restore checks all of it before anything runs: the plan it rebuilds
// from is the reviewed one, byte for byte, and the images are those CRIU
// wrote.
//
// A bridged sandbox's network namespace is left out of the images
// (empty_ns): its address and MAC go in the manifest (Network), and a
// restore runs the plan's network steps again, the host's before CRIU
// (the lease of that same address, the bridge, the rules) and the
// veth and in-namespace ones at CRIU's setup-namespaces, before CRIU
// restores the sockets, so that TCP connections to peers outside go on.
//
// What cannot be carried is refused before CRIU is asked, each with what
// blocks it (Blockers): a user-mode network (the slirp4netns helper is
// the host's, and its connection state is not CRIU's to dump), egress
// rules in the sandbox's namespace, landlock (CRIU cannot read a domain
// back, so a restored process would run without it), ID-mapped mounts,
// cgroup v1 hierarchies, leased ID ranges, inherited descriptors, pooled
// sandboxes and rootless callers. Where CRIU itself does not work (`criu check` fails, as on
// kernels newer than the CRIU, or criu is missing) every command refuses
// with CRIU's own reason, which `cell doctor` shows too.
//
// cell speaks CRIU's RPC protocol (criu swrk) with go-criu's message types
// rather than running criu's command line and reading its output: the
// requests are typed, errors come back as values, the descriptors a
// restore inherits and the pty master CRIU makes travel over the same
// socket, and the notifications (setup-namespaces, post-restore) let cell
// act at the right moment of a restore.
//
// A restore is a plan too (RestorePlan): the plan's steps it runs again
// (the cgroup and its limits, the network), CRIU's request, and the
// steps whose effect the images hold. Load makes it, once: `cell plan --restore`
// prints it and launcher.Restore runs it, so what was reviewed is what
// runs. The checkpointed plan itself is never edited but for a new name
// (Rename: the sandbox's cgroup paths, lease, rules' owner and veth),
// which the printed plan shows.
package checkpoint
