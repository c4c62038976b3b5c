// Package cgroup is cell's cgroup concern: it decides, makes, watches and
// removes the cgroups that hold a sandbox and enforce its resource limits,
// on cgroup v2, v1 and the hybrid of both.
//
// # Pure part: Layout → Plan → Setup
//
// A Layout is the host's cgroup hierarchies as the caller sees them.
// ParseLayout reads it from the contents of /proc/self/mountinfo and
// /proc/self/cgroup, and cgroupfs.Probe adds, read-only, what Plan checks limits
// against (controllers available, delegation, swap accounting, IO weight
// files). Plan is a pure function of (Layout, parent, name, Limits) to a
// Setup: the directories to make, the values to write, where the first
// process clones into (v2) and which cgroups it joins (v1). It reads
// nothing, so the compiler can print the very steps the executor will
// run, and tests can pin them for any host from fixtures.
//
// Plan picks the hierarchy per controller: a controller mounted as v1
// goes there, otherwise to the unified hierarchy. On a pure v2 host
// everything goes to <unified>/<parent>/<name> (parent defaults to
// DefaultParent for root). On a hybrid host the limits go to their v1
// hierarchies and the unified leaf still holds the processes, which gives
// cgroup.kill, cgroup.freeze and cpu.stat. On a host without cgroup2 the
// cpuacct and freezer hierarchies stand in for those.
//
// A limit that the host cannot enforce is an error naming the limit and
// the reason; Plan never drops a limit. Rootless callers get cgroups only
// on v2, under the cgroup systemd delegated to them (systemd-run --user
// --scope -p Delegate=yes); cgroup v1 cannot be delegated.
//
// # Runtime part: the subpackage cgroupfs
//
// This package does no I/O, so that compiling and printing a plan touches
// no cgroup file; cgroupfs does the rest. Create makes a Setup's
// directories and writes (and undoes them on failure). OpenDir gives the
// descriptor for clone3's CLONE_INTO_CGROUP
// (syscall.SysProcAttr.UseCgroupFD), Join moves a running process in. A
// Group (Setup.Group) is the sandbox's cgroups afterwards: Freeze, Thaw,
// Kill, ReadStats and Remove work on it, and Limit (here) with Update
// change the limits of a running sandbox.
//
// Every failure of the kernel names the operation, the file, the value
// and the errno: `write "64M" to /sys/fs/cgroup/cell/x/memory.max: EINVAL
// (invalid argument)`.
//
// # Mappings between v2 and v1
//
// Limits are written in v2 terms. On v1: memory.max becomes
// memory.limit_in_bytes; swap.max becomes memory.memsw.limit_in_bytes =
// memoryMax + swapMax (v1 counts memory and swap together); cpu.max
// becomes cpu.cfs_quota_us and cpu.cfs_period_us; cpu.weight w becomes
// cpu.shares w*1024/100 (100 → 1024, the defaults); io.weight becomes
// blkio.bfq.weight (1..100 unchanged, 100..10000 onto 100..1000, as
// systemd maps it); io.max becomes the blkio.throttle.*_device files.
// memory.high and memory.oom.group have no v1 counterpart and are errors
// there. The other way, cpu.shares (CPUShares) is written as given on v1
// and converted to cpu.weight on v2 as runc does. Device rules are
// files on v1 (devices.deny "a", then devices.allow of each rule); cgroup
// v2 controls devices with a BPF_CGROUP_DEVICE program, which Plan leaves
// to a step of its own (Setup.Devices; package devfilter builds and
// attaches it).
//
// Huge page limits are per page size, named as the kernel names it
// ("2MB"): hugetlb.<size>.max on v2, hugetlb.<size>.limit_in_bytes on v1,
// and a size the kernel does not offer (Layout.HugePageSizes) is an
// error. The traffic class (net_cls.classid) and the priorities per
// interface (net_prio.ifpriomap) exist only on v1: where their hierarchy
// is not mounted (pure v2, or a hybrid host that leaves them unbound) they
// are an error, never dropped.
//
// # Tests
//
// The privileged tests make real cgroups under cell-test-<random>
// parents and check behaviour, not writes: an OOM kill under memoryMax, a
// fork refused at pidsMax, half a CPU under cpuMax 0.5, freeze and thaw,
// Kill and Remove. On a hybrid host they run twice, once as the host is
// and once as a pure v1 host (the same layout without its cgroup2 mount);
// `make test-vm` runs them in a pure cgroup v2 VM, as root and as a
// rootless user in a delegated cgroup.
package cgroup
