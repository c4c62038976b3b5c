package sysctl

import "testing"

func TestNamespace(t *testing.T) {
	for _, tt := range []struct{ name, want string }{
		{"net.ipv4.ip_forward", "net"},
		{"net.core.somaxconn", "net"},
		{"kernel.shmmax", "ipc"},
		{"kernel.sem", "ipc"},
		{"fs.mqueue.msg_max", "ipc"},
		{"kernel.hostname", "uts"},
		{"kernel.panic", ""},
		{"vm.overcommit_memory", ""},
		{"fs.file-max", ""},
		{"kernel.shmmaxx", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Namespace(tt.name); got != tt.want {
				t.Errorf("Namespace(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
	if got := Path("net.ipv4.conf.all.forwarding"); got != "/proc/sys/net/ipv4/conf/all/forwarding" {
		t.Errorf("Path: %q", got)
	}
}
