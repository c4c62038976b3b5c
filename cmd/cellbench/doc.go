// Command cellbench measures how long `cell run` takes to start /bin/true,
// side by side with the kernel floor (util-linux unshare with the same
// namespaces), bubblewrap with mounts equivalent to cell's default profile,
// crun with an OCI bundle equivalent to bubblewrap's arguments (where crun
// is installed and cellbench is root), and a plain fork+exec of /bin/true;
// and how much memory each launcher's processes hold while the command
// runs.
//
// Usage:
//
//	cellbench [-cell ./cell] [-n 200] [-warmup 10] [-variants=true] [-mem 5] [-json]
//	cellbench -throughput [-c 2] [-d 5] [-json]
//	cellbench -growth [-binds 0,1,10,100,1000] [-running 0,1,10,100] [-n 200] [-json]
//	cellbench -trace [-n 200] [-json]
//
// Latency mode (the default) warms each command up, then runs the commands
// round-robin, rotating which one goes first in each round, so that noise
// on the machine hits all of them alike. Each run is timed with time.Now
// around exec.Cmd.Run, with stdin, stdout and stderr on /dev/null, and must
// exit 0: the first failure ends the benchmark, with the stderr of one
// rerun in the message. It prints a markdown table (median, p90, p99, min,
// max, median max RSS, ratios to bwrap and unshare) and a one-line summary,
// or with -json every sample.
//
// Every row also has its CPU time: user plus system time of the whole
// launch tree, from wait4's rusage of the launched process and of every
// orphan it left (each covers the descendants it reaped: cell's covers
// its init's, which covers the command's).
//
// Latency mode also runs issue 16's rows: `cell run` of the reference
// profile (testdata/reference.yaml, embedded: bubblewrap's reference
// set of user, pid, uts, ipc, net and cgroup namespaces, /usr read-only
// with the bin, lib, lib64 and sbin links, /etc read-only, a private
// /tmp, /proc, /dev, no seccomp) next to bwrap with exactly those
// arguments (refBwrapArgs); and `cell --help`, startup alone, next to a
// static Go hello that cellbench builds into its scratch directory with
// the go command on PATH. A table of issue 16's targets follows, each a
// ratio of medians from the same run, met or missed.
//
// Growth mode measures the two reference rows with more read-only binds
// (-binds: of one directory, at /m/0, /m/1 ...), then with N sandboxes
// of the launcher being measured already running (-running: each runs
// sleep, started and waited for before the point's rounds, ended with
// SIGTERM after them), and prints each as a table with the change per
// step, so that growth worse than linear shows.
//
// Trace mode runs `cell run --trace --log-format json` of the default
// and of the reference profile, and cuts each launch at every phase end
// that cell and its init report (wall-clock stamps, which both share):
// from cellbench's clock before the fork to cell's runtime, through
// cell's and init's phases, to cellbench having reaped cell. It prints
// a cost table per profile: each phase's median and its share of the
// median launch.
//
// Max RSS is ru_maxrss from wait4, which has a floor: os/exec starts
// children with vfork, and Linux charges a child that execs the peak RSS
// of the memory it leaves, cellbench's own. The table marks medians at
// that floor with ≤. cellbench collects its garbage between rounds, so
// that its heap stays small and no collection runs during a launch.
//
// Unless -variants=false, latency mode also runs, in the same interleaved
// rounds, variants of `cell run` that each differ from the default profile
// by one feature, so that the difference of medians is that feature's cost
// per launch: the default seccomp filter left out
// (security.seccomp.mode=unconfined; its cost is the default's median
// minus this row's), a Landlock ruleset, a cgroup in each hierarchy with
// pids and memory limits (resources.parent=cellbench-<pid>), and cell run
// as an unprivileged user (celltest if it exists, else uid and gid 65534)
// from a directory that user owns, with a copy of the binary it can run.
// Before the rounds, cellbench checks with `cell plan --json` that each
// variant's plan differs from the default's by that feature and nothing
// else (the rootless plan also maps ids its own way). A variant the machine cannot run is skipped with the reason in the
// output: Landlock where the kernel has none, the rootless row where
// unprivileged user namespaces are refused (util-linux unshare fails as
// that user), both the cgroups and the rootless rows where cellbench is not
// root. For each variant the table's "vs default" column gives the
// difference of medians, with its sign; a note under it repeats each
// feature's cost next to the median of the per-round differences and its
// 95% confidence interval, a check on the noise.
//
// Each launch of the cgroups row makes its own cgroup under
// cellbench-<pid> and removes it. The parent in every hierarchy
// (/sys/fs/cgroup/cellbench-<pid>, /sys/fs/cgroup/*/cellbench-<pid>) is
// cellbench's to remove: it does so when it returns, also on an error,
// SIGINT, SIGTERM or SIGHUP, killing and removing any cgroup a killed
// launch left under it. After a complete run, a cgroup left under it is a
// bug in cell: cellbench prints the table, then fails.
//
// After the latency rounds, unless -mem 0, memory mode launches cell,
// unshare, bwrap and crun -mem times each, in rotating rounds, with
// /bin/cat as the command, its stdin a pipe from cellbench: the command
// stays until cellbench closes the pipe, and then exits 0, so no timing
// decides when it ends. Once a process of the launch runs /bin/cat (the
// same device and inode as /proc/PID/exe), cellbench waits 50 ms, then
// three times, 50 ms apart, reads Rss and Pss from /proc/PID/smaps_rollup
// of every process of the launch (the launched process and those below
// it in the process tree) except the command and what is below it, and
// sums them. The table gives the median of the sums and each process's
// median: for cell, `cell run` and its init; for bwrap, its monitor and
// its PID 1; for crun, crun itself, which stays the container's parent
// (no conmon: the container's process is the command).
//
// Throughput mode runs -c workers that launch `cell run -- /bin/true` back
// to back for -d seconds, then does the same for bwrap, then crun, and
// reports launches per second.
//
// crun's rows run `crun --root DIR --cgroup-manager=disabled run --bundle
// BUNDLE ID-N`, the state directory and the bundle under the scratch
// directory, config.json written by cellbench (see crunSpec), a unique ID
// per launch. The disabled cgroup manager makes no cgroup, as neither
// cell's default profile nor bwrap does. crun 1.x refuses every container
// on a hybrid cgroup host whose cgroup2 hierarchy has controllers, even
// with its cgroup manager disabled; moving them to v1 would change cgroups
// that are not cellbench's. There, cellbench starts crun from a thread
// with a mount namespace of its own (unshare(CLONE_NEWNS) on a locked
// thread, / made a recursive slave, an empty read-only tmpfs on
// /sys/fs/cgroup/unified), in which crun sees a cgroup v1 host; a child
// inherits the namespace of the thread that forks it, so the launch costs
// nothing more, and no mount propagates to the host. Throughput mode
// gives each worker such a thread. crun's rows are skipped, with the
// reason in the output, where crun is not installed or cellbench is not
// root.
//
// The unshare and bwrap command lines are derived from `cell plan --json`:
// the namespaces are those of the plan's clone and unshare steps, so the
// floor stays a floor when the profile changes. The bwrap mounts mirror
// profiles/default.yaml by hand; bubblewrap has no time namespace option.
//
// The default profile binds the current directory writable and refuses to
// run from / or /tmp, so every command runs in a scratch directory created
// under /var/tmp. cellbench removes it when it returns, also on an error,
// a panic, SIGINT, SIGTERM or SIGHUP, and the rootless row's directory
// likewise; only SIGKILL leaves them behind (they are named
// /var/tmp/cellbench-*). Each child runs in its own process group,
// which is killed if cellbench is interrupted; the sandboxes' mounts live
// in their own mount namespaces and go away with them.
//
// A launcher may return before every process it started has exited:
// bwrap's monitor exits once its PID 1 in the sandbox has reported the
// command's status, and that PID 1 is then orphaned. cellbench is a child
// subreaper, so such orphans become its children; it reaps them (by
// process group) before the next run, folds their max RSS into the run's,
// and records the time until the whole tree was gone next to the wall
// time, which stays the headline number.
package main
