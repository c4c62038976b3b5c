// Package ociruntime makes cell an OCI runtime with runc's command-line
// dialect, as containerd's runc shim, conmon (podman), Slurm and the
// runtime-tools suite call one. A container goes through cell's own
// pipeline, through package launcher's Go API as any program outside
// cell could use it: config.json is read as a profile (spec/oci,
// positions inside config.json), compiled by launcher.Compile into the
// plan of a detached sandbox (Invocation.Detached, named by
// Invocation.EngineName after its cgroup) and run by the same executor
// (launcher.Start); the record keeps the plan's bytes exactly as init
// received them (Sandbox.SentPlan).
//
// The process model:
//
//   - create starts the sandbox with a pooled plan, so init runs every
//     step and then waits for its command. It leaves behind a monitor (the
//     same binary, argv[0] MonitorArg0, in a session of its own) that holds
//     init's socket (Sandbox.Detach, then launcher.Attach in the monitor)
//     and the container's stdio, writes init's pid to the
//     pid file, and exits. Init, its child, becomes the caller's (the caller
//     is a subreaper), and init's exit status is the container process's.
//     The plan carries no parent-death signal: nothing of the sandbox dies
//     with the runtime process.
//   - start asks the monitor, over a unix socket in the container's state
//     directory, to send init the first request: config.json's
//     process.args with the held stdio.
//   - exec leaves a reapable process: a proxy (argv[0] ProxyArg0) that
//     sends the monitor its own stdio with the request, relays the signals
//     it receives, and exits with the exec'd command's status (killing
//     itself with the same signal when a signal ended the command). Init
//     forks the command from its own thread, so it has every defence the
//     container process has.
//   - state, kill, delete, ps, update, pause and resume read the record in
//     the state directory (--root) and init's pid, whose start time tells
//     it from a reused pid. delete runs the plan's printed cleanup steps
//     (launcher.Teardown: the cgroups' kill and removal; a detached plan
//     has no other cleanup) and the poststop hooks.
//
// Hooks run in the runtime's namespaces with the state JSON on stdin.
package ociruntime
