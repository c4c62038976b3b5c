// Package devfilter is cgroup v2's device control: it turns a sandbox's
// device rules into a BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it
// to the sandbox's cgroup.
//
// cgroup v2 has no devices controller: the kernel asks the
// BPF_CGROUP_DEVICE programs attached to a process's cgroup and its
// ancestors whether it may mknod or open a device node (the v1
// controller, where mounted, is asked too). Program writes the rules as
// eBPF instructions with github.com/cilium/ebpf's assembler, and Attach
// loads them and attaches them with BPF_PROG_ATTACH and
// BPF_F_ALLOW_MULTI: a program attached to an ancestor still runs, and
// the kernel allows an access only when every program does, so the
// sandbox's program can narrow what the host allows and never widen it.
// The program lives while the cgroup does; the descriptors are closed
// once it is attached.
//
// The rules are allow rules after an implicit "deny all", as cgroup v1's
// devices.allow after "a" is written to devices.deny: an access is
// allowed when one rule's type (a for any), major and minor (-1 for any)
// match the device and its access (r, w, m) includes every kind asked
// for.
//
// This is the only package of cell that loads BPF programs; the plan
// (launcher/plan) and the compiler name the step and its rules, and do
// not import it.
package devfilter
