package seccomp

import (
	"golang.org/x/sys/unix"
)

// Default returns the default policy: in effect Docker's default seccomp
// profile for a process without capabilities (which is what the command
// is: init drops the bounding set), with these differences:
//
//   - Syscalls are denied with EPERM unless allowed; there is no rule per
//     capability, since the command has none.
//   - ptrace, process_vm_readv and process_vm_writev are denied (Docker
//     allows them on kernels from 4.8 on). A profile that needs a debugger
//     adds them back with Add.
//   - ioctl with the request TIOCSTI or TIOCLINUX fails with EPERM,
//     comparing only the low 32 bits of the request (the kernel reads it
//     as an int), so TIOCSTI|1<<32 is denied too.
//   - Only x86_64 syscalls pass; i386 syscalls kill the process and x32
//     syscalls fail with ENOSYS (Docker allows both ABIs).
//   - Nested namespaces are denied unless AllowNestedNamespaces is set:
//     see Policy.
//   - socket makes only AF_UNIX, AF_INET, AF_INET6, AF_NETLINK and
//     AF_PACKET sockets (Docker allows 31 families: RDS, TIPC, KCM, SMC,
//     CAN, Bluetooth, AF_KEY, XDP and more, whose code has had exploitable
//     bugs and which a sandboxed command does not need); any other family
//     fails with EAFNOSUPPORT, and NETLINK_AUDIT sockets with
//     EPROTONOSUPPORT, what a kernel without them answers, so that
//     programs carry on (libaudit users such as useradd abort on EPERM).
//   - modify_ldt and memfd_secret are denied (Docker allows both).
//
// A profile asks for any of them back with a rule, which takes
// precedence: {syscalls: [socket], action: allow, args: [{index: 0, op:
// eq, value: 31}]} for Bluetooth, {syscalls: [modify_ldt], action: allow}.
//
// Denied as in Docker, among others: keyctl, add_key, request_key, bpf,
// perf_event_open, kexec_load, kexec_file_load, init_module, finit_module,
// delete_module, reboot, mount, umount2, pivot_root, setns, unshare,
// userfaultfd, io_uring_*, and personality with anything but PER_LINUX,
// PER_LINUX32, UNAME26 (alone or with PER_LINUX32) or the query
// 0xffffffff.
//
// The list allows everything Go's syscall.ForkExec does in the child
// before execve (setgroups, setgid, setuid, chdir, prctl, getppid, dup3,
// fcntl, close, ioctl, execve, write, exit), and clone without namespace
// flags for the fork itself.
func Default() *Policy {
	p := &Policy{DefaultAction: Errno(unix.EPERM)}
	add := func(r Rule) {
		if err := p.Add(r); err != nil {
			panic("seccomp: default policy: " + err.Error())
		}
	}
	add(Rule{Names: dockerAllowed(), Action: Allow})
	// Docker allows clone when no namespace flag is set; here the guard
	// of Policy (step 3) denies those flags, whatever the rules say.
	add(Rule{Names: []string{"clone"}, Action: Allow})
	for _, persona := range []uint64{perLinux, perLinux32, uname26, perLinux32 | uname26, perQuery} {
		add(Rule{Names: []string{"personality"}, Action: Allow, Args: []Cond{Eq(0, persona)}})
	}
	// Checked last among the socket rules: what no rule below allows.
	add(Rule{Names: []string{"socket"}, Action: Errno(unix.EAFNOSUPPORT)})
	for _, r := range familyRanges(socketFamilies()) {
		args := []Cond{Eq(0, r[0])}
		if r[0] != r[1] {
			args = []Cond{Ge(0, r[0]), Le(0, r[1])}
		}
		add(Rule{Names: []string{"socket"}, Action: Allow, Args: args})
	}
	add(Rule{Names: []string{"socket"}, Action: Errno(unix.EPROTONOSUPPORT),
		Args: []Cond{Eq(0, unix.AF_NETLINK), MaskedEq(2, 0xffffffff, unix.NETLINK_AUDIT)}})
	// clone3 takes its flags through a pointer, which seccomp cannot
	// read; ENOSYS makes the C library fall back to clone.
	add(Rule{Names: []string{"clone3"}, Action: Errno(unix.ENOSYS)})
	for _, req := range []uint64{tioclinux, tiocsti} {
		add(Rule{Names: []string{"ioctl"}, Action: Errno(unix.EPERM), Args: []Cond{MaskedEq(1, 0xffffffff, req)}})
	}
	return p
}

// dockerAllowed returns the syscalls that Docker's default profile allows
// without conditions and without capabilities, transcribed from
// github.com/moby/profiles/seccomp v0.3.0 (default_linux.go) and kept
// to the names x86_64 has (its i386 and 32-bit time variants such as
// chown32 or clock_gettime64 are left out), plus arch_prctl, which Docker
// allows on amd64, and without the calls Default denies (ptrace,
// process_vm_readv, process_vm_writev, modify_ldt, memfd_secret).
// TestDefaultMatchesDocker checks the transcription against that module.
func dockerAllowed() []string {
	return []string{
		"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat",
		"capget", "capset", "chdir", "chmod", "chown", "clock_adjtime", "clock_getres",
		"clock_gettime", "clock_nanosleep", "close", "close_range", "connect",
		"copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
		"epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
		"epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
		"faccessat", "faccessat2", "fadvise64", "fallocate", "fanotify_mark", "fchdir",
		"fchmod", "fchmodat", "fchmodat2", "fchown", "fchownat", "fcntl", "fdatasync",
		"fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
		"fstatfs", "fsync", "ftruncate", "futex", "futex_requeue", "futex_wait", "futex_waitv",
		"futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
		"geteuid", "getgid", "getgroups", "getitimer", "getpeername", "getpgid", "getpgrp",
		"getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresuid", "getrlimit",
		"get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
		"get_thread_area", "gettid", "gettimeofday", "getuid", "getxattr", "getxattrat",
		"inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
		"ioctl", "io_destroy", "io_getevents", "io_pgetevents", "ioprio_get", "ioprio_set",
		"io_setup", "io_submit", "kill", "landlock_add_rule", "landlock_create_ruleset",
		"landlock_restrict_self", "lchown", "lgetxattr", "link", "linkat", "listen",
		"listmount", "listxattr", "listxattrat", "llistxattr", "lremovexattr", "lseek",
		"lsetxattr", "lstat", "madvise", "map_shadow_stack", "membarrier", "memfd_create",
		"mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2",
		"mlockall", "mmap", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
		"mq_timedreceive", "mq_timedsend", "mq_unlink", "mremap", "mseal", "msgctl", "msgget",
		"msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at",
		"nanosleep", "newfstatat", "open", "openat", "openat2", "pause", "pidfd_open",
		"pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect",
		"poll", "ppoll", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
		"process_mrelease", "pselect6", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
		"readlink", "readlinkat", "readv", "recvfrom", "recvmmsg", "recvmsg",
		"remap_file_pages", "removexattr", "removexattrat", "rename", "renameat", "renameat2",
		"restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
		"rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
		"rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
		"sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
		"sched_rr_get_interval", "sched_setaffinity", "sched_setattr", "sched_setparam",
		"sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
		"semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsuid",
		"setgid", "setgroups", "setitimer", "setpgid", "setpriority", "setregid", "setresgid",
		"setresuid", "setreuid", "setrlimit", "set_robust_list", "setsid", "setsockopt",
		"set_thread_area", "set_tid_address", "setuid", "setxattr", "setxattrat", "shmat",
		"shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
		"socketpair", "splice", "stat", "statfs", "statmount", "statx", "symlink", "symlinkat",
		"sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
		"timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime",
		"timerfd_create", "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate",
		"umask", "uname", "unlink", "unlinkat", "uretprobe", "utime", "utimensat", "utimes",
		"vfork", "vmsplice", "wait4", "waitid", "write", "writev",
		"arch_prctl",
	}
}

// socketFamilies returns the address families socket(2) may create, in
// order: those of Docker's default profile (moby/profiles/seccomp v0.3.0)
// that a sandboxed command uses.
func socketFamilies() []uint64 {
	return []uint64{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK, unix.AF_PACKET}
}

// familyRanges groups sorted numbers into runs [first, last].
func familyRanges(nums []uint64) [][2]uint64 {
	var out [][2]uint64
	for _, n := range nums {
		if k := len(out); k > 0 && out[k-1][1]+1 == n {
			out[k-1][1] = n
			continue
		}
		out = append(out, [2]uint64{n, n})
	}
	return out
}
