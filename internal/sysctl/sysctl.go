// Package sysctl is cell's kernel-parameter concern: which parameters
// belong to a namespace (and so may be set for a sandbox that has its
// own). It does no I/O, so the compiler can use it; procsys writes them.
//
// A parameter that no namespace holds is the whole host's; Namespace
// reports it as such and the compiler refuses it. The list follows the
// kernel's per-namespace tables (ipc/ipc_sysctl.c, ipc/mq_sysctl.c,
// net/, kernel/utsname_sysctl.c), as runc's validator does.
package sysctl

import "strings"

// Namespace returns the kind of namespace ("ipc", "net" or "uts") whose
// parameter name is, or "" for a parameter of the whole host.
func Namespace(name string) string {
	switch name {
	case "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
		"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced":
		return "ipc"
	case "kernel.hostname", "kernel.domainname":
		return "uts"
	}
	switch {
	case strings.HasPrefix(name, "fs.mqueue."):
		return "ipc"
	case strings.HasPrefix(name, "net."):
		return "net"
	}
	return ""
}

// Path is the file under /proc/sys of the parameter name.
func Path(name string) string { return "/proc/sys/" + strings.ReplaceAll(name, ".", "/") }
