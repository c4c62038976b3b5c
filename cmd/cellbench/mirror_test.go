package main

import (
	"maps"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// defaultNS is the namespaces of cell's default plan at the time of
// writing: a clone with seven, then unshare(CLONE_NEWTIME) in init.
const defaultNS = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET |
	unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

func TestParsePlan(t *testing.T) {
	const plan = `{"version":2,"profile":"default","rootless":true,"steps":[
		{"side":"parent","op":"clone","args":{"flags":2114060288}},
		{"side":"parent","op":"write-id-map","args":{"file":"uid_map","data":"0 0 1\n"}},
		{"side":"parent","op":"write-id-map","args":{"file":"gid_map","data":"0 0 1\n"}},
		{"side":"init","op":"unshare","args":{"flags":128}},
		{"side":"init","op":"pdeathsig","args":{"signal":9}}],
		"cleanup":[{"side":"parent","op":"cgroup-remove","args":{"dir":"/sys/fs/cgroup/a"}}]}`
	got, err := parsePlan([]byte(plan))
	if err != nil {
		t.Fatal(err)
	}
	if got.ns != defaultNS {
		t.Errorf("parsePlan: ns = %v, want %v", got.ns, nsFlags(defaultNS))
	}
	if !got.rootless {
		t.Error("parsePlan: rootless = false, want true")
	}
	wantOps := map[string]int{"clone": 1, "write-id-map": 2, "unshare": 1, "pdeathsig": 1, "cgroup-remove": 1}
	if !maps.Equal(got.ops, wantOps) {
		t.Errorf("parsePlan: ops = %v, want %v", got.ops, wantOps)
	}
	if _, err := parsePlan([]byte(`{"steps":[{"op":"unshare","args":{"flags":128}}]}`)); err == nil {
		t.Error("parsePlan accepted a plan without a clone step")
	}
}

func TestUnshareArgs(t *testing.T) {
	tests := []struct {
		ns   nsFlags
		want string
	}{
		{defaultNS, "unshare --user --map-root-user --mount --pid --fork --net --uts --ipc --cgroup --time --mount-proc /bin/true"},
		{defaultNS &^ unix.CLONE_NEWTIME, "unshare --user --map-root-user --mount --pid --fork --net --uts --ipc --cgroup --mount-proc /bin/true"},
		{unix.CLONE_NEWUSER | unix.CLONE_NEWNS, "unshare --user --map-root-user --mount /bin/true"},
	}
	for _, tt := range tests {
		t.Run(tt.ns.String(), func(t *testing.T) {
			if got := strings.Join(unshareArgs("unshare", tt.ns, "/bin/true"), " "); got != tt.want {
				t.Errorf("unshareArgs:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestBwrapArgs(t *testing.T) {
	want := "bwrap --unshare-user --unshare-pid --unshare-net --unshare-uts --unshare-ipc --unshare-cgroup" +
		" --ro-bind /usr /usr --ro-bind-try /bin /bin --ro-bind-try /sbin /sbin --ro-bind-try /lib /lib" +
		" --ro-bind-try /lib64 /lib64 --ro-bind-try /etc/passwd /etc/passwd --ro-bind-try /etc/group /etc/group" +
		" --ro-bind-try /etc/nsswitch.conf /etc/nsswitch.conf --ro-bind-try /etc/hosts /etc/hosts" +
		" --ro-bind-try /etc/resolv.conf /etc/resolv.conf --ro-bind-try /etc/localtime /etc/localtime" +
		" --ro-bind-try /etc/ld.so.cache /etc/ld.so.cache --ro-bind-try /etc/ld.so.conf /etc/ld.so.conf" +
		" --ro-bind-try /etc/ld.so.conf.d /etc/ld.so.conf.d --ro-bind-try /etc/alternatives /etc/alternatives" +
		" --ro-bind-try /etc/ssl/certs /etc/ssl/certs --ro-bind-try /etc/ca-certificates /etc/ca-certificates" +
		" --ro-bind-try /etc/os-release /etc/os-release --ro-bind-try /etc/terminfo /etc/terminfo" +
		" --ro-bind-try /etc/profile /etc/profile --proc /proc --dev /dev --tmpfs /tmp" +
		" --bind /var/tmp/d /var/tmp/d --hostname cell --chdir /var/tmp/d --clearenv --die-with-parent /bin/true"
	if got := strings.Join(bwrapArgs("bwrap", defaultNS, "/var/tmp/d", "/bin/true"), " "); got != want {
		t.Errorf("bwrapArgs:\n got %s\nwant %s", got, want)
	}
}

func TestNSFlagsString(t *testing.T) {
	for _, tt := range []struct {
		ns   nsFlags
		want string
	}{
		{0, "0"},
		{unix.CLONE_NEWPID, "CLONE_NEWPID"},
		{defaultNS, "CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWNET|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWCGROUP|CLONE_NEWTIME"},
	} {
		if got := tt.ns.String(); got != tt.want {
			t.Errorf("nsFlags(%#x).String() = %q, want %q", uint64(tt.ns), got, tt.want)
		}
	}
}
