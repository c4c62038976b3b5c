// Package cgroupfs is the kernel side of the cgroup concern: it reads the
// host's cgroup layout (Probe), makes the cgroups of a cgroup.Setup
// (Create), puts processes in them (OpenDir, Join), changes their limits
// (Update), and freezes, thaws, kills, reads the counters of and removes
// a sandbox's cgroup.Group. What to make and write is decided by the pure
// package cgroup, which plans carry.
package cgroupfs
