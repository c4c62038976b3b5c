package main

import (
	"strings"
	"testing"
)

// deviceScript tries, as the sandbox's root with CAP_MKNOD and no user
// namespace of its own, what a device cgroup decides: open /dev/null (one
// of cell's /dev nodes), mknod a node of /dev/kmsg's number (c 1:11) on
// the writable /dev tmpfs and open it for writing (which, unlike reading,
// needs no CAP_SYSLOG), and mknod and open a node of the
// first SCSI disk (b 8:0), as a command would to read the host's disk.
// It prints what worked; the shell's errors go to stderr.
const deviceScript = `head -c0 </dev/null && echo null-open
mknod /dev/k c 1 11 && echo kmsg-made && { head -c0 >/dev/k && echo kmsg-open; }
mknod /dev/disk b 8 0 && echo disk-made && { head -c0 </dev/disk && echo disk-open; }
true`

// mknodProfile is the base test profile for a root that keeps CAP_MKNOD
// and has no user namespace of its own.
const mknodProfile = "namespaces: {user: host}\nsecurity: {capabilities: [CAP_MKNOD]}\n"

// TestDeviceRules runs a sandbox whose device rules allow mknod of
// /dev/kmsg's number but not opening it: on a host with cgroup v1's
// devices controller they are its files, on cgroup v2 (make test-vm) a
// BPF program attached to the sandbox's cgroup. /dev/null, which cell's
// /dev provides, opens; the kmsg node is made but opening it is EPERM;
// the disk node cannot be made.
func TestDeviceRules(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	r := sandboxRun(t, profile(t, mknodProfile+"resources:\n  devices: [{type: c, major: 1, minor: 11, access: m}]\n"),
		[]string{"resources.parent=" + parent}, "/bin/sh", "-c", deviceScript)
	if r.code != 0 {
		t.Fatalf("cell failed: %s", r)
	}
	if got := strings.Join(strings.Fields(r.stdout), " "); got != "null-open kmsg-made" {
		t.Errorf("the sandbox could do %q, want null-open kmsg-made\n%s", got, r)
	}
	if n := strings.Count(r.stderr, "not permitted"); n != 2 {
		t.Errorf("%d EPERMs, want 2 (open of the kmsg node, mknod of the disk):\n%s", n, r)
	}
}

// TestMknodGuard runs a sandbox that keeps CAP_MKNOD without a user
// namespace and has no device rules: cell gives it a device cgroup that
// allows only the nodes of its /dev, so it can neither make a node of the
// host's disk nor of any other device. (Before, both mknods worked, and
// the disk node opened.)
func TestMknodGuard(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	r := sandboxRun(t, profile(t, mknodProfile), []string{"resources.parent=" + parent}, "/bin/sh", "-c", deviceScript)
	if r.code != 0 {
		t.Fatalf("cell failed: %s", r)
	}
	if got := strings.Join(strings.Fields(r.stdout), " "); got != "null-open" {
		t.Errorf("the sandbox could do %q, want only null-open\n%s", got, r)
	}
	if n := strings.Count(r.stderr, "not permitted"); n != 2 {
		t.Errorf("%d EPERMs, want 2 (both mknods):\n%s", n, r)
	}
}
