// Package launcher makes and supervises sandboxes from Go: it is what
// `cell run` is built on, and a build system, a CI runner or a container
// runtime can launch a sandbox through it without starting a cell
// process.
//
// A launch has two halves. Prepare reads a profile (a Source, from Open
// or made by the caller), probes the host, parses and validates the
// profile with its overrides, and compiles it once into the plan that
// `cell plan` prints (a Prepared). Run executes that plan and supervises
// the sandbox until it has ended: stdio or a terminal of its own,
// relayed signals and job control (Options.Forward), a timeout, the
// state record that `cell ps`, `cell exec` and `cell gc` use, the
// statistics, and the teardown of cgroups, network and leases. Start,
// Sandbox.Signal, Sandbox.Console, Sandbox.Exec and Sandbox.Wait are the
// same without the supervision, for a caller that supervises itself.
// A detached sandbox (Invocation.Detached) outlives the process that
// starts it, as an OCI runtime's container outlives `create`: Start,
// Sandbox.Ready and Sandbox.Detach make it and hand init's socket over,
// Attach serves it from another process (its first Exec is its command:
// `start`), and Teardown removes it by its plan alone (`delete`).
// Invocation.EngineName names a sandbox as its engine does (an OCI
// container's cgroup) where a sandbox name could not. CgroupOf operates
// on a running sandbox's cgroups from any process that has its plan:
// it lists, freezes, thaws and kills its processes, changes its Limits
// and reads its counters, as `cell update` and an OCI runtime's pause,
// update and kill --all do.
// Exec runs a command in a pool's sandbox (launcher/pool) or a running
// sandbox's exec socket with the same supervision. Restore brings a
// checkpoint back (internal/checkpoint: the restore plan that
// checkpoint.Load makes and `cell plan --restore` prints) and supervises
// the restored sandbox as Run supervises a launched one. Run keeps each
// recorded sandbox's plan and profile beside its record, which is what
// `cell checkpoint` writes into a checkpoint.
//
//	launcher.Init() // first in main
//	src, err := launcher.Open("default")
//	p, err := launcher.Prepare(src, nil, launcher.Invocation{Args: []string{"make"}})
//	st, err := launcher.Run(ctx, p, launcher.Options{Stdout: os.Stdout, Stderr: os.Stderr})
//
// # Outcomes
//
// Run returns a Status: the command's exit code (Code), or the signal
// that killed it (Signal, with Code 128+N), or TimedOut, with the
// sandbox's Stats. Errors are typed: a *ProfileError is a profile that
// cannot be read, is invalid or asks for what the host cannot give (cell
// exits 2); a *SetupError is a step of the plan that failed, with the
// step, its profile position and errno, and host paths in its message
// (125); a *CommandError is the command's execve failing (127 not found,
// 126 otherwise). Any other error is the host's or the caller's (1).
//
// # The sandbox's init
//
// The first process of a sandbox is an init that runs the plan's steps
// inside it. It is an executable re-executed with argv[0] "cell-init":
// Invocation.Init when set (the cell-init that `make build` writes, or
// any build of cmd/cell-init), else FindInit's cell-init beside the
// calling executable when it comes from the same build, else the calling
// executable itself through /proc/self/exe. In that last case the
// program's main must call Init before anything else, so that the
// re-executed copy becomes init instead of running the program again;
// Start refuses a launch that would re-execute a program whose main
// did not call Init. A test binary calls Init at the top of TestMain.
//
// # Policies
//
// Prepare applies no policy of cell's command line: which profile a
// directory's .cell.yaml is, whether it is trusted, whether the working
// directory may be bound. A caller brings its own as Source.Vet, and
// reads the bytes it vetted into Source.Data and Source.Load, so that
// what is parsed is exactly what was checked.
package launcher
